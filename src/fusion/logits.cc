#include "fusion/logits.h"

#include <cmath>

namespace coolfusion {

double LogSumExp(const float* x, int n) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
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

int32_t ArgMax(const float* x, int n) {
  float mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int i = 0; i < n; ++i) mx = x[i] > mx ? x[i] : mx;
  for (int i = 0; i < n; ++i) {
    if (x[i] == mx) return i;
  }
  return 0;
}

}  // namespace coolfusion
