// Request parsing (request.h): every field of the OpenAI chat and completions requests
// (and the llama-server fields this server takes) is either honoured, type-checked, or
// refused with a 400 naming it (README "Request fields"); unknown fields are ignored, as
// OpenAI's clients send extras. No body can make this throw.
#include "server/request.h"

#include <coolfusion/engine.h>

#include <algorithm>
#include <cstdint>

#include "fusion/methods/registry.h"
#include "server/chat_messages.h"
#include "server/json_fields.h"

namespace coolfusion::server {

namespace {

using nlohmann::json;

// llama.cpp's sampler chain: the OpenAI names and llama-server's.
bool ParseSampling(const json& j, SamplingOptions* s, ApiError* err) {
  return GetInt(j, "top_k", 0, 1 << 24, &s->top_k, err) &&
         GetFloat(j, "min_p", 0, 1, &s->min_p, err) &&
         GetFloat(j, "repeat_penalty", 1e-3, 10, &s->repeat_penalty, err) &&
         GetInt(j, "repeat_last_n", -1, 1 << 20, &s->repeat_last_n, err) &&
         GetFloat(j, "presence_penalty", -2, 2, &s->presence_penalty, err) &&
         GetFloat(j, "frequency_penalty", -2, 2, &s->frequency_penalty, err);
}

// A schema or grammar the sandbox could not take now (busy, missing) is the server's
// problem, 503; anything about the input is the client's, 400.
bool FailCompiling(ApiError* err, const Status& st, const std::string& param) {
  const bool server = st.code() == Status::Code::kUnavailable ||
                      st.code() == Status::Code::kResourceExhausted ||
                      st.code() == Status::Code::kInternal;
  Fail(err, st.message(), param, server ? 503 : 400);
  if (server) err->type = "server_error";
  return false;
}

// Untrusted schemas and grammars are compiled in the sandbox (engine.h), never here.
bool SchemaGrammar(const json& schema, const std::string& param, ApiRequest* out, ApiError* err) {
  if (!schema.is_object()) return Fail(err, "'" + param + "' must be a JSON schema object", param);
  Status st = JsonSchemaToGrammarIsolated(schema.dump(), &out->request.options.grammar);
  if (!st.ok()) return FailCompiling(err, st, param);
  out->grammar_param = param;
  return true;
}

// Structured output: response_format (OpenAI), grammar and json_schema (llama-server); one
// of them at most.
bool ParseFormat(const json& j, ApiRequest* out, ApiError* err) {
  int given = 0;
  for (const char* key : {"grammar", "json_schema"}) {
    if (!Present(j, key)) continue;
    if (++given > 1) return Fail(err, "give one of response_format, grammar, json_schema", key);
  }
  if (Present(j, "grammar")) {
    if (!j["grammar"].is_string() || j["grammar"].get<std::string>().empty())
      return Fail(err, "'grammar' must be a non-empty string (GBNF)", "grammar");
    out->request.options.grammar = j["grammar"];
    out->grammar_param = "grammar";
    Status st = CheckGrammarIsolated(out->request.options.grammar);
    if (!st.ok()) return FailCompiling(err, st, "grammar");
  }
  if (Present(j, "json_schema") && !SchemaGrammar(j["json_schema"], "json_schema", out, err))
    return false;
  if (!Present(j, "response_format")) return true;
  const json& rf = j["response_format"];
  if (!rf.is_object() || !rf.contains("type") || !rf["type"].is_string())
    return Fail(err, "'response_format' must be an object with a string 'type'", "response_format");
  const std::string type = rf["type"];
  if (type == "text") return true;
  if (type != "json_object" && type != "json_schema")
    return Fail(err, "'response_format.type' must be text, json_object or json_schema",
                "response_format.type");
  if (given > 0)
    return Fail(err, "give one of response_format, grammar, json_schema", "response_format");
  if (type == "json_object") {
    if (Present(rf, "schema"))  // llama-server's extension
      return SchemaGrammar(rf["schema"], "response_format.schema", out, err);
    out->request.options.grammar = JsonObjectGrammar();
    out->grammar_param = "response_format";
    return true;
  }
  if (!Present(rf, "json_schema") || !rf["json_schema"].is_object())
    return Fail(err, "'response_format.json_schema' must be an object with a 'schema'",
                "response_format.json_schema");
  const json& js = rf["json_schema"];
  for (const char* key : {"name", "description"}) {
    if (Present(js, key) && !js[key].is_string())
      return Fail(err, std::string("'response_format.json_schema.") + key + "' must be a string",
                  std::string("response_format.json_schema.") + key);
  }
  if (Present(js, "strict") && !js["strict"].is_boolean())
    return Fail(err, "'response_format.json_schema.strict' must be a boolean",
                "response_format.json_schema.strict");
  if (!Present(js, "schema"))
    return Fail(err, "'response_format.json_schema.schema' is required",
                "response_format.json_schema.schema");
  return SchemaGrammar(js["schema"], "response_format.json_schema.schema", out, err);
}

// A known field whose value would ask for something not built here: 400 naming it, unless
// the value asks for nothing (null, false, [], {}, the default).
struct Refusal {
  const char* key;
  bool (*no_op)(const json&);
  const char* why;
};

bool IsFalse(const json& v) { return v.is_boolean() && !v.get<bool>(); }
bool IsEmpty(const json& v) { return (v.is_array() || v.is_object()) && v.empty(); }
bool IsZero(const json& v) { return v.is_number() && v.get<double>() == 0; }
bool IsOne(const json& v) { return v.is_number() && v.get<double>() == 1; }
bool IsNone(const json& v) { return v.is_string() && v.get<std::string>() == "none"; }
bool IsTextOnly(const json& v) { return v.is_array() && v.size() == 1 && v[0] == "text"; }
bool IsAutoTier(const json& v) { return v.is_string() && (v == "auto" || v == "default"); }
bool IsEmptyText(const json& v) { return v.is_string() && v.get<std::string>().empty(); }

constexpr Refusal kRefused[] = {
    {"functions", IsEmpty, "functions (function calling) are not supported"},
    {"function_call", IsNone, "functions (function calling) are not supported"},
    {"top_logprobs", IsZero,
     "logprobs of generated tokens are not supported (a fused token has no one model's "
     "probability); /v1/completions scores a prompt with echo and logprobs"},
    {"logit_bias", IsEmpty,
     "logit_bias is not supported (token ids differ between the ensemble's tokenizers)"},
    {"audio", nullptr, "audio output is not supported"},
    {"modalities", IsTextOnly, "only the text modality is supported"},
    {"prediction", nullptr, "predicted outputs are not supported"},
    {"store", IsFalse, "stored completions are not supported"},
    {"metadata", IsEmpty, "metadata is for stored completions, which are not supported"},
    {"reasoning_effort", nullptr,
     "reasoning_effort is not supported (a thinking model thinks as its chat template says)"},
    {"web_search_options", nullptr, "web search is not supported"},
    {"service_tier", IsAutoTier, "only the default service tier exists here"},
    {"best_of", IsOne, "best_of > 1 is not supported"},
    {"suffix", IsEmptyText, "suffix (insertion) is not supported"},
    {"ignore_eos", IsFalse, "ignore_eos is not supported"},
    {"n_probs", IsZero, "n_probs (token probabilities) is not supported"},
    {"mirostat", IsZero, "mirostat sampling is not supported"},
    {"typical_p", IsOne, "typical_p sampling is not supported"},
};

bool RefuseUnsupported(const json& j, bool chat, ApiError* err) {
  for (const Refusal& r : kRefused) {
    if (!Present(j, r.key)) continue;
    if (r.no_op != nullptr && r.no_op(j[r.key])) continue;
    return Fail(err, std::string("'") + r.key + "': " + r.why, r.key);
  }
  if (Present(j, "user") && !j["user"].is_string())
    return Fail(err, "'user' must be a string", "user");
  if (!chat) {
    for (const char* key : {"tools", "tool_choice", "parallel_tool_calls"}) {
      if (Present(j, key))
        return Fail(err, std::string("'") + key + "' applies to chat completions", key);
    }
  }
  return true;
}

// tools, tool_choice, parallel_tool_calls (chat/tool_calls.h), read from the body again with
// its objects' keys in order (`j` sorts them), so that a tool's properties keep the
// client's order. The body parsed once already, its nesting bounded (json_fields.h).
bool ParseTools(std::string_view body, const json& j, ApiRequest* out, ApiError* err) {
  nlohmann::ordered_json ordered;
  if (Present(j, "tools") || Present(j, "tool_choice") || Present(j, "parallel_tool_calls"))
    ordered = nlohmann::ordered_json::parse(body, nullptr, false);
  const auto field = [&](const char* key) {
    return ordered.is_object() && ordered.contains(key) ? &ordered[key] : nullptr;
  };
  chat::ToolError te;
  if (!chat::ParseToolSet(field("tools"), field("tool_choice"), field("parallel_tool_calls"),
                          &out->tools, &te))
    return Fail(err, te.message, te.param);
  return true;
}

// The answer's grammar when tools are on (after ParseFormat: it is the only grammar).
bool ToolGrammar(ApiRequest* out, ApiError* err) {
  if (!out->tools.on()) return true;
  if (!out->grammar_param.empty())
    return Fail(err, "'tools' and '" + out->grammar_param + "' both constrain the answer: give one",
                out->grammar_param);
  int bad = -1;
  const Status st = chat::AnswerGrammar(out->tools, JsonSchemaToGrammarIsolated,
                                        &out->request.options.grammar, &bad);
  if (st.code() == Status::Code::kInvalidArgument) {
    // The converter names the field json_schema; here it is the one tool's parameters that
    // fail alone, or else the calls' grammar of all of them.
    std::string why = st.message();
    if (why.rfind("json_schema: ", 0) == 0) why.erase(0, 13);
    if (bad < 0) {
      return FailCompiling(err,
                           Status::InvalidArgument("'tools': the calls' grammar: " + why +
                                                   " (give fewer or smaller tools)"),
                           "tools");
    }
    const std::string param = "tools[" + std::to_string(bad) + "].function.parameters";
    return FailCompiling(err, Status::InvalidArgument("'" + param + "': " + why), param);
  }
  if (!st.ok()) return FailCompiling(err, st, "tools");
  out->grammar_param = "tools";
  return true;
}

// /v1/completions' prompt: a string, token ids, or an array of either (a batch).
bool ParsePrompts(const json& p, std::vector<PromptInput>* out, ApiError* err) {
  const char* const kShape =
      "'prompt' must be a string, an array of token ids, or an array of those";
  auto tokens = [&](const json& a, PromptInput* in) {
    if (a.empty()) return Fail(err, "'prompt' holds an empty list of token ids", "prompt");
    for (const json& t : a) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() > INT32_MAX)
        return Fail(err, "'prompt' token ids must be integers >= 0", "prompt");
      in->tokens.push_back((int32_t)t.get<int64_t>());
    }
    return true;
  };
  out->clear();
  if (p.is_string()) {
    out->push_back({p.get<std::string>(), {}});
    return true;
  }
  if (!p.is_array() || p.empty()) return Fail(err, kShape, "prompt");
  if (p[0].is_number()) {
    out->emplace_back();
    return tokens(p, &out->back());
  }
  if (p.size() > kMaxEchoPrompts)
    return Fail(err, "'prompt' holds more than " + std::to_string(kMaxEchoPrompts) + " prompts",
                "prompt");
  for (const json& x : p) {
    out->emplace_back();
    if (x.is_string()) {
      out->back().text = x.get<std::string>();
    } else if (x.is_array()) {
      if (!tokens(x, &out->back())) return false;
    } else {
      return Fail(err, kShape, "prompt");
    }
  }
  return true;
}

