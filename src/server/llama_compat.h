// llama-server's own endpoints, as far as they apply to an ensemble: /completion in its
// native shape, /tokenize and /detokenize (per source model), /props, /slots, the 503
// "Loading model" answer, and the request log line. Field names and shapes are
// llama-server's (tools/server/README.md of llama.cpp); what an ensemble adds is under
// "coolfusion". JSON only: no HTTP and no threads here.
#pragma once

#include <coolfusion/engine.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "server/openai.h"

namespace coolfusion::server {

// One source model as /props and /slots describe it.
struct SourceModel {
  std::string id;         // its model id (model_ids[1 + i])
  std::string path;       // the GGUF file, as given to -m
  std::string tokenizer;  // "spm", "bpe", ...
  int32_t n_vocab = 0;
  int n_ctx = 0;      // its context in tokens
  double weight = 1;  // its weight= (times serve --calibrate's factor)
  bool has_chat_template = false;
  std::string chat_template;         // --chat-template's name or text; empty: the GGUF's own
  std::string bos_token, eos_token;  // their text; empty: none
};

// llama-server's answer to every request while the models load (status 503):
// {"error": {"code": 503, "message": "Loading model", "type": "unavailable_error"}}.
std::string LoadingBody();

// The source model a /tokenize or /detokenize request names in "model": absent, null, the
// ensemble's id or "coolfusion": the first source model. An unknown name is a 404 naming
// `model` (code model_not_found); a non-string a 400. Returns false and fills *err.
bool SelectSourceModel(const nlohmann::json& body, const std::vector<std::string>& model_ids,
                       size_t* index, ApiError* err);

struct TokenizeRequest {
  size_t model = 0;  // source model index
  std::string content;
  bool with_pieces = false;
};
// {"content": string, "with_pieces", "add_special", "parse_special", "model"}. No content:
// no tokens (as llama-server). add_special: true is refused (400 naming it): the engine
// tokenizes without BOS. parse_special is accepted; special tokens' text is tokenized as
// plain text whatever its value. vLLM's names, which lm-evaluation-harness's remote
// tokenizer sends, are read too: "prompt" for content, "add_special_tokens" for add_special.
bool ParseTokenize(std::string_view body, const std::vector<std::string>& model_ids,
                   TokenizeRequest* out, ApiError* err);
// {"tokens": [id, ...]}, or with pieces {"tokens": [{"id", "piece"}, ...]} where a piece
// that is not valid UTF-8 is its bytes as an array of numbers. `pieces` is the model's
// vocabulary (Ensemble::VocabPieces).
nlohmann::json TokenizeBody(const std::vector<int32_t>& tokens, bool with_pieces,
                            const std::vector<std::string>& pieces);

struct DetokenizeRequest {
  size_t model = 0;
  std::vector<int32_t> tokens;
};
// {"tokens": [id, ...], "model"}; every id must be in [0, n_vocab) of the model it names
// (400 naming `tokens` otherwise). No tokens: empty content. n_vocab[i]: source model i's.
bool ParseDetokenize(std::string_view body, const std::vector<std::string>& model_ids,
                     const std::vector<int32_t>& n_vocab, DetokenizeRequest* out, ApiError* err);
// {"content": the pieces joined, "prompt": the same} (llama-server's tokens_to_str: special
// tokens as text; "prompt" is vLLM's name), made valid UTF-8 for JSON.
nlohmann::json DetokenizeBody(const std::vector<int32_t>& tokens,
                              const std::vector<std::string>& pieces);

// GET /tokenizer_info (vLLM's shape, what lm-evaluation-harness's remote tokenizer reads):
// the first source model's {"eos_token", "bos_token", "pad_token": null,
// "model_max_length": its context, "tokenizer_class": its llama.cpp tokenizer type}.
nlohmann::json TokenizerInfoBody(const SourceModel& m);

// The bounds of /tokenize and /detokenize, as a completion's prompt is bounded
// (Ensemble::Validate), so that their time and their answer's size follow the model's
// context, not the body limit. A text of more bytes than the model's context can hold
// whatever its tokenization (n_ctx * `max_piece_bytes`, its longest token) is refused
// before tokenizing; a list of more tokens than the context (given, or produced) is
// refused. 400 `context_length_exceeded` naming `field`; true when it fits.
bool CheckTextFitsContext(size_t bytes, const SourceModel& m, size_t max_piece_bytes,
                          const std::string& field, ApiError* err);
bool CheckTokensFitContext(size_t n_tokens, const SourceModel& m, const std::string& field,
                           ApiError* err);

// llama-server's stop_type: "eos", "word" (a stop string), "limit" (n_predict or the
// context), "none" (cancelled: not stopped on its own).
const char* StopType(StopReason r);

// llama-server's generation settings ("params" of a slot, "generation_settings" of a
// completion): the sampling fields this engine honours, with llama-server's names.
nlohmann::json GenerationParams(const ApiRequest& r);

// POST /completion's answer, and the final streamed event (content "" then: the text went
// out in the chunks before): index, content, tokens ([]: ids are per model), id_slot,
// stop (true), model, tokens_predicted, tokens_evaluated, generation_settings, prompt,
// has_new_line, truncated, stop_type, stopping_word, tokens_cached, timings; plus
// "coolfusion" (the models' weights) as on /v1/*.
nlohmann::json NativeCompletionBody(const ApiRequest& r, const GenerationResult& g,
                                    std::string_view content, int id_slot, int n_ctx,
                                    const std::vector<std::string>& model_ids);
// A streamed chunk: {"index": 0, "content", "tokens": [], "stop": false, "id_slot"}.
nlohmann::json NativeChunk(std::string_view content, int id_slot);

// One entry of GET /slots (and /props' default_generation_settings): id, id_task, n_ctx,
// speculative, is_processing, params, next_token.
nlohmann::json SlotBody(int id, int n_ctx, bool is_processing, const ApiRequest& defaults);

struct PropsInfo {
  std::vector<SourceModel> models;  // non-empty
  std::string alias;                // the ensemble's model id
  int total_slots = 1;
  ApiRequest defaults;  // a request that sets nothing
};
// GET /props: default_generation_settings, total_slots, model_path (the first model's),
// model_alias, chat_template (the first model's --chat-template, "" for the GGUF's own),
// chat_template_caps, modalities, build_info, is_sleeping; "coolfusion": {"models": [...]}
// with every source model.
nlohmann::json PropsBody(const PropsInfo& p);

// The request log line (no newline): "request: POST /completion 127.0.0.1 200 153 ms 24
// tokens"; `tokens` < 0 leaves the count out (no generation). The method, path and
// address are escaped (EscapeForLog: a CR, LF or NUL in a decoded path shows as \x0d,
// \x0a, \x00), so a request cannot forge or cut a line.
std::string RequestLogLine(std::string_view method, std::string_view path, std::string_view remote,
                           int status, double ms, int tokens);

}  // namespace coolfusion::server
