// Hot loops over a row of logits (n_vocab floats, up to ~250k): kept in one file that
// is compiled for vectorization (see src/CMakeLists.txt).
#pragma once

#include <cstdint>

namespace coolfusion {

// log(sum_i exp(x[i])), computed stably. REQUIRES: n > 0, x finite.
double LogSumExp(const float* x, int n);

// softmax(x) summed over the entries where mask[i] != 0. REQUIRES: n > 0, x finite.
double MaskedProbability(const float* x, const uint8_t* mask, int n);

// Index of the largest x[i] (the first on ties).
int32_t ArgMax(const float* x, int n);

// Exact -log softmax(x)[t] over n entries. Inline: compiled with the caller's (strict)
// floating-point flags, so that scores do not depend on this file's relaxed ones.
inline double NegLogProb(const float* x, int n, int32_t t) { return LogSumExp(x, n) - x[t]; }

}  // namespace coolfusion
