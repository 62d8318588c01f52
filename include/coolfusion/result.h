// What a generation returns: the text, its segments with every candidate and each model's
// perplexity of it, why it stopped, counts of the engine's events, timings and how each
// model took part. Plain values, apart from the Ensemble that makes them (engine.h).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <limits>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coolfusion {

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
  // The weight each model's score had in this step (0: it took no part): the request's
  // weights, times each model's confidence when that is on (ScoringOptions::confidence).
  std::vector<double> weights;
  // The leading model was at least PeerOptions::gate sure of its own candidate, which won
  // without the scores deciding (they are still computed and shown).
  bool gated = false;
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
  int64_t gated_segments = 0;    // segment steps the gate decided (Segment::gated)
  int64_t sat_out = 0;           // models that sat out (negligible weight): no draft,
                                 // no scoring
  // The peer methods (unite, gac, adafuse, safe): positions where the next text was
  // chosen, and of those, where the ensemble decided (the models' choices were combined;
  // elsewhere one model's choice stood: all agreed, a gate, a confident leader).
  int64_t positions = 0;
  int64_t fused_positions = 0;
  // Models whose prompt this generation rendered and tokenized itself (0 when
  // Request::prepared held every rendering).
  int64_t prompt_renders = 0;
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
  // Why: its fit to the prompt (prompt weights) rather than its weight= (times a
  // calibration factor) alone, which was already under ScoringOptions::sit_out.
  bool sat_out_for_prompt = false;
  bool active = false;  // it took part (not left out, not sat out)
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

// A given continuation of a prompt as each model reads it, and fused (Ensemble::Score:
// multiple choice). Per model, in the ensemble's order; a model that did not take part
// (left out, sat out, not only_model) has NaN, one that cannot encode the continuation inf.
struct ContinuationScore {
  std::string text;
  // Negative log-likelihood in nats of the continuation's tokens after the prompt, under
  // each model's own tokenization (from the first token that differs from the prompt's own
  // tokens: a continuation that joins the prompt's last token re-reads that token too).
  std::vector<double> nll;
  std::vector<int> tokens;           // the tokens nll is summed over
  std::vector<double> nll_per_byte;  // nll / the continuation's bytes
  std::vector<double> ppl;           // what the scoring rule reads (exp(nll / tokens), or
                                     // per word with ScoringOptions::per_word)
  double score = 0;                  // the fused score under the request's rule and
                                     // weights, as a candidate's: the lowest is the best
  // The fused negative log-likelihood: the models' nll averaged with the request's weights
  // (normalized to sum to 1 over the models taking part), i.e. the continuation's
  // log-probability under the weighted geometric mean of the models. Divided by the
  // continuation's bytes it is the per-byte form (multiple choice's acc_norm). With prompt
  // weights off, minus the sum of TextLogprobs over the continuation (docs/scoring.md).
  double nll_fused = 0;
};

struct ScoreResult {
  std::vector<ContinuationScore> continuations;  // in the order given
  int best = -1;                                 // the continuation of the lowest score
  int n_prompt_tokens = 0;                       // under the first model taking part
  int n_cached_tokens = 0;                       // of those, reused from the prompt cache
  std::vector<ModelReport> models;               // per model (empty for only_model)
  std::vector<std::string> warnings;
  Counters counters;
  Timings timings;  // prompt_ms, score_ms (the continuations), decode_ms, total_ms
};

// One of the lead model's tokens of a text whose log-probabilities were asked for
// (Ensemble::TextLogprobs; the lead model is only_model's, else the first).
struct TokenLogprob {
  int32_t id = 0;     // the lead model's token
  std::string piece;  // its bytes (a token may hold part of a character)
  size_t offset = 0;  // its first byte in the text
  // The fused log-probability (nats) of the token's bytes given the text before it: the
  // weighted mean, over the models, of the log-probabilities of each model's own tokens
  // that end inside this token's bytes. NaN for the first token (nothing before it).
  double logprob = 0;
  // The lead model's most likely tokens at this position (top_logprobs of them, best
  // first) with their log-probabilities under the lead model alone.
  std::vector<std::pair<int32_t, double>> top;
};

struct TextLogprobsResult {
  std::string text;                  // the text scored (detokenized when tokens were given)
  std::vector<TokenLogprob> tokens;  // the lead model's tokens of it, without BOS
  // The lead model's most likely tokens after the whole text, with their log-probabilities
  // under it (top_logprobs of them, at least 1).
  std::vector<std::pair<int32_t, double>> next;
  std::vector<double> weights;  // per model: its weight in the fused log-probabilities (sum 1;
                                // 0 for a model that cannot encode the text)
  std::vector<double> nll;      // per model: the nll of its tokens that have a logprob
  std::vector<std::string> warnings;
  Counters counters;  // decode_calls, tokens_decoded
  Timings timings;    // decode_ms, total_ms
};

// Called as each segment is committed, with the text that is now safe to show (text that
// might still turn out to begin a stop string is held back). Return false to stop.
using SegmentCallback = std::function<bool(const Segment& segment, std::string_view delta)>;

}  // namespace coolfusion