// echo and logprobs on /v1/completions: both, to score the prompt, or neither.
bool ParseEcho(const json& j, ApiRequest* out, ApiError* err) {
  if (!GetBool(j, "echo", &out->echo, err)) return false;
  const bool asked = Present(j, "logprobs") && !IsFalse(j["logprobs"]);
  if (asked) {
    if (!j["logprobs"].is_number_integer() || j["logprobs"].get<int64_t>() < 0 ||
        j["logprobs"].get<int64_t>() > kMaxLogprobs)
      return Fail(err,
                  "'logprobs' must be an integer in [0, " + std::to_string(kMaxLogprobs) +
                      "] (the top tokens to list at each position)",
                  "logprobs");
    out->logprobs = (int)j["logprobs"].get<int64_t>();
  }
  if (asked && !out->echo)
    return Fail(err,
                "'logprobs' needs 'echo': true: logprobs of generated tokens are not supported "
                "(a fused token has no one model's probability); echo scores the prompt",
                "logprobs");
  if (out->echo && !asked)
    return Fail(err, "'echo' needs 'logprobs' (echo here scores the prompt's tokens)", "echo");
  return true;
}

// What does not apply when echo scores the prompt: refused naming the field.
bool CheckEchoFields(const json& j, const ApiRequest& r, ApiError* err) {
  if (r.stream) return Fail(err, "'stream' is not supported with 'echo'", "stream");
  if (!r.grammar_param.empty())
    return Fail(err, "'" + r.grammar_param + "' does not apply to 'echo' (it scores the prompt)",
                r.grammar_param);
  if (!r.request.options.stop.empty())
    return Fail(err, "'stop' does not apply to 'echo' (it scores the prompt)", "stop");
  if (r.request.options.sampling.temperature > 0 && r.echo_new_tokens > 0)
    return Fail(err, "'temperature' must be 0 with 'echo': its one new token is the most likely",
                "temperature");
  if (Present(j, "coolfusion") && !IsEmpty(j["coolfusion"]))
    return Fail(err,
                "'coolfusion' options do not apply to 'echo': its logprobs are the models' "
                "weighted mean (docs/scoring.md)",
                "coolfusion");
  return true;
}

