#include "eval/paired.h"

#include <algorithm>
#include <random>

namespace coolfusion::eval {

PairedDiff CompareRuns(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int resamples,
                       uint32_t seed) {
  PairedDiff r;
  const size_t n = std::min(a.size(), b.size());
  if (n == 0) return r;
  std::vector<int> d(n);
  long sum = 0;
  for (size_t i = 0; i < n; ++i) {
    d[i] = (int)(a[i] != 0) - (int)(b[i] != 0);
    sum += d[i];
    r.a_only += d[i] > 0;
    r.b_only += d[i] < 0;
  }
  r.diff = (double)sum / (double)n;
  if (r.a_only == 0 && r.b_only == 0) {  // the runs agree on every row
    r.lo = r.hi = 0;
    return r;
  }
  std::mt19937 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, n - 1);
  std::vector<double> means((size_t)resamples);
  for (int k = 0; k < resamples; ++k) {
    long s = 0;
    for (size_t i = 0; i < n; ++i) s += d[pick(rng)];
    means[(size_t)k] = (double)s / (double)n;
  }
  std::sort(means.begin(), means.end());
  r.lo = means[(size_t)(0.025 * (resamples - 1))];
  r.hi = means[(size_t)(0.975 * (resamples - 1))];
  return r;
}

}  // namespace coolfusion::eval
