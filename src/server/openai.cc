#include "server/openai.h"

#include "base/json_number.h"
#include "base/utf8.h"
#include "chat/tool_call_parser.h"

namespace coolfusion::server {

namespace {

using nlohmann::json;

std::string Safe(const std::string& s) { return ToValidUtf8(s); }  // JSON needs valid UTF-8

}  // namespace

std::string ErrorBody(const ApiError& e) {
  json j = {{"error",
             {{"message", e.message},
              {"type", e.type},
              {"param", e.param.empty() ? json(nullptr) : json(e.param)},
              {"code", e.code.empty() ? json(nullptr) : json(e.code)}}}};
  // A message quoting the client's bytes may hold what is not UTF-8: replaced, never thrown.
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

ApiError QueueError(const Status& s) {
  ApiError e;
  e.message = s.message();
  e.status = 429;
  e.type = "rate_limit_error";
  e.code = "server_busy";
  return e;
}

ApiError ErrorFromStatus(const Status& s) {
  ApiError e;
  e.message = s.message();
  switch (s.code()) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kUnsupported: e.status = 400; break;
    case Status::Code::kResourceExhausted:  // a context filled: the request is too large
      e.status = 400;
      e.code = "context_length_exceeded";
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
    for (double p : c.ppl) ppl.push_back(JsonNumber(p));
    cands.push_back({{"text", Safe(c.text)},
                     {"writers", c.writers},
                     {"ppl", ppl},
                     {"score", JsonNumber(c.score)},
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
                      {"prompt_bits_per_byte", JsonNumber(m.prompt_bits_per_byte)},
                      {"weight", m.weight},
                      {"sat_out", m.sat_out},
                      {"active", m.active}});
  }
  json j = {{"score", ScoreRuleName(r.request.options.scoring.rule)},
            {"prompt_weights", UsesPromptWeights(r.request.options.scoring)},
            {"models", models}};
  // What changed the ensemble on the way (a model that left it, and why).
  if (!g.warnings.empty()) j["warnings"] = g.warnings;
  return j;
}

nlohmann::json CompletionBody(const ApiRequest& r, const GenerationResult& g, const std::string& id,
                              int64_t created, const std::vector<std::string>& model_ids) {
  json choice = {
      {"index", 0}, {"finish_reason", FinishReason(g.stop_reason)}, {"logprobs", nullptr}};
  if (r.chat) {
    std::string reasoning, content;
    SplitReasoning(r.reasoning_format, g.text, &reasoning, &content, r.thinking_open);
    std::vector<chat::ToolCall> calls;
    if (r.tools.on()) {
      const std::string text = std::move(content);
      content.clear();
      chat::ParseToolCalls(text, &content, &calls);
    }
    choice["message"] = {{"role", "assistant"}, {"content", Safe(content)}};
    if (!reasoning.empty()) choice["message"]["reasoning_content"] = Safe(reasoning);
    if (!calls.empty()) {
      choice["message"]["tool_calls"] = ToolCallsJson(calls, 0, false);
      if (content.empty()) choice["message"]["content"] = nullptr;  // as OpenAI answers
      choice["finish_reason"] = "tool_calls";
    }
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
                         const Segment* trace, const std::vector<std::string>& model_ids,
                         std::string_view reasoning) {
  json choice = {{"index", 0},
                 {"finish_reason", finish_reason ? json(finish_reason) : json(nullptr)},
                 {"logprobs", nullptr}};
  const std::string text = Safe(std::string(delta));
  if (r.chat) {
    json d = json::object();
    if (first) d["role"] = "assistant";
    if (!reasoning.empty()) d["reasoning_content"] = Safe(std::string(reasoning));
    if (!text.empty() || (!first && !finish_reason && reasoning.empty())) d["content"] = text;
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

nlohmann::json ToolCallsJson(const std::vector<chat::ToolCall>& calls, size_t first_index,
                             bool indexed) {
  json a = json::array();
  for (size_t i = 0; i < calls.size(); ++i) {
    json c = {{"id", calls[i].id},
              {"type", "function"},
              {"function", {{"name", calls[i].name}, {"arguments", Safe(calls[i].arguments)}}}};
    if (indexed) c["index"] = first_index + i;
    a.push_back(std::move(c));
  }
  return a;
}

nlohmann::json ToolCallsChunk(const ApiRequest& r, const std::string& id, int64_t created,
                              const std::vector<chat::ToolCall>& calls, size_t first_index) {
  json choice = {{"index", 0},
                 {"finish_reason", nullptr},
                 {"logprobs", nullptr},
                 {"delta", {{"tool_calls", ToolCallsJson(calls, first_index, true)}}}};
  return {{"id", id},
          {"object", "chat.completion.chunk"},
          {"created", created},
          {"model", r.model},
          {"choices", json::array({choice})}};
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
                          const std::vector<std::string>& file_names) {
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
                    {"coolfusion", {{"fused", false}, {"file", file_names[i - 1]}}}});
  }
  return {{"object", "list"}, {"data", data}};
}

}  // namespace coolfusion::server