// The server's flags (Limits::defaults) are defaults for the methods that take them: a
// request that names a method without a gate, confidence weights, token healing or
// sampling gets that method's own behaviour instead of a 400 for a field it never sent;
// token healing is likewise left to the requests it can apply to (not chat, no grammar).
// What the request sets itself stays, and is refused below where the method cannot honour
// it. (The server's own method and flags were checked together at start.)
void DropDefaultsTheMethodCannotTake(const json& j, const MethodSpec& spec, bool chat,
                                     GenerateOptions* o) {
  const json* c =
      j.contains("coolfusion") && j["coolfusion"].is_object() ? &j["coolfusion"] : nullptr;
  auto sent = [&](const json* obj, const char* key) {
    return obj != nullptr && obj->contains(key) && !(*obj)[key].is_null();
  };
  const bool named = sent(c, "method");
  if (named && !sent(c, "gate") && spec.auto_gate < 0) o->peer.gate = 0;
  if (named && !sent(c, "confidence") && !spec.confidence && o->scoring.confidence == Switch::kOn)
    o->scoring.confidence = Switch::kDefault;
  if (!sent(c, "token_healing") && o->token_healing == Switch::kOn &&
      (chat || !o->grammar.empty() || (named && !spec.token_healing)))
    o->token_healing = Switch::kDefault;
  if (named && spec.greedy_only != nullptr) {
    SamplingOptions& so = o->sampling;
    if (!sent(&j, "temperature")) so.temperature = 0;
    if (!sent(&j, "repeat_penalty")) so.repeat_penalty = 1;
    if (!sent(&j, "presence_penalty")) so.presence_penalty = 0;
    if (!sent(&j, "frequency_penalty")) so.frequency_penalty = 0;
  }
}

}  // namespace

