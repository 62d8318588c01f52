#include "fusion/logits.h"

#include <cmath>

namespace coolfusion {

namespace {
float Max(const float* x, int n) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  return mx;
}
}  // namespace

double LogSumExp(const float* x, int n) {
  const float mx = Max(x, n);
  // Sum in blocks of floats (vectorized expf), blocks accumulated in double.
  double total = 0;
  constexpr int kBlock = 4096;
  for (int b = 0; b < n; b += kBlock) {
    const int e = b + kBlock < n ? b + kBlock : n;
    float s = 0;
#pragma omp simd reduction(+ : s)
    for (int i = b; i < e; ++i) s += std::exp(x[i] - mx);
    total += s;
  }
  return std::log(total) + mx;
}

double MaskedProbability(const float* x, const uint8_t* mask, int n) {
  const float mx = Max(x, n);
  double total = 0, in = 0;
  constexpr int kBlock = 4096;
  for (int b = 0; b < n; b += kBlock) {
    const int e = b + kBlock < n ? b + kBlock : n;
    float s = 0, m = 0;
#pragma omp simd reduction(+ : s, m)
    for (int i = b; i < e; ++i) {
      const float p = std::exp(x[i] - mx);
      s += p;
      m += mask[i] ? p : 0.0f;
    }
    total += s;
    in += m;
  }
  return total > 0 ? in / total : 0;
}

int32_t ArgMax(const float* x, int n) {
  const float mx = Max(x, n);
  for (int i = 0; i < n; ++i) {
    if (x[i] == mx) return i;
  }
  return 0;
}

}  // namespace coolfusion
