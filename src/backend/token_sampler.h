// TokenSampler: picks a model's next token from its logits through llama.cpp's sampler
// chain, in llama.cpp's order: repetition penalties (repeat, frequency, presence over the
// last repeat_last_n tokens), then top-k, top-p, min-p, temperature and a seeded draw; or
// the most likely token when the temperature is 0 (greedy: the first on ties, as before
// this chain). Suppressed tokens (control tokens) are never picked. With a Grammar, only
// a token it allows is: the chain's pick is checked first and the whole vocabulary masked
// only when the grammar rejects it (llama.cpp's common sampler does the same).
//
// One per model and session; the draw's generator is never reset, so a seed fixes the
// whole sequence of draws.
#pragma once

#include <coolfusion/options.h>

#include <cstdint>
#include <vector>

#include "backend/grammar.h"
#include "backend/tokenizer.h"

struct llama_sampler;

namespace coolfusion {

class TokenSampler {
 public:
  TokenSampler(int n_vocab, const SamplingOptions& opts, uint32_t seed);
  ~TokenSampler();
  TokenSampler(TokenSampler&& o) noexcept;
  TokenSampler(const TokenSampler&) = delete;
  TokenSampler& operator=(const TokenSampler&) = delete;
  TokenSampler& operator=(TokenSampler&&) = delete;

  bool has_penalties() const { return penalties_ != nullptr; }
  // The tokens the penalties look back over: their history becomes tokens[0, n).
  void ResetHistory(const Token* tokens, size_t n);
  // A token was written (drafted): the penalties count it.
  void Accept(Token t);

  // REQUIRES: logits holds n_vocab floats, suppressed.size() >= n_vocab, some token is not
  // suppressed. grammar may be null; closing (with a grammar): Grammar::ClosingToken when
  // there is one. Returns -1 only when the grammar allows no token.
  Token Sample(const float* logits, const std::vector<uint8_t>& suppressed, const Grammar* grammar,
               bool closing);

 private:
  Token Pick(const std::vector<float>& logits);  // the chain's choice
  int n_vocab_;
  llama_sampler* chain_ = nullptr;
  llama_sampler* penalties_ = nullptr;  // null: all penalties off
  std::vector<float> work_;
  std::vector<uint8_t> cur_;  // llama_token_data[n_vocab] (opaque here)
};

}  // namespace coolfusion