int FindModelId(const std::vector<std::string>& model_ids, const std::string& name) {
  // "coolfusion" names the ensemble whatever its --alias (the playground sends it).
  if (name == kEnsembleModelId) return 0;
  for (size_t i = 0; i < model_ids.size(); ++i) {
    if (model_ids[i] == name) return (int)i;
  }
  // A source model by its file name: "stories260K.gguf" for the id "stories260K".
  const std::string ext = ".gguf";
  if (name.size() > ext.size() && name.compare(name.size() - ext.size(), ext.size(), ext) == 0) {
    const std::string stem = name.substr(0, name.size() - ext.size());
    for (size_t i = 1; i < model_ids.size(); ++i) {
      if (model_ids[i] == stem) return (int)i;
    }
  }
  return -1;
}

std::string UnknownModelMessage(const std::vector<std::string>& model_ids,
                                const std::string& name) {
  std::string known;
  for (const std::string& id : model_ids) known += (known.empty() ? "" : ", ") + id;
  return "The model '" + name + "' does not exist; this server has: " +
         (known.empty() ? std::string(kEnsembleModelId) : known);
}

bool ParseRequest(std::string_view body, bool chat, const Limits& limits,
                  const std::vector<std::string>& model_ids, ApiRequest* out, ApiError* err) {
  json j;
  if (!ParseJsonObject(body, &j, err)) return false;
  *out = ApiRequest();
  out->chat = chat;
  GenerateOptions& o = out->request.options;
  o = limits.defaults;
  o.grammar.clear();
  o.only_model = -1;

  // model: optional; the ensemble by default, or one source model.
  out->model = model_ids.empty() ? kEnsembleModelId : model_ids[0];
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) return Fail(err, "'model' must be a string", "model");
    const std::string asked = j["model"].get<std::string>();
    const int i = FindModelId(model_ids, asked);
    if (i < 0)
      return Fail(err, UnknownModelMessage(model_ids, asked), "model", 404, "model_not_found");
    // The ensemble as asked (its alias or "coolfusion"); a source model by its id.
    out->model = i > 0 ? model_ids[i] : asked;
    if (i > 0) o.only_model = i - 1;
  }

  if (chat) {
    if (Present(j, "logprobs") && !IsFalse(j["logprobs"]))
      return Fail(err,
                  "'logprobs' are not supported on chat completions (a fused token has no one "
                  "model's probability); /v1/completions scores a prompt with echo and logprobs",
                  "logprobs");
    if (Present(j, "echo") && !IsFalse(j["echo"]))
      return Fail(err, "'echo' is a /v1/completions field", "echo");
    if (Present(j, "reasoning_format") &&
        (!j["reasoning_format"].is_string() ||
         !ParseReasoningFormat(j["reasoning_format"].get<std::string>(), &out->reasoning_format)))
      return Fail(err, "'reasoning_format' must be none, deepseek, deepseek-legacy or auto",
                  "reasoning_format");
    if (Present(j, "chat_template_kwargs") && !IsEmpty(j["chat_template_kwargs"]))
      return Fail(err,
                  "'chat_template_kwargs' is not supported (no template variables are "
                  "passed)",
                  "chat_template_kwargs");
    if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
      return Fail(err, "'messages' must be a non-empty array", "messages");
    }
    if (j["messages"].size() > limits.max_messages)
      return Fail(err, "too many messages", "messages");
    if (!ParseTools(body, j, out, err)) return false;
    if (!ParseChatMessages(j["messages"], out->tools, &out->request.messages, err)) return false;
  } else {
    if (!j.contains("prompt")) return Fail(err, "'prompt' is required", "prompt");
    if (Present(j, "reasoning_format"))
      return Fail(err, "'reasoning_format' applies to chat completions", "reasoning_format");
    if (!ParsePrompts(j["prompt"], &out->prompts, err)) return false;
    if (!ParseEcho(j, out, err)) return false;
    if (out->prompts.size() > 1 && !out->echo)
      return Fail(err,
                  "'prompt' holds " + std::to_string(out->prompts.size()) +
                      " prompts: a generation takes one (batches are scored with echo)",
                  "prompt");
    out->request.prompt = out->prompts[0].text;
  }

  // The answer's length: OpenAI's two names and llama-server's n_predict (where -1 means
  // "no limit": here the server's --max-tokens). Each one given is checked; two that
  // disagree are refused rather than one silently winning. None given: the server's
  // default (limits.default_max_tokens).
  // With echo, 0 (the default there) or 1.
  int max_new = out->echo ? 0 : limits.default_max_tokens;
  const char* max_from = nullptr;
  for (const char* key : {"max_completion_tokens", "max_tokens", "n_predict"}) {
    if (!Present(j, key)) continue;
    int n = 0;
    const bool n_predict = std::string_view(key) == "n_predict";
    if (out->echo) {
      if (!GetInt(j, key, 0, 1, &n, err)) {
        err->message = std::string("'") + key +
                       "' must be 0 or 1 with 'echo': echo scores the prompt and generates at "
                       "most one token";
        return false;
      }
    } else if (n_predict && j[key] == -1) {
      n = limits.max_tokens;
    } else if (!GetInt(j, key, 1, limits.max_tokens, &n, err)) {
      if (n_predict)
        err->message = "'n_predict' must be -1 (no limit) or an integer in [1, " +
                       std::to_string(limits.max_tokens) + "]";
      return false;
    }
    if (max_from != nullptr && n != max_new)
      return Fail(err, std::string("'") + max_from + "' and '" + key + "' disagree: give one", key);
    max_new = n;
    max_from = key;
  }
  o.max_new_tokens = std::max(max_new, 1);
  out->echo_new_tokens = out->echo ? max_new : 0;

  if (!ParseSampling(j, &o.sampling, err)) return false;
  if (!ParseFormat(j, out, err)) return false;
  if (!ToolGrammar(out, err)) return false;
  if (!RefuseUnsupported(j, chat, err)) return false;

  double t = o.sampling.temperature;
  if (!GetNumber(j, "temperature", 0, 2, &t, err)) return false;
  o.sampling.temperature = (float)t;
  double top_p = o.sampling.top_p;
  if (!GetNumber(j, "top_p", 1e-9, 1, &top_p, err)) return false;
  o.sampling.top_p = (float)top_p;
  double seed = o.sampling.seed;
  if (Present(j, "seed") && !j["seed"].is_number_integer())
    return Fail(err, "'seed' must be an integer", "seed");
  if (!GetNumber(j, "seed", 0, 4294967295.0, &seed, err)) return false;
  o.sampling.seed = (uint32_t)seed;
  if (j.contains("n") && !j["n"].is_null() && j["n"] != 1)
    return Fail(err, "only n = 1 is supported", "n");

  if (j.contains("stop") && !j["stop"].is_null()) {
    o.stop.clear();  // the request's stop strings replace serve's --stop
    const json& s = j["stop"];
    if (s.is_string()) {
      o.stop.push_back(s);
    } else if (s.is_array() && s.size() <= 16) {
      for (const auto& x : s) {
        if (!x.is_string())
          return Fail(err, "'stop' must be a string or an array of strings", "stop");
        o.stop.push_back(x);
      }
    } else {
      return Fail(err, "'stop' must be a string or an array of up to 16 strings", "stop");
    }
    for (const auto& x : o.stop) {
      if (x.empty()) return Fail(err, "stop strings must not be empty", "stop");
    }
  }

  if (!GetBool(j, "stream", &out->stream, err)) return false;
  if (Present(j, "stream_options")) {
    const json& so = j["stream_options"];
    if (!so.is_object()) return Fail(err, "'stream_options' must be an object", "stream_options");
    if (so.contains("include_usage") && !so["include_usage"].is_null()) {
      if (!so["include_usage"].is_boolean())
        return Fail(err, "'stream_options.include_usage' must be a boolean",
                    "stream_options.include_usage");
      out->include_usage = so["include_usage"];
    }
  }
  // llama-server's field: reuse this slot's KV cache for the prompt's common prefix.
  if (!GetBool(j, "cache_prompt", &o.cache_prompt, err)) return false;

  if (j.contains("coolfusion") && !j["coolfusion"].is_null()) {
    const json& c = j["coolfusion"];
    if (!c.is_object()) return Fail(err, "'coolfusion' must be an object", "coolfusion");
    // Our own object: a key this server does not know is refused, not ignored.
    static const char* const kKnown[] = {
        "method",     "gate",          "score",       "prompt_weights",  "word_end", "per_word",
        "confidence", "token_healing", "prompt_temp", "prompt_evidence", "sit_out",  "trace"};
    for (const auto& item : c.items()) {
      const std::string& key = item.key();
      if (std::find(std::begin(kKnown), std::end(kKnown), key) != std::end(kKnown)) continue;
      if (key == "calibrate")
        return Fail(err,
                    "'coolfusion.calibrate' is not a request option: the server measures the "
                    "weights once at start (serve --calibrate FILE)",
                    "coolfusion.calibrate");
      std::string known;
      for (const char* k : kKnown) known += std::string(known.empty() ? "" : ", ") + k;
      return Fail(err, "'coolfusion." + key + "' is not a coolfusion option (" + known + ")",
                  "coolfusion." + key);
    }
    if (c.contains("method")) {
      if (!c["method"].is_string() || !IsMethod(c["method"].get<std::string>())) {
        return Fail(err, "'coolfusion.method' must be one of " + MethodList(), "coolfusion.method");
      }
      o.method = c["method"].get<std::string>();
    }
    // The gate of gac and cool (the engine checks the same range, and refuses it for a
    // method without one; here it is a 400 naming the field).
    if (c.contains("gate")) {
      if (!c["gate"].is_number() || !(c["gate"].get<double>() > 0 && c["gate"].get<double>() <= 1))
        return Fail(err, "'coolfusion.gate' must be a number in (0, 1]", "coolfusion.gate");
      o.peer.gate = c["gate"].get<double>();
    }
    if (c.contains("score")) {
      if (!c["score"].is_string() ||
          !ParseScoreRule(c["score"].get<std::string>(), &o.scoring.rule)) {
        return Fail(err, "'coolfusion.score' must be one of auto, mean, geomean, sweetspan, median",
                    "coolfusion.score");
      }
    }
    for (const auto& [key, sw] :
         {std::pair<const char*, Switch*>{"prompt_weights", &o.scoring.prompt_weights},
          {"word_end", &o.scoring.word_end},
          {"per_word", &o.scoring.per_word},
          {"confidence", &o.scoring.confidence},
          {"token_healing", &o.token_healing}}) {
      if (!c.contains(key)) continue;
      const std::string param = std::string("coolfusion.") + key;
      if (!c[key].is_boolean()) return Fail(err, "'" + param + "' must be a boolean", param);
      *sw = c[key].get<bool>() ? Switch::kOn : Switch::kOff;
    }
    if (c.contains("prompt_temp")) {
      if (!c["prompt_temp"].is_number() || !(c["prompt_temp"].get<double>() > 0))
        return Fail(err, "'coolfusion.prompt_temp' must be a number > 0 (bits per byte)",
                    "coolfusion.prompt_temp");
      o.scoring.prompt_temp = c["prompt_temp"].get<double>();
    }
    if (c.contains("prompt_evidence")) {
      if (!c["prompt_evidence"].is_number() ||
          !(c["prompt_evidence"].get<double>() >= 0 && c["prompt_evidence"].get<double>() <= 1000))
        return Fail(err, "'coolfusion.prompt_evidence' must be a number in [0, 1000]",
                    "coolfusion.prompt_evidence");
      o.scoring.prompt_evidence = c["prompt_evidence"].get<double>();
    }
    if (c.contains("sit_out")) {
      if (!c["sit_out"].is_number() ||
          !(c["sit_out"].get<double>() >= 0 && c["sit_out"].get<double>() < 1))
        return Fail(err, "'coolfusion.sit_out' must be a number in [0, 1)", "coolfusion.sit_out");
      o.scoring.sit_out = c["sit_out"].get<double>();
    }
    if (c.contains("trace")) {
      if (!c["trace"].is_boolean())
        return Fail(err, "'coolfusion.trace' must be a boolean", "coolfusion.trace");
      out->trace = c["trace"];
    }
  }
  if (out->echo && !CheckEchoFields(j, *out, err)) return false;
  const MethodSpec* spec = FindMethod(o.method);  // null: the engine's own error
  if (spec != nullptr) DropDefaultsTheMethodCannotTake(j, *spec, chat, &o);
  // What a method cannot honour is refused naming the field (the method table's rule, as
  // the engine applies it).
  const Unhonoured u = spec == nullptr ? Unhonoured::kNone : FirstUnhonoured(*spec, o);
  const std::string method = std::string("coolfusion.method ") + MethodName(o.method);
  switch (u) {
    case Unhonoured::kNone: break;
    case Unhonoured::kGrammar:
      return Fail(err,
                  "'" + out->grammar_param + "' cannot be used with " + method + " (" +
                      spec->no_grammar + "); use " + MethodsFollowingGrammar(),
                  out->grammar_param);
    case Unhonoured::kTemperature:
      return Fail(err, "'temperature' must be 0 with " + method + " (it is greedy)", "temperature");
    case Unhonoured::kFrequencyPenalty:
    case Unhonoured::kPresencePenalty:
    case Unhonoured::kRepeatPenalty: {
      const char* key = u == Unhonoured::kFrequencyPenalty  ? "frequency_penalty"
                        : u == Unhonoured::kPresencePenalty ? "presence_penalty"
                                                            : "repeat_penalty";
      return Fail(err, std::string("'") + key + "' is not applied by " + method + "; leave it out",
                  key);
    }
    case Unhonoured::kGate:
      return Fail(err,
                  "'coolfusion.gate' cannot be used with " + method + " (it has no gate); " +
                      MethodsWithGate() + " have one",
                  "coolfusion.gate");
    case Unhonoured::kConfidence:
      return Fail(err,
                  "'coolfusion.confidence' cannot be used with " + method +
                      " (it does not weigh the models by their confidence); " +
                      MethodsWithConfidence() + " do",
                  "coolfusion.confidence");
  }
  // Token healing asked for where it cannot apply (the engine's rule, here naming the field).
  if (o.token_healing == Switch::kOn && o.only_model < 0 && spec != nullptr) {
    const char* why = out->chat              ? "chat messages (a chat template ends where its "
                                               "model answers)"
                      : !o.grammar.empty()   ? "a grammar"
                      : !spec->token_healing ? "this method (it reads the models' tokens itself)"
                                             : nullptr;
    if (why != nullptr)
      return Fail(
          err,
          std::string("'coolfusion.token_healing' does not apply to ") + why + " (" + method + ")",
          "coolfusion.token_healing");
  }
  return true;
}

}  // namespace coolfusion::server
