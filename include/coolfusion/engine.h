// The public engine: an ensemble of GGUF models fused at inference time.
//
// Thread-safety: an Ensemble owns one llama.cpp context per model and is not
// thread-safe; use one Ensemble per concurrent generation.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/status.h>

#include <cstdint>
#include <functional>
#include <limits>
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
  int n_gpu_layers = 0;            // as asked (-ngl, ngl=)
  bool gpu_layers_on_cpu = false;  // n_gpu_layers asked for a GPU, but this build has none
};

struct Candidate {
  std::string text;              // the segment text this candidate proposes
  bool ends_generation = false;  // the writer emitted end-of-generation after text
  std::vector<int> writers;      // models whose own candidate was this text (deduplicated)
  std::vector<double> ppl;  // perplexity of this candidate under each model (inf: cannot encode)
  std::vector<bool> used;   // whether each model's ppl counted in the score (SweetSpan)
  double score = 0;         // the scoring rule's value; lowest wins
  bool keeps_start = true;  // false: after it the previous segment's end would stop being a
                            // common word boundary; it wins only if every candidate is so
};

struct Segment {
  std::string text;  // committed text
  int winner = 0;    // first writer of the winning candidate
  int winning_candidate = 0;
  std::vector<Candidate> candidates;
  bool aligned = true;  // false: no common word boundary within max_segment_tokens
  bool merged = false;  // the previous segment's end stopped being a boundary and was
                        // merged into this one
  double generate_ms = 0, score_ms = 0;
  std::vector<int> tokens_decoded;  // per model, in this step (drafts, scoring, commit)
  std::vector<int> decode_calls;    // per model, in this step
  std::vector<int> draft_decodes;   // per model: decode calls spent on its own draft
  std::vector<int> scoring_calls;   // per model: batched scoring decodes (0 or 1)
};

enum class StopReason { kEndOfGeneration, kStopString, kMaxTokens, kContextFull, kCancelled };
const char* StopReasonName(StopReason r);  // "eog", "stop", "length", "context", "cancelled"

// Counts of the engine's events over one generation, summed over models.
struct Counters {
  int64_t decode_calls = 0;
  int64_t tokens_decoded = 0;
  int64_t scoring_calls = 0;         // batched scoring decodes
  int64_t candidates_scored = 0;     // (model, candidate) pairs scored by decoding
  int64_t duplicate_candidates = 0;  // candidates identical to another, scored once
  int64_t retokenize_changes = 0;    // commits where re-tokenizing changed a model's tokens
  int64_t rollback_tokens = 0;       // tokens removed from KV caches by those changes
  int64_t boundary_checks = 0;
  int64_t align_ns = 0;  // CPU nanoseconds in boundary checks and re-encoding (the step aligner,
                         // ModelView::Reencode), summed over models
  int64_t merged_segments = 0;
  int64_t unencodable = 0;       // (model, candidate) pairs a tokenizer could not encode
  int64_t prescored_tokens = 0;  // scoring tokens decoded while the models drafted
                                 // (pre-scoring)
  int64_t sat_out = 0;           // models that sat out (negligible weight): no draft,
                                 // no scoring
  // The peer methods (unite, gac, adafuse, safe): positions where the next text was
  // chosen, and of those, where the ensemble decided (the models' choices were combined;
  // elsewhere one model's choice stood: all agreed, a gate, a confident leader).
  int64_t positions = 0;
  int64_t fused_positions = 0;
};

// How one model took part in a request.
struct ModelReport {
  // Bits per byte of the prompt's text under this model (for chat: the messages' contents,
  // the model's own template around them as context); NaN when not measured (prompt
  // weights off, the model left out, or no byte to measure).
  double prompt_bits_per_byte = std::numeric_limits<double>::quiet_NaN();
  size_t prompt_bytes = 0;  // bytes it was measured on
  double weight = 0;        // the weight its perplexities had in this request
  bool sat_out = false;     // its weight was negligible: it neither drafted nor scored
  bool active = false;      // it took part (not left out, not sat out)
};

