#include "server/openai.h"

#include <cmath>

#include "base/utf8.h"

namespace coolfusion::server {

namespace {

using nlohmann::json;

bool Fail(ApiError* err, std::string message, std::string param = "", int status = 400,
          std::string code = "") {
  err->status = status;
  err->type = status == 404 ? "invalid_request_error" : "invalid_request_error";
  err->message = std::move(message);
  err->param = std::move(param);
  err->code = std::move(code);
  return false;
}

std::string Safe(const std::string& s) { return ToValidUtf8(s); }  // JSON needs valid UTF-8

json Num(double x) {
  if (std::isnan(x) || std::isinf(x)) return nullptr;
  return x;
}

bool GetNumber(const json& j, const char* key, double lo, double hi, double* out, ApiError* err) {
  if (!j.contains(key) || j[key].is_null()) return true;
  if (!j[key].is_number()) return Fail(err, std::string("'") + key + "' must be a number", key);
  const double v = j[key].get<double>();
  if (!(v >= lo && v <= hi)) {
    return Fail(
        err,
        std::string("'") + key + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "]",
        key);
  }
  *out = v;
  return true;
}

}  // namespace

bool ParseRequest(std::string_view body, bool chat, const Limits& limits,
                  const std::vector<std::string>& model_ids, ApiRequest* out, ApiError* err) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Fail(err, "the request body is not valid JSON");
  if (!j.is_object()) return Fail(err, "the request body must be a JSON object");
  *out = ApiRequest();
  out->chat = chat;
  GenerateOptions& o = out->request.options;

  // model: optional; the ensemble by default, or one source model.
  out->model = kEnsembleModelId;
  if (j.contains("model") && !j["model"].is_null()) {
    if (!j["model"].is_string()) return Fail(err, "'model' must be a string", "model");
    out->model = j["model"].get<std::string>();
    size_t i = 0;
    while (i < model_ids.size() && model_ids[i] != out->model) ++i;
    if (i == model_ids.size()) {
      return Fail(err, "The model '" + out->model + "' does not exist", "model", 404,
                  "model_not_found");
    }
    if (i > 0) o.only_model = (int)i - 1;
  }

