// The OpenAI-compatible API's JSON: request parsing and validation, response and
// stream-chunk building, error objects. No HTTP and no threads here.
#pragma once

#include <coolfusion/engine.h>

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion::server {

inline constexpr const char* kEnsembleModelId = "coolfusion";

struct Limits {
  int max_tokens = 2048;         // largest max_tokens a request may ask for (--max-tokens)
  int default_max_tokens = 128;  // a request without one (serve's -n, at most max_tokens)
  size_t max_messages = 1024;
};

struct ApiRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool trace = false;          // coolfusion.trace: per-segment provenance
  std::string model;           // as asked
  std::string grammar_param;   // the field the grammar came from (its errors name it)
  Request request;             // what the engine runs
};

struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // empty: null
  std::string code;   // empty: null
};

// A request body as JSON: false with *why ("the request body is not valid JSON") when it
// does not parse or nests objects and arrays more than kMaxBodyNesting deep, checked while
// parsing (recursive code downstream, nlohmann's dump() and llama.cpp's schema converter
// among them, never sees deeper input).
inline constexpr int kMaxBodyNesting = 100;
bool ParseJsonBody(std::string_view body, nlohmann::json* j, std::string* why);

// The index into model_ids of the model `name` names, -1 if none: the ensemble's id or
// "coolfusion" (0), a source model's id, or its file name (the id with ".gguf").
int FindModelId(const std::vector<std::string>& model_ids, const std::string& name);
// The 404 message for a model that does not exist, listing the ids that do.
std::string UnknownModelMessage(const std::vector<std::string>& model_ids, const std::string& name);

// model_ids[0] is the ensemble (its --alias, else "coolfusion", which names it either
// way); model_ids[1 + i] is source model i, the file name without ".gguf".
// Returns false and fills *err on any problem with the body.
bool ParseRequest(std::string_view body, bool chat, const Limits& limits,
                  const std::vector<std::string>& model_ids, ApiRequest* out, ApiError* err);

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

nlohmann::json CompletionBody(const ApiRequest& r, const GenerationResult& g, const std::string& id,
                              int64_t created, const std::vector<std::string>& model_ids);

// One streamed chunk. `delta` may be empty; finish_reason null when empty.
nlohmann::json ChunkBody(const ApiRequest& r, const std::string& id, int64_t created,
                         std::string_view delta, bool first, const char* finish_reason,
                         const Segment* trace, const std::vector<std::string>& model_ids);
nlohmann::json UsageChunk(const ApiRequest& r, const std::string& id, int64_t created,
                          const GenerationResult& g);

// /v1/models: the ensemble, then each source model with its file name (never its path:
// where the server's files are is not the client's business).
nlohmann::json ModelsBody(const std::vector<std::string>& model_ids,
                          const std::vector<std::string>& file_names);

}  // namespace coolfusion::server
