#include "fusion/sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "fusion/logits.h"

namespace coolfusion {

Token Sampler::Sample(const float* logits, int n, const std::vector<uint8_t>& suppressed) {
  if (opts_.temperature <= 0) {
    const Token fast = ArgMax(logits, n);
    if (!suppressed[fast]) return fast;
    Token best = -1;  // rare: the best token is a control token; skip all of them
    for (Token t = 0; t < n; ++t) {
      if (suppressed[t]) continue;
      if (best < 0 || logits[t] > logits[best]) best = t;
    }
    return best;
  }
  const double temp = opts_.temperature;
  std::vector<std::pair<double, Token>> p;
  p.reserve(n);
  float mx = -std::numeric_limits<float>::infinity();
  for (Token t = 0; t < n; ++t) {
    if (!suppressed[t]) mx = std::max(mx, logits[t]);
  }
  double sum = 0;
  for (Token t = 0; t < n; ++t) {
    if (suppressed[t]) continue;
    const double e = std::exp((logits[t] - mx) / temp);
    p.push_back({e, t});
    sum += e;
  }
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  double keep = 0;
  size_t cut = p.size();
  for (size_t i = 0; i < p.size(); ++i) {
    keep += p[i].first / sum;
    if (keep >= opts_.top_p) {
      cut = i + 1;
      break;
    }
  }
  double total = 0;
  for (size_t i = 0; i < cut; ++i) total += p[i].first;
  std::uniform_real_distribution<double> u(0, total);
  double r = u(rng_);
  for (size_t i = 0; i < cut; ++i) {
    r -= p[i].first;
    if (r <= 0) return p[i].second;
  }
  return p[cut - 1].second;
}

}  // namespace coolfusion
