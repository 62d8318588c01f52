// The OpenAI-compatible API's JSON: response and stream-chunk building, error objects,
// for the requests request.h parses. No HTTP and no threads here.
#pragma once

#include <coolfusion/engine.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "server/request.h"

namespace coolfusion::server {

std::string ErrorBody(const ApiError& e);
// The error for a failed Status from the engine: 400 for what the request asked (a
// context that fills is code context_length_exceeded), 503 for a failed RPC worker, 500
// for the rest.
ApiError ErrorFromStatus(const Status& s);
// The error for a request that found no slot (queue full, or waited too long): 429.
ApiError QueueError(const Status& s);

const char* FinishReason(StopReason r);  // "stop" or "length"

nlohmann::json SegmentTrace(const Segment& s, const std::vector<std::string>& model_ids);
// {"score", "prompt_weights", "models": [{"model", "prompt_bits_per_byte", "weight",
// "sat_out", "active"}]}: how each model took part (the response's "coolfusion" field).
nlohmann::json ModelWeights(const ApiRequest& r, const GenerationResult& g,
                            const std::vector<std::string>& model_ids);

// OpenAI's usage object, with prompt_tokens_details.cached_tokens (the prompt cache).
nlohmann::json Usage(const GenerationResult& g);
// llama-server's timings object: cache_n, prompt_n, prompt_ms, predicted_n, predicted_ms
// (and the per-second rates). On every response and on the last streamed chunk.
nlohmann::json TimingsBody(const GenerationResult& g);

// A chat answer's message holds a thinking block's text as reasoning_content
// (r.reasoning_format, reasoning.h), and with tools its calls as tool_calls (content null
// when there is none besides, finish_reason "tool_calls"; chat/tool_call_parser.h).
nlohmann::json CompletionBody(const ApiRequest& r, const GenerationResult& g, const std::string& id,
                              int64_t created, const std::vector<std::string>& model_ids);

// One streamed chunk. `delta` may be empty; finish_reason null when empty. `reasoning`:
// chat's delta.reasoning_content (omitted when empty).
nlohmann::json ChunkBody(const ApiRequest& r, const std::string& id, int64_t created,
                         std::string_view delta, bool first, const char* finish_reason,
                         const Segment* trace, const std::vector<std::string>& model_ids,
                         std::string_view reasoning = {});
// Calls as OpenAI writes them: [{"id", "type": "function", "function": {"name",
// "arguments"}}], with "index" (first_index, first_index + 1, ...) in stream deltas.
nlohmann::json ToolCallsJson(const std::vector<chat::ToolCall>& calls, size_t first_index,
                             bool indexed);
// A streamed chunk with delta.tool_calls (each call whole).
nlohmann::json ToolCallsChunk(const ApiRequest& r, const std::string& id, int64_t created,
                              const std::vector<chat::ToolCall>& calls, size_t first_index);
nlohmann::json UsageChunk(const ApiRequest& r, const std::string& id, int64_t created,
                          const GenerationResult& g);

// /v1/models: the ensemble, then each source model with its file name (never its path:
// where the server's files are is not the client's business).
nlohmann::json ModelsBody(const std::vector<std::string>& model_ids,
                          const std::vector<std::string>& file_names);

}  // namespace coolfusion::server
