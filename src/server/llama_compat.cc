#include "server/llama_compat.h"

#include <algorithm>
#include <cstdio>

#include "base/utf8.h"
#include "fusion/methods/registry.h"
#include "server/http_framing.h"
#include "server/json_fields.h"

namespace coolfusion::server {

namespace {

using nlohmann::json;

bool ValidUtf8(const std::string& s) { return ToValidUtf8(s) == s; }

}  // namespace

std::string LoadingBody() {
  return json{
      {"error", {{"code", 503}, {"message", "Loading model"}, {"type", "unavailable_error"}}}}
      .dump();
}

bool SelectSourceModel(const json& body, const std::vector<std::string>& model_ids, size_t* index,
                       ApiError* err) {
  *index = 0;
  if (!Present(body, "model")) return true;
  if (!body["model"].is_string()) return Fail(err, "'model' must be a string", "model");
  const std::string name = body["model"];
  const int i = FindModelId(model_ids, name);
  if (i < 0)
    return Fail(err, UnknownModelMessage(model_ids, name), "model", 404, "model_not_found");
  if (i > 0) *index = (size_t)i - 1;
  return true;
}

bool ParseTokenize(std::string_view body, const std::vector<std::string>& model_ids,
                   TokenizeRequest* out, ApiError* err) {
  json j;
  if (!ParseJsonObject(body, &j, err)) return false;
  *out = TokenizeRequest();
  if (!SelectSourceModel(j, model_ids, &out->model, err)) return false;
  if (Present(j, "content") && Present(j, "prompt"))
    return Fail(err, "give 'content' or 'prompt' (vLLM's name), not both", "prompt");
  for (const char* key : {"content", "prompt"}) {
    if (!Present(j, key)) continue;
    if (!j[key].is_string())
      return Fail(err, std::string("'") + key + "' must be a string (the text to tokenize)", key);
    out->content = j[key];
  }
  bool add_special = false, add_special_tokens = false, parse_special = true;
  if (!GetBool(j, "with_pieces", &out->with_pieces, err) ||
      !GetBool(j, "add_special", &add_special, err) ||
      !GetBool(j, "add_special_tokens", &add_special_tokens, err) ||
      !GetBool(j, "parse_special", &parse_special, err))
    return false;
  for (const auto& [key, on] : {std::pair<const char*, bool>{"add_special", add_special},
                                {"add_special_tokens", add_special_tokens}}) {
    if (on)
      return Fail(
          err, std::string("'") + key + "': true is not supported (tokens come without BOS)", key);
  }
  return true;
}

json TokenizeBody(const std::vector<int32_t>& tokens, bool with_pieces,
                  const std::vector<std::string>& pieces) {
  json list = json::array();
  for (int32_t t : tokens) {
    if (!with_pieces) {
      list.push_back(t);
      continue;
    }
    const std::string& p = t >= 0 && (size_t)t < pieces.size() ? pieces[t] : std::string();
    json piece;
    if (ValidUtf8(p)) {
      piece = p;
    } else {
      piece = json::array();
      for (unsigned char c : p) piece.push_back((int)c);
    }
    list.push_back({{"id", t}, {"piece", piece}});
  }
  return {{"tokens", list}};
}

bool ParseDetokenize(std::string_view body, const std::vector<std::string>& model_ids,
                     const std::vector<int32_t>& n_vocab, DetokenizeRequest* out, ApiError* err) {
  json j;
  if (!ParseJsonObject(body, &j, err)) return false;
  *out = DetokenizeRequest();
  if (!SelectSourceModel(j, model_ids, &out->model, err)) return false;
  if (!Present(j, "tokens")) return true;
  if (!j["tokens"].is_array()) return Fail(err, "'tokens' must be an array of token ids", "tokens");
  const int32_t n = out->model < n_vocab.size() ? n_vocab[out->model] : 0;
  for (const json& t : j["tokens"]) {
    if (!t.is_number_integer())
      return Fail(err, "'tokens' must be an array of integer token ids", "tokens");
    const int64_t id = t.get<int64_t>();
    if (id < 0 || id >= n) {
      return Fail(err,
                  "'tokens': " + std::to_string(id) + " is not a token id of model '" +
                      model_ids[out->model + 1] + "' (0.." + std::to_string(n - 1) + ")",
                  "tokens");
    }
    out->tokens.push_back((int32_t)id);
  }
  return true;
}

json DetokenizeBody(const std::vector<int32_t>& tokens, const std::vector<std::string>& pieces) {
  std::string text;
  for (int32_t t : tokens) {
    if (t >= 0 && (size_t)t < pieces.size()) text += pieces[t];
  }
  const std::string valid = ToValidUtf8(text);
  return {{"content", valid}, {"prompt", valid}};
}

json TokenizerInfoBody(const SourceModel& m) {
  auto text = [](const std::string& s) { return s.empty() ? json(nullptr) : json(s); };
  return {{"eos_token", text(m.eos_token)},
          {"bos_token", text(m.bos_token)},
          {"pad_token", nullptr},
          {"model_max_length", m.n_ctx},
          {"tokenizer_class", m.tokenizer}};
}

bool CheckTextFitsContext(size_t bytes, const SourceModel& m, size_t max_piece_bytes,
                          const std::string& field, ApiError* err) {
  if (m.n_ctx <= 0 || bytes <= (size_t)m.n_ctx * std::max<size_t>(max_piece_bytes, 1)) return true;
  return Fail(err,
              "'" + field + "' is " + std::to_string(bytes) + " bytes, more than " + m.id +
                  "'s context of " + std::to_string(m.n_ctx) +
                  " tokens can hold (its longest token is " + std::to_string(max_piece_bytes) +
                  " bytes)",
              field, 400, "context_length_exceeded");
}

bool CheckTokensFitContext(size_t n_tokens, const SourceModel& m, const std::string& field,
                           ApiError* err) {
  if (m.n_ctx <= 0 || n_tokens <= (size_t)m.n_ctx) return true;
  return Fail(err,
              "'" + field + "' is " + std::to_string(n_tokens) + " tokens, more than " + m.id +
                  "'s context of " + std::to_string(m.n_ctx) + " tokens",
              field, 400, "context_length_exceeded");
}

const char* StopType(StopReason r) {
  switch (r) {
    case StopReason::kEndOfGeneration: return "eos";
    case StopReason::kStopString: return "word";
    case StopReason::kMaxTokens:
    case StopReason::kContextFull: return "limit";
    default: return "none";
  }
}

namespace {
// The coolfusion object's settings as the request (or the server's defaults) resolve them.
json CoolfusionParams(const GenerateOptions& o) {
  const MethodSpec* spec = FindMethod(o.method);
  const ScoringOptions& s = o.scoring;
  return {
      {"method", MethodName(o.method)},
      {"gate", spec != nullptr ? GateOf(*spec, o) : 1.0},
      {"score", ScoreRuleName(s.rule)},
      {"prompt_weights", UsesPromptWeights(s)},
      {"word_end", UsesWordEnds(s)},
      {"per_word", UsesPerWord(s)},
      {"confidence", spec != nullptr && spec->confidence && UsesConfidence(s)},
      {"token_healing",
       o.token_healing == Switch::kDefault ? json("auto") : json(o.token_healing == Switch::kOn)},
      {"prompt_temp", s.prompt_temp},
      {"prompt_evidence", s.prompt_evidence},
      {"sit_out", s.sit_out}};
}
}  // namespace

json GenerationParams(const ApiRequest& r) {
  const GenerateOptions& o = r.request.options;
  const SamplingOptions& s = o.sampling;
  json stop = json::array();
  for (const auto& x : o.stop) stop.push_back(ToValidUtf8(x));
  return {{"n_predict", o.max_new_tokens},
          {"seed", s.seed},
          {"temperature", s.temperature},
          {"top_k", s.top_k},
          {"top_p", s.top_p},
          {"min_p", s.min_p},
          {"repeat_last_n", s.repeat_last_n},
          {"repeat_penalty", s.repeat_penalty},
          {"presence_penalty", s.presence_penalty},
          {"frequency_penalty", s.frequency_penalty},
          {"stop", stop},
          {"max_tokens", o.max_new_tokens},
          {"stream", r.stream},
          {"cache_prompt", o.cache_prompt},
          {"grammar", o.grammar},
          {"samplers", json::array({"penalties", "top_k", "top_p", "min_p", "temperature"})},
          {"coolfusion", CoolfusionParams(o)}};
}

json NativeCompletionBody(const ApiRequest& r, const GenerationResult& g, std::string_view content,
                          int id_slot, int n_ctx, const std::vector<std::string>& model_ids) {
  json settings = GenerationParams(r);
  settings["n_ctx"] = n_ctx;
  settings["model"] = r.model;
  const bool word = g.stop_reason == StopReason::kStopString;
  const std::vector<std::string>& stops = r.request.options.stop;
  json j = {{"index", 0},
            {"content", ToValidUtf8(std::string(content))},
            {"tokens", json::array()},
            {"id_slot", id_slot},
            {"stop", true},
            {"model", r.model},
            {"tokens_predicted", g.n_new_tokens},
            {"tokens_evaluated", g.n_prompt_tokens},
            {"generation_settings", settings},
            {"prompt", ToValidUtf8(r.request.prompt)},
            {"has_new_line", g.text.find('\n') != std::string::npos},
            {"truncated", g.stop_reason == StopReason::kContextFull},
            {"stop_type", StopType(g.stop_reason)},
            // Which stop string ended the text is known only when there is one.
            {"stopping_word", word && stops.size() == 1 ? ToValidUtf8(stops[0]) : ""},
            {"tokens_cached", g.n_cached_tokens},
            {"timings", TimingsBody(g)}};
  if (!g.models.empty()) j["coolfusion"] = ModelWeights(r, g, model_ids);
  return j;
}

json NativeChunk(std::string_view content, int id_slot) {
  return {{"index", 0},
          {"content", ToValidUtf8(std::string(content))},
          {"tokens", json::array()},
          {"stop", false},
          {"id_slot", id_slot}};
}

json SlotBody(int id, int n_ctx, bool is_processing, const ApiRequest& defaults) {
  return {{"id", id},
          {"id_task", -1},
          {"n_ctx", n_ctx},
          {"speculative", false},
          {"is_processing", is_processing},
          {"params", GenerationParams(defaults)},
          {"prompt", ""},
          {"next_token",
           {{"has_next_token", is_processing},
            {"has_new_line", false},
            {"n_remain", -1},
            {"n_decoded", 0},
            {"stopping_word", ""}}}};
}

json PropsBody(const PropsInfo& p) {
  json models = json::array();
  for (const SourceModel& m : p.models) {
    models.push_back({{"id", m.id},
                      {"path", m.path},
                      {"tokenizer", m.tokenizer},
                      {"n_vocab", m.n_vocab},
                      {"n_ctx", m.n_ctx},
                      {"weight", m.weight},
                      {"has_chat_template", m.has_chat_template},
                      {"chat_template", ToValidUtf8(m.chat_template)}});
  }
  const SourceModel& first = p.models.front();
  return {{"default_generation_settings", SlotBody(0, first.n_ctx, false, p.defaults)},
          {"total_slots", p.total_slots},
          {"model_path", first.path},
          {"model_alias", p.alias},
          {"chat_template", ToValidUtf8(first.chat_template)},
          {"chat_template_caps", json::object()},
          {"modalities", {{"vision", false}, {"audio", false}}},
          {"build_info", "coolfusion 0.1.0"},
          {"is_sleeping", false},
          {"coolfusion", {{"models", models}}}};
}

std::string RequestLogLine(std::string_view method, std::string_view path, std::string_view remote,
                           int status, double ms, int tokens) {
  char buf[96];
  std::snprintf(buf, sizeof buf, " %d %.0f ms", status, ms);
  std::string line = "request: ";
  line.append(EscapeForLog(method)).append(" ").append(EscapeForLog(path)).append(" ");
  line.append(EscapeForLog(remote)).append(buf);
  if (tokens >= 0) line += " " + std::to_string(tokens) + " tokens";
  return line;
}

}  // namespace coolfusion::server
