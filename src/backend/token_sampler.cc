#include "backend/token_sampler.h"

#include <llama.h>

#include <cmath>
#include <limits>
#include <utility>

namespace coolfusion {

namespace {
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
}  // namespace

TokenSampler::TokenSampler(int n_vocab, const SamplingOptions& o, uint32_t seed)
    : n_vocab_(n_vocab), work_(n_vocab), cur_(sizeof(llama_token_data) * n_vocab) {
  llama_sampler_chain_params p = llama_sampler_chain_default_params();
  p.no_perf = true;
  chain_ = llama_sampler_chain_init(p);
  if (o.temperature <= 0) {
    llama_sampler_chain_add(chain_, llama_sampler_init_greedy());
  } else {
    if (o.top_k > 0) llama_sampler_chain_add(chain_, llama_sampler_init_top_k(o.top_k));
    if (o.top_p < 1) llama_sampler_chain_add(chain_, llama_sampler_init_top_p(o.top_p, 1));
    if (o.min_p > 0) llama_sampler_chain_add(chain_, llama_sampler_init_min_p(o.min_p, 1));
    llama_sampler_chain_add(chain_, llama_sampler_init_temp(o.temperature));
    llama_sampler_chain_add(chain_, llama_sampler_init_dist(seed));
  }
  if (o.repeat_last_n != 0 &&
      (o.repeat_penalty != 1.0f || o.frequency_penalty != 0.0f || o.presence_penalty != 0.0f)) {
    penalties_ =
        llama_sampler_init_penalties(n_vocab, o.repeat_last_n < 0 ? 4096 : o.repeat_last_n,
                                     o.repeat_penalty, o.frequency_penalty, o.presence_penalty);
  }
}

TokenSampler::TokenSampler(TokenSampler&& o) noexcept
    : n_vocab_(o.n_vocab_),
      chain_(std::exchange(o.chain_, nullptr)),
      penalties_(std::exchange(o.penalties_, nullptr)),
      work_(std::move(o.work_)),
      cur_(std::move(o.cur_)) {}

TokenSampler::~TokenSampler() {
  if (chain_ != nullptr) llama_sampler_free(chain_);
  if (penalties_ != nullptr) llama_sampler_free(penalties_);
}

void TokenSampler::ResetHistory(const Token* tokens, size_t n) {
  if (penalties_ == nullptr) return;
  llama_sampler_reset(penalties_);
  for (size_t i = 0; i < n; ++i) llama_sampler_accept(penalties_, tokens[i]);
}

void TokenSampler::Accept(Token t) {
  llama_sampler_accept(chain_, t);
  if (penalties_ != nullptr) llama_sampler_accept(penalties_, t);
}

Token TokenSampler::Pick(const std::vector<float>& logits) {
  auto* d = reinterpret_cast<llama_token_data*>(cur_.data());
  for (int t = 0; t < n_vocab_; ++t) d[t] = {t, logits[t], 0.0f};
  llama_token_data_array a{d, (size_t)n_vocab_, -1, false};
  llama_sampler_apply(chain_, &a);
  return a.data[a.selected].id;
}

Token TokenSampler::Sample(const float* logits, const std::vector<uint8_t>& suppressed,
                           const Grammar* grammar, bool closing) {
  for (int t = 0; t < n_vocab_; ++t) work_[t] = suppressed[t] ? kMinusInf : logits[t];
  if (penalties_ != nullptr) {  // by token id, in place (the array is in id order)
    auto* d = reinterpret_cast<llama_token_data*>(cur_.data());
    for (int t = 0; t < n_vocab_; ++t) d[t] = {t, work_[t], 0.0f};
    llama_token_data_array a{d, (size_t)n_vocab_, -1, false};
    llama_sampler_apply(penalties_, &a);
    for (size_t i = 0; i < a.size; ++i) work_[a.data[i].id] = a.data[i].logit;
  }
  if (grammar == nullptr) return Pick(work_);
  if (!closing) {
    const Token t = Pick(work_);
    if (grammar->Allows(t)) return t;
  }
  if (grammar->Mask(work_.data()) == 0) return -1;
  if (closing) {
    const Token t = grammar->ClosingToken(work_.data());
    if (t >= 0) return t;
  }
  return Pick(work_);
}

}  // namespace coolfusion
