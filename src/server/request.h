// The requests of the completion endpoints (OpenAI's /v1/chat/completions and
// /v1/completions, llama-server's /completion) as the engine runs them. Parsing: every
// field is honoured, type-checked, or refused with a 400 naming it (README "Request
// fields"); unknown fields are ignored, as OpenAI's clients send extras. No HTTP, no
// threads, and no body can make it throw.
#pragma once

#include <coolfusion/engine.h>

#include <string>
#include <string_view>
#include <vector>

#include "chat/tool_calls.h"
#include "server/json_fields.h"
#include "server/reasoning.h"

namespace coolfusion::server {

inline constexpr const char* kEnsembleModelId = "coolfusion";

struct Limits {
  int max_tokens = 2048;         // largest max_tokens a request may ask for (--max-tokens)
  int default_max_tokens = 128;  // a request without one (serve's -n, at most max_tokens)
  size_t max_messages = 1024;
  // serve's generation flags (--method, --score, --gate, --temp, --stop, ...): each
  // request's options before its own fields, which override them. max_new_tokens is
  // default_max_tokens's; the grammar is the request's (serve refuses --grammar).
  GenerateOptions defaults;
};

// One prompt of /v1/completions: a text, or token ids of the lead model (the source model
// the request names, else the first), which the caller spells (Ensemble::Detokenize).
struct PromptInput {
  std::string text;
  std::vector<int32_t> tokens;  // non-empty: used instead of text
};

// The most prompts one echo request scores (a batch, as lm-evaluation-harness sends).
inline constexpr size_t kMaxEchoPrompts = 64;
// The most top tokens per position `logprobs` asks for (OpenAI's bound).
inline constexpr int kMaxLogprobs = 5;

struct ApiRequest {
  bool chat = false;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool trace = false;          // coolfusion.trace: per-segment provenance
  std::string model;           // as asked
  std::string grammar_param;   // the field the grammar came from (its errors name it)
  Request request;             // what the engine runs
  // /v1/completions: the prompts as given. A generation has one (request.prompt holds its
  // text, empty when it came as tokens); an echo request one or more.
  std::vector<PromptInput> prompts;
  // echo with logprobs (completions only): score each prompt (Ensemble::TextLogprobs) and
  // answer its tokens' logprobs, then at most one more token (max_tokens 0 or 1).
  bool echo = false;
  int logprobs = -1;        // top tokens per position asked for (0..kMaxLogprobs); -1: not asked
  int echo_new_tokens = 0;  // 0 or 1 (max_tokens with echo)
  // Chat: where a thinking block's text goes (reasoning_format; reasoning.h).
  ReasoningFormat reasoning_format = ReasoningFormat::kDeepseek;
  // Chat: the answer starts inside a thinking block its prompt opened (the lead model's
  // template, ModelInfo::opens_thinking); set by the caller, not parsed.
  bool thinking_open = false;
  // Chat: tools, tool_choice, parallel_tool_calls. When on(), the answer is held to the
  // envelope's grammar (grammar_param "tools") and its calls are read back from it.
  chat::ToolSet tools;
};

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

}  // namespace coolfusion::server
