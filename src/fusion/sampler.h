// Sampler: picks a draft's next token from a model's logits. A pure function of the
// logits, the options and its own seeded generator (one Sampler per model).
//   temperature 0 (greedy): the most likely token that is not suppressed (the first on
//     ties);
//   temperature > 0: softmax at that temperature over the tokens that are not
//     suppressed, cut to the smallest most-likely set whose mass reaches top_p, and one
//     token drawn from it in proportion.
#pragma once

#include <coolfusion/options.h>

#include <cstdint>
#include <random>
#include <vector>

#include "backend/tokenizer.h"

namespace coolfusion {

class Sampler {
 public:
  Sampler(const SamplingOptions& opts, uint32_t seed) : opts_(opts), rng_(seed) {}

  // REQUIRES: n > 0, suppressed.size() >= n (1: never sampled), some token not suppressed.
  Token Sample(const float* logits, int n, const std::vector<uint8_t>& suppressed);

 private:
  SamplingOptions opts_;
  std::mt19937 rng_;
};

}  // namespace coolfusion
