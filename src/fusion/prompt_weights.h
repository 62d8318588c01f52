// Prompt weights: how well each model predicts the request's own text, turned into the
// weights its perplexities get in that request (after PackLLM, Mavromatis et al. 2024,
// which weights models by prompt perplexity for one tokenizer; here per byte, so that
// tokenizers of any granularity compare).
//
// A model that never learned a skill finds the question itself surprising: measured on
// the zoo, a model's bits per byte of a prompt it was not trained for are several times
// those of the models that know the task (docs/zoo.md). Pure functions; the
// likelihoods come from the prompt decode the engine does anyway (Session::Start).
#pragma once

#include <cstddef>
#include <string>
#include <utility>
#include <vector>

namespace coolfusion {

// The prompt likelihood reads the last kPromptFitBytes bytes of content: where the
// request's question is, and what bounds its cost (each counted token needs its logits
// row; on the bench-size models a row for every token of a 600-byte prompt would add ~30%
// to the prompt's time on a 152k vocabulary, the window adds under 10%).
inline constexpr size_t kPromptFitBytes = 128;

// Bytes each prompt token counts for in the prompt likelihood (0: not counted). Token i
// counts when i >= 1 (its log-probability needs the logits after token i-1), its bytes
// [ends[i-1], ends[i]) overlap a content range, and it starts within the last
// `window` bytes of content. When the text starts with content (a raw prompt), its first
// word is skipped by every model alike: a tokenizer without BOS has no logits for its
// first token.
std::vector<size_t> CountedTokenBytes(const std::string& text, const std::vector<size_t>& ends,
                                      const std::vector<std::pair<size_t, size_t>>& content,
                                      size_t window = kPromptFitBytes);

// Per-request weights. bits_per_byte[v] may be NaN (not measured: the model then keeps
// its user weight as if it fit best), measured on bytes[v] bytes; user[v] >= 0 is the
// model's weight= option; included[v] false gives 0 (a model left out). With b* the
// lowest measured bpb, of model *, and n_v = min(bytes_v, bytes_*) the evidence:
//   t_v = temp * max(1, evidence / n_v)   (no weight moves when n_v = 0),
//   w_v = user_v * exp(-(bpb_v - b*) / t_v),   then divided by the largest w,
// and w_v < sit_out becomes 0 (the model sits out). A difference read on few bytes moves
// little weight. REQUIRES: temp > 0, evidence >= 0. Every w is 0 when no model is
// included or every user weight is 0.
std::vector<double> PromptWeights(const std::vector<double>& bits_per_byte,
                                  const std::vector<size_t>& bytes, const std::vector<double>& user,
                                  const std::vector<bool>& included, double temp, double sit_out,
                                  double evidence);

}  // namespace coolfusion
