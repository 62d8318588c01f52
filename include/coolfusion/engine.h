// The public engine: an ensemble of GGUF models fused at inference time.
//
// Thread-safety: an Ensemble owns one llama.cpp context per model and is not
// thread-safe; use one Ensemble per concurrent generation.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/result.h>
#include <coolfusion/status.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion {

struct ModelInfo {
  std::string path;
  std::string name;       // file name without directory
  std::string label;      // how messages name it: "model 2 (aidreams260K)", its 1-based
                          // place in the list given to Open and its file name without .gguf
  std::string tokenizer;  // "spm", "bpe", ...
  int32_t n_vocab = 0;
  uint64_t n_params = 0;  // 0 for vocab-only
  int n_ctx = 0;          // context length in use (0 for vocab-only)
  int n_ctx_train = 0;    // context length the model was trained on (0 for vocab-only)
  bool vocab_only = false;
  bool has_chat_template = false;
  // Its chat template opens a thinking block at the start of the answer (the prompt ends
  // in "<think>", as DeepSeek-R1's does): a chat answer starts inside it.
  bool opens_thinking = false;
  int32_t bos = -1;  // the vocabulary's BOS and end-of-generation tokens (-1: none)
  int32_t eos = -1;
  int n_gpu_layers = 0;            // as asked (-ngl, ngl=)
  bool gpu_layers_on_cpu = false;  // n_gpu_layers asked for a GPU, but this build has none
};

// A JSON schema (its JSON text) as a GBNF grammar for GenerateOptions::grammar, by
// llama.cpp's own converter. A schema that is not an object or that the converter cannot
// express is InvalidArgument naming why ("json_schema: ...").
Status JsonSchemaToGrammar(const std::string& schema_json, std::string* gbnf);
// For untrusted input (a server's requests): the same conversion, and for a GBNF grammar a
// parse, in a child process (`coolfusion-sandbox`, beside the executable) under hard limits
// on memory, CPU time and output, so that no input can crash or stall the caller. Any
// failure is InvalidArgument naming the field ("json_schema: ..." / "grammar: ..."); a
// missing sandbox is Unavailable; too many compiling at once, ResourceExhausted.
Status JsonSchemaToGrammarIsolated(const std::string& schema_json, std::string* gbnf);
Status CheckGrammarIsolated(const std::string& gbnf);

// The checks of `options` that need no model, for an ensemble of `models` models: ranges,
// the method's name, what the method cannot honour (a gate, confidence weights, sampling,
// a grammar), token healing asked for where a raw prompt cannot have it. A server checks
// its defaults with it before loading; Generate makes the same checks.
Status CheckGenerateOptions(const GenerateOptions& options, size_t models);
// The grammar of any JSON object (OpenAI's response_format {"type": "json_object"}).
const std::string& JsonObjectGrammar();

// A request's prompt rendered and tokenized for each model of an ensemble
// (Ensemble::Validate, Request::prepared). Opaque and immutable: it may be shared between
// threads and ensembles of the same model files.
class PreparedPrompt;

class Ensemble {
 public:
  // Loads the models (memory-mapped). Fails with a one-line message naming the file.
  static Status Open(const std::vector<ModelOptions>& models, std::unique_ptr<Ensemble>* out);
  // `lanes` ensembles over the same models, for generations that run at once (the
  // server's slots, eval --parallel): each model is loaded once, with one llama.cpp
  // context for every lane (a range of KV sequences each, the cache sized for all of
  // them), and the lanes' decodes are batched into one llama_decode per model per tick.
  // Each ensemble serves one generation at a time, on any thread; different ones run
  // side by side. A lane's results do not depend on what the others run (up to the
  // batched kernels' rounding: docs/performance.md). lanes == 1 is Open.
  static Status OpenLanes(const std::vector<ModelOptions>& models, int lanes,
                          std::vector<std::unique_ptr<Ensemble>>* out);
  // With lanes: the batching of model i's decodes over every lane so far (zeros without).
  struct BatchingStats {
    int64_t decodes = 0;    // llama_decode calls
    int64_t lane_jobs = 0;  // lanes' batches they held (lane_jobs / decodes: lanes per call)
    int64_t tokens = 0;
    int max_lanes = 0;
    double wait_ms = 0;  // summed over lanes' batches: waiting for the call that took them
  };
  BatchingStats batching(size_t i) const;
  // This lane's side of it, over every model and every request so far: decodes = the
  // batches it handed in, lane_jobs and tokens = summed over those, the lanes and tokens
  // of the llama_decode that took each, wait_ms = its time waiting for them. Thread-safe
  // (read while the lane generates).
  BatchingStats lane_batching() const;
  ~Ensemble();
  Ensemble(const Ensemble&) = delete;
  Ensemble& operator=(const Ensemble&) = delete;

  size_t size() const;
  const ModelInfo& info(size_t i) const;
  // What the user should know about how the models were loaded, one line each, without
  // "warning: " (e.g. -ngl on a build without a GPU backend). Empty when all is as asked.
  std::vector<std::string> LoadWarnings() const;

  // Generates fused text. REQUIRES: no model is vocab-only. `on_segment` may be empty.
  Status Generate(const Request& request, const SegmentCallback& on_segment, GenerationResult* out);

  // Scores given continuations of the request's prompt (raw or chat) instead of
  // generating: each model's likelihood of each continuation, and the fused score under
  // the request's scoring rule and weights (prompt weights and sitting out as Generate).
  // The continuations share the prompt's KV cache and are decoded in batches of up to one
  // more than the number of models. Word ends are not scored (a continuation is a whole
  // answer); the method, sampling, stop strings and grammar are not used. Fails with
  // InvalidArgument on no continuation, an empty or invalid UTF-8 one, or more than 4096;
  // ResourceExhausted when the prompt and a continuation do not fit a context.
  Status Score(const Request& request, const std::vector<std::string>& continuations,
               ScoreResult* out);