struct Timings {
  double total_ms = 0;
  double generate_ms = 0;       // candidate generation
  double score_ms = 0;          // cross-scoring
  double decode_ms = 0;         // inside llama_decode, summed over models (exceeds total_ms when
                                // the models run in parallel)
  double prompt_ms = 0;         // prompt processing (wall time; the models side by side with
                                // --parallel-models), prompt likelihoods included
  double prompt_fit_ms = 0;     // of which computing the prompt likelihoods (log-softmax rows),
                                // summed over models
  double prompt_decode_ms = 0;  // of decode_ms, during prompt processing
};

struct GenerationResult {
  std::string text;  // the generated text (without the prompt)
  StopReason stop_reason = StopReason::kMaxTokens;
  std::vector<Segment> segments;
  std::vector<std::string> answers;  // rerank / cool+r: the whole answers that were ranked
  std::vector<double> answer_scores;
  int n_new_tokens = 0;     // tokens of text under model 0's tokenizer
  int n_prompt_tokens = 0;  // tokens of the prompt under the same model
  int n_cached_tokens = 0;  // of those, reused from the previous request's KV cache
  Counters counters;
  Timings timings;
  std::vector<std::string> warnings;  // e.g. a model left out because it cannot encode the prompt
  std::vector<ModelReport> models;    // per model of the ensemble (empty for only_model runs)
};

// Called as each segment is committed, with the text that is now safe to show (text that
// might still turn out to begin a stop string is held back). Return false to stop.
using SegmentCallback = std::function<bool(const Segment& segment, std::string_view delta)>;

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
// The grammar of any JSON object (OpenAI's response_format {"type": "json_object"}).
const std::string& JsonObjectGrammar();

class Ensemble {
 public:
  // Loads the models (memory-mapped). Fails with a one-line message naming the file.
  static Status Open(const std::vector<ModelOptions>& models, std::unique_ptr<Ensemble>* out);
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

  // The checks Generate makes before generating (options, UTF-8, prompt rendering and
  // tokenization, context), without decoding: lets a server answer 400 before it starts
  // a stream. Thread-safe with respect to other Validate calls, not to Generate.
  Status Validate(const Request& request) const;
  // The prompt cache: how many of the request's prompt tokens (under the model that would
  // count them: only_model, else model 0) this ensemble's KV cache holds from its last
  // request, i.e. would not be decoded again (0 when unknown or cache_prompt is off).
  // Thread-safe with respect to Validate calls, not to Generate.
  size_t CachedPrefix(const Request& request) const;

  // Every common word boundary of `text` (byte offsets in (0, len]): a UAX #29 word
  // boundary where no model's tokenization of text straddles the offset. Works on
  // vocab-only models. Fails on invalid UTF-8 or text a tokenizer cannot encode.
  Status CommonBoundaries(std::string_view text, std::vector<size_t>* out) const;

  // The text of every token of model i's vocabulary (special tokens as their text).
  Status VocabPieces(size_t i, std::vector<std::string>* out) const;

  // Tokens of `text` under model i (no BOS, special tokens not parsed).
  Status Tokenize(size_t i, std::string_view text, std::vector<int32_t>* out) const;

  class Impl;

 private:
  explicit Ensemble(std::unique_ptr<Impl> impl);
  // The public calls without the boundary that turns an exception into kInternal.
  static Status OpenUnguarded(const std::vector<ModelOptions>& models,
                              std::unique_ptr<Ensemble>* out);
  Status GenerateUnguarded(const Request& request, const SegmentCallback& on_segment,
                           GenerationResult* out);
  Status ValidateUnguarded(const Request& request) const;
  // The checks that need no model: options, vocab-only models, the request's text.
  Status CheckRequest(const Request& request) const;
  std::unique_ptr<Impl> impl_;
};

// Parses "cool", "cool-shortest", "rerank", "cool+r", "unite", "gac", "adafuse", "safe",
// "single".
bool ParseMethod(std::string_view name, Method* out);
const char* MethodName(Method m);
// Every method's name, comma-separated (for help and errors).
const std::string& MethodList();
// Parses "auto", "mean", "geomean", "sweetspan", "median".
bool ParseScoreRule(std::string_view name, ScoreRule* out);
const char* ScoreRuleName(ScoreRule r);
// Whether prompt weights / word ends apply under these options (kDefault: only with kAuto).
bool UsesPromptWeights(const ScoringOptions& o);
bool UsesWordEnds(const ScoringOptions& o);
bool UsesPerWord(const ScoringOptions& o);

}  // namespace coolfusion