  if (chat) {
    if (!j.contains("messages") || !j["messages"].is_array() || j["messages"].empty()) {
      return Fail(err, "'messages' must be a non-empty array", "messages");
    }
    if (j["messages"].size() > limits.max_messages)
      return Fail(err, "too many messages", "messages");
    for (const auto& m : j["messages"]) {
      if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
        return Fail(err, "each message needs a string 'role'", "messages");
      }
      const std::string role = m["role"];
      if (role != "system" && role != "user" && role != "assistant" && role != "developer" &&
          role != "tool") {
        return Fail(err, "unknown message role '" + role + "'", "messages");
      }
      std::string content;
      if (m.contains("content") && m["content"].is_string()) {
        content = m["content"];
      } else if (m.contains("content") && m["content"].is_array()) {
        // [{"type": "text", "text": "..."}]: text parts only.
        for (const auto& part : m["content"]) {
          // Each check before the next: a wrongly typed "type" is a 400, not an exception.
          if (!part.is_object() || !part.contains("type") || !part["type"].is_string() ||
              part["type"] != "text" || !part.contains("text") || !part["text"].is_string()) {
            return Fail(err, "only text content parts are supported", "messages");
          }
          content += part["text"].get<std::string>();
        }
      } else if (!(m.contains("content") && m["content"].is_null())) {
        return Fail(err, "each message needs a string 'content'", "messages");
      }
      out->request.messages.push_back({role == "developer" ? "system" : role, content});
    }
  } else {
    if (!j.contains("prompt")) return Fail(err, "'prompt' is required", "prompt");
    const json& p = j["prompt"];
    if (p.is_string()) {
      out->request.prompt = p;
    } else if (p.is_array() && p.size() == 1 && p[0].is_string()) {
      out->request.prompt = p[0];
    } else {
      return Fail(err, "'prompt' must be a string (or an array of one string)", "prompt");
    }
  }

  double v = limits.default_max_tokens;
  const char* max_key =
      j.contains("max_completion_tokens") ? "max_completion_tokens" : "max_tokens";
  if (j.contains(max_key) && !j[max_key].is_null() && !j[max_key].is_number_integer()) {
    return Fail(err, std::string("'") + max_key + "' must be an integer", max_key);
  }
  if (!GetNumber(j, max_key, 1, limits.max_tokens, &v, err)) return false;
  o.max_new_tokens = (int)v;

  double t = 0;
  if (!GetNumber(j, "temperature", 0, 2, &t, err)) return false;
  o.sampling.temperature = (float)t;
  double top_p = 1;
  if (!GetNumber(j, "top_p", 1e-9, 1, &top_p, err)) return false;
  o.sampling.top_p = (float)top_p;
  double seed = 0;
  if (!GetNumber(j, "seed", 0, 4294967295.0, &seed, err)) return false;
  o.sampling.seed = (uint32_t)seed;
  if (j.contains("n") && !j["n"].is_null() && j["n"] != 1)
    return Fail(err, "only n = 1 is supported", "n");

  if (j.contains("stop") && !j["stop"].is_null()) {
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

  if (j.contains("stream") && !j["stream"].is_null()) {
    if (!j["stream"].is_boolean()) return Fail(err, "'stream' must be a boolean", "stream");
    out->stream = j["stream"];
  }
  if (j.contains("stream_options") && j["stream_options"].is_object()) {
    const json& so = j["stream_options"];
    if (so.contains("include_usage") && !so["include_usage"].is_null()) {
      if (!so["include_usage"].is_boolean())
        return Fail(err, "'stream_options.include_usage' must be a boolean",
                    "stream_options.include_usage");
      out->include_usage = so["include_usage"];
    }
  }
  // llama-server's field: reuse this slot's KV cache for the prompt's common prefix.
  if (j.contains("cache_prompt") && !j["cache_prompt"].is_null()) {
    if (!j["cache_prompt"].is_boolean())
      return Fail(err, "'cache_prompt' must be a boolean", "cache_prompt");
    o.cache_prompt = j["cache_prompt"];
  }

  if (j.contains("coolfusion") && !j["coolfusion"].is_null()) {
    const json& c = j["coolfusion"];
    if (!c.is_object()) return Fail(err, "'coolfusion' must be an object", "coolfusion");
    if (c.contains("method")) {
      if (!c["method"].is_string() || !ParseMethod(c["method"].get<std::string>(), &o.method)) {
        return Fail(
            err, "'coolfusion.method' must be one of cool, cool-shortest, rerank, cool+r, single",
            "coolfusion.method");
      }
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
          {"word_end", &o.scoring.word_end}}) {
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
  return true;
}

std::string ErrorBody(const ApiError& e) {
  json j = {{"error",
             {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
  return j.dump();
}

ApiError ErrorFromStatus(const Status& s) {
  ApiError e;
  e.message = s.message();
  switch (s.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kUnsupported: e.status = 400; break;
    case Status::Code::kResourceExhausted:
      e.status = 429;
      e.type = "rate_limit_error";
      e.code = "server_busy";
      break;
    case Status::Code::kDeadlineExceeded:  // waited too long for a free slot
      e.status = 429;
      e.type = "rate_limit_error";
      e.code = "server_busy";
      break;
    case Status::Code::kCancelled: e.status = 499; break;
    case Status::Code::kUnavailable:  // an RPC worker this request needs failed
      e.status = 503;
      e.type = "server_error";
      e.code = "worker_unavailable";
      break;
    default:
      e.status = 500;
      e.type = "server_error";
      break;
  }
  return e;
}

const char* FinishReason(StopReason r) {
  switch (r) {
    case StopReason::kMaxTokens:
    case StopReason::kContextFull: return "length";
    default: return "stop";
  }
}

nlohmann::json SegmentTrace(const Segment& s, const std::vector<std::string>& model_ids) {
  json cands = json::array();
  for (const Candidate& c : s.candidates) {
    json ppl = json::array();
    for (double p : c.ppl) ppl.push_back(Num(p));
    cands.push_back({{"text", Safe(c.text)},
                     {"writers", c.writers},
                     {"ppl", ppl},
                     {"score", Num(c.score)},
                     {"ends_generation", c.ends_generation}});
  }
  return {
      {"text", Safe(s.text)},
      {"winner", s.winner},
      {"winner_model",
       s.winner >= 0 && s.winner + 1 < (int)model_ids.size() ? model_ids[s.winner + 1] : "fused"},
      {"candidates", cands}};
}

nlohmann::json ModelWeights(const ApiRequest& r, const GenerationResult& g,
                            const std::vector<std::string>& model_ids) {
  json models = json::array();
  for (size_t v = 0; v < g.models.size(); ++v) {
    const ModelReport& m = g.models[v];
    models.push_back({{"model", v + 1 < model_ids.size() ? model_ids[v + 1] : std::to_string(v)},
                      {"prompt_bits_per_byte", Num(m.prompt_bits_per_byte)},
                      {"weight", m.weight},
                      {"sat_out", m.sat_out},
                      {"active", m.active}});
  }
  return {{"score", ScoreRuleName(r.request.options.scoring.rule)},
          {"prompt_weights", UsesPromptWeights(r.request.options.scoring)},
          {"models", models}};
}

nlohmann::json CompletionBody(const ApiRequest& r, const GenerationResult& g, const std::string& id,
                              int64_t created, const std::vector<std::string>& model_ids) {
  json choice = {
      {"index", 0}, {"finish_reason", FinishReason(g.stop_reason)}, {"logprobs", nullptr}};
  if (r.chat) {
    choice["message"] = {{"role", "assistant"}, {"content", Safe(g.text)}};
  } else {
    choice["text"] = Safe(g.text);
  }
  json j = {{"id", id},
            {"object", r.chat ? "chat.completion" : "text_completion"},
            {"created", created},
            {"model", r.model},
            {"choices", json::array({choice})},
            {"usage", Usage(g)},
            {"timings", TimingsBody(g)}};
  if (!g.models.empty()) j["coolfusion"] = ModelWeights(r, g, model_ids);
  if (r.trace) {
    json segs = json::array();
    for (const Segment& s : g.segments) segs.push_back(SegmentTrace(s, model_ids));
    j["coolfusion"]["segments"] = segs;
    j["coolfusion"]["stop_reason"] = StopReasonName(g.stop_reason);
    j["coolfusion"]["warnings"] = g.warnings;
  }
  return j;
}

nlohmann::json ChunkBody(const ApiRequest& r, const std::string& id, int64_t created,
                         std::string_view delta, bool first, const char* finish_reason,
                         const Segment* trace, const std::vector<std::string>& model_ids) {
  json choice = {{"index", 0},
                 {"finish_reason", finish_reason ? json(finish_reason) : json(nullptr)},
                 {"logprobs", nullptr}};
  const std::string text = Safe(std::string(delta));
  if (r.chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!text.empty() || (!first && !finish_reason)) d["content"] = text;
    choice["delta"] = d;
  } else {
    choice["text"] = text;
  }
  json j = {{"id", id},
            {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
            {"created", created},
            {"model", r.model},
            {"choices", json::array({choice})}};
  if (trace != nullptr && r.trace) j["coolfusion"] = {{"segment", SegmentTrace(*trace, model_ids)}};
  return j;
}

nlohmann::json UsageChunk(const ApiRequest& r, const std::string& id, int64_t created,
                          const GenerationResult& g) {
  return {{"id", id},
          {"object", r.chat ? "chat.completion.chunk" : "text_completion"},
          {"created", created},
          {"model", r.model},
          {"choices", json::array()},
          {"usage", Usage(g)}};
}

nlohmann::json Usage(const GenerationResult& g) {
  return {{"prompt_tokens", g.n_prompt_tokens},
          {"completion_tokens", g.n_new_tokens},
          {"total_tokens", g.n_prompt_tokens + g.n_new_tokens},
          {"prompt_tokens_details", {{"cached_tokens", g.n_cached_tokens}}}};
}

nlohmann::json TimingsBody(const GenerationResult& g) {
  const double predicted_ms = std::max(0.0, g.timings.total_ms - g.timings.prompt_ms);
  const int prompt_n = g.n_prompt_tokens - g.n_cached_tokens;
  return {
      {"cache_n", g.n_cached_tokens},
      {"prompt_n", prompt_n},
      {"prompt_ms", g.timings.prompt_ms},
      {"prompt_per_second",
       g.timings.prompt_ms > 0 ? prompt_n * 1000.0 / g.timings.prompt_ms : 0.0},
      {"predicted_n", g.n_new_tokens},
      {"predicted_ms", predicted_ms},
      {"predicted_per_second", predicted_ms > 0 ? g.n_new_tokens * 1000.0 / predicted_ms : 0.0}};
}

nlohmann::json ModelsBody(const std::vector<std::string>& model_ids,
                          const std::vector<std::string>& paths) {
  json data = json::array();
  json members = json::array();
  for (size_t i = 1; i < model_ids.size(); ++i) members.push_back(model_ids[i]);
  data.push_back({{"id", model_ids[0]},
                  {"object", "model"},
                  {"created", 0},
                  {"owned_by", "coolfusion"},
                  {"coolfusion", {{"fused", true}, {"members", members}}}});
  for (size_t i = 1; i < model_ids.size(); ++i) {
    data.push_back({{"id", model_ids[i]},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "coolfusion"},
                    {"coolfusion", {{"fused", false}, {"path", paths[i - 1]}}}});
  }
  return {{"object", "list"}, {"data", data}};
}

}  // namespace coolfusion::server
