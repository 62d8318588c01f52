// Paired comparison of two runs on the same rows: the difference in accuracy with a
// paired bootstrap 95% interval (rows resampled together, so that what the two runs
// share does not widen the interval as two separate Wilson intervals would).
#pragma once

#include <cstdint>
#include <vector>

namespace coolfusion::eval {

struct PairedDiff {
  double diff = 0;             // accuracy(a) - accuracy(b), in [-1, 1]
  double lo = 0, hi = 0;       // 95% percentile interval of the bootstrap
  int a_only = 0, b_only = 0;  // rows only a (only b) got right: McNemar's discordant pairs
};

// a[i], b[i]: row i right (1) or wrong (0) in each run. REQUIRES: a.size() == b.size().
// Deterministic: `resamples` bootstrap draws from a fixed seed.
PairedDiff CompareRuns(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b,
                       int resamples = 4000, uint32_t seed = 20240727);

}  // namespace coolfusion::eval