  // The log-probability of each token of a text under the ensemble (the OpenAI completions
  // API's `echo` with `logprobs`, which lm-evaluation-harness sums over a continuation's
  // tokens). The tokens are the lead model's (only_model, else the first): `request.tokens`
  // as given (no BOS), else its tokenization of `request.text`. Each model reads the whole
  // text with its own tokenizer (and BOS); each of its tokens' log-probability counts toward
  // the lead model's token in which that token's last byte lies, weighted by the ensemble's
  // weights (Open's; no prompt weights: the text is both prompt and answer); with
  // only_model, that model alone. Over a span of the first model's tokens
  // that starts where no model's token crosses, the sum is minus Score's nll_fused of that
  // span given the text before it under equal prompt-free weights (docs/scoring.md). The
  // prompt cache then holds the text. Fails with InvalidArgument on an empty or invalid
  // UTF-8 text, a token id out of the first model's vocabulary or top_logprobs outside
  // [0, 20]; ResourceExhausted when the text does not fit a context; Cancelled when
  // `cancelled` says so between batches.
  struct TextLogprobsRequest {
    std::string text;
    std::vector<int32_t> tokens;  // non-empty: used instead of text
    int top_logprobs = 1;
    int only_model = -1;  // >= 0: that model alone
    std::function<bool()> cancelled;
  };
  Status TextLogprobs(const TextLogprobsRequest& request, TextLogprobsResult* out);

  // The checks Generate makes before generating (options, UTF-8, prompt rendering and
  // tokenization, context), without decoding: lets a server answer 400 before it starts
  // a stream. With `prepared`, also the prompt as each model reads it, for
  // Request::prepared (then the request's prompt is tokenized once per model). Thread-safe
  // with respect to other Validate calls, not to Generate.
  Status Validate(const Request& request,
                  std::shared_ptr<const PreparedPrompt>* prepared = nullptr) const;
  // The prompt cache: how many of the request's prompt tokens (under the model that would
  // count them: only_model, else model 0) this ensemble's KV cache holds from its last
  // request, i.e. would not be decoded again (0 when unknown or cache_prompt is off).
  // Tokenizes the prompt unless request.prepared holds it. Thread-safe with respect to
  // Validate calls, not to Generate.
  size_t CachedPrefix(const Request& request) const;

  // Every common word boundary of `text` (byte offsets in (0, len]): a UAX #29 word
  // boundary where no model's tokenization of text straddles the offset. Works on
  // vocab-only models. Fails on invalid UTF-8 or text a tokenizer cannot encode.
  Status CommonBoundaries(std::string_view text, std::vector<size_t>* out) const;

  // The text of every token of model i's vocabulary (special tokens as their text).
  Status VocabPieces(size_t i, std::vector<std::string>* out) const;

  // Tokens of `text` under model i (no BOS, special tokens not parsed).
  Status Tokenize(size_t i, std::string_view text, std::vector<int32_t>* out) const;
  // The text model i's tokens spell, as llama.cpp detokenizes (special tokens as their
  // text, without SentencePiece's dummy leading space): Tokenize's inverse for the texts
  // it round-trips. InvalidArgument naming the first id out of the vocabulary.
  Status Detokenize(size_t i, const std::vector<int32_t>& tokens, std::string* out) const;

  class Impl;

 private:
  explicit Ensemble(std::unique_ptr<Impl> impl);
  // The public calls without the boundary that turns an exception into kInternal.
  static Status OpenUnguarded(const std::vector<ModelOptions>& models, int lanes,
                              std::vector<std::unique_ptr<Ensemble>>* out);
  Status GenerateUnguarded(const Request& request, const SegmentCallback& on_segment,
                           GenerationResult* out);
  Status ScoreUnguarded(const Request& request, const std::vector<std::string>& continuations,
                        ScoreResult* out);
  Status TextLogprobsUnguarded(const TextLogprobsRequest& request, TextLogprobsResult* out);
  Status ValidateUnguarded(const Request& request,
                           std::shared_ptr<const PreparedPrompt>* prepared) const;
  // The checks that need no model: options, vocab-only models, the request's text.
  Status CheckRequest(const Request& request) const;
  std::unique_ptr<Impl> impl_;
};

// The fusion methods (GenerateOptions::method), by name; the table is
// src/fusion/methods/registry.cc.
// Every method's name, comma-separated, in the table's order (for help and errors).
const std::string& MethodList();
// Whether `name` names a method.
bool IsMethod(std::string_view name);
// The method GenerateOptions::method stands for: `name` itself, or for "" the default
// method; "unknown" when it names none.
const char* MethodName(std::string_view name);
// The default method's name.
const char* DefaultMethod();
// The method that generates with one model alone (no fusion), and whether `name` is one.
const char* SingleModelMethod();
bool IsSingleModelMethod(std::string_view name);
// Parses "auto", "mean", "geomean", "sweetspan", "median".
bool ParseScoreRule(std::string_view name, ScoreRule* out);
const char* ScoreRuleName(ScoreRule r);
// Whether prompt weights / word ends apply under these options (kDefault: only with kAuto).
bool UsesPromptWeights(const ScoringOptions& o);
bool UsesWordEnds(const ScoringOptions& o);
bool UsesConfidence(const ScoringOptions& o);
bool UsesPerWord(const ScoringOptions& o);

}  // namespace coolfusion
