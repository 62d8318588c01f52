#include "fusion/scoring.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace coolfusion {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double WeightedMean(const std::vector<double>& x, const std::vector<double>& w,
                    const std::vector<bool>& used) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    if (!used[i] || w[i] <= 0) continue;
    if (std::isinf(x[i])) return kInf;
    num += w[i] * x[i];
    den += w[i];
  }
  return den > 0 ? num / den : kInf;
}

// The paper's rule: weighted arithmetic mean of perplexities.
class MeanPpl final : public ScoringRule {
 public:
  double Score(const std::vector<double>& ppl, const std::vector<double>& w,
               std::vector<bool>* used) const override {
    used->assign(ppl.size(), true);
    return WeightedMean(ppl, w, *used);
  }
};

// Weighted mean of log-perplexities, reported as a perplexity (geometric mean).
class GeoMeanPpl final : public ScoringRule {
 public:
  double Score(const std::vector<double>& ppl, const std::vector<double>& w,
               std::vector<bool>* used) const override {
    used->assign(ppl.size(), true);
    std::vector<double> logs(ppl.size());
    for (size_t i = 0; i < ppl.size(); ++i) logs[i] = std::log(std::max(ppl[i], 1e-300));
    const double m = WeightedMean(logs, w, *used);
    return std::isinf(m) ? kInf : std::exp(m);
  }
};

// SweetSpan's filter: while max/min perplexity across the counted models exceeds the
// ratio, drop the most surprised model's score; then the arithmetic mean. A model that
// cannot encode the candidate (inf) is dropped first. At least one score is kept.
class SweetSpan final : public ScoringRule {
 public:
  explicit SweetSpan(double ratio) : ratio_(ratio) {}
  double Score(const std::vector<double>& ppl, const std::vector<double>& w,
               std::vector<bool>* used) const override {
    used->assign(ppl.size(), true);
    for (size_t i = 0; i < ppl.size(); ++i) {
      if (w[i] <= 0) (*used)[i] = false;
    }
    while (true) {
      int imax = -1, imin = -1;
      int n = 0;
      for (size_t i = 0; i < ppl.size(); ++i) {
        if (!(*used)[i]) continue;
        ++n;
        if (imax < 0 || ppl[i] > ppl[imax]) imax = (int)i;
        if (imin < 0 || ppl[i] < ppl[imin]) imin = (int)i;
      }
      if (n <= 1 || !(ppl[imax] > ratio_ * ppl[imin])) break;
      (*used)[imax] = false;
    }
    return WeightedMean(ppl, w, *used);
  }

 private:
  double ratio_;
};

// Weighted median of the perplexities: the score a candidate gets from the middle model.
// One model's extreme perplexity (a token it never saw in training, a skill it lacks)
// cannot decide alone; with two models it is their arithmetic mean.
class MedianPpl final : public ScoringRule {
 public:
  double Score(const std::vector<double>& ppl, const std::vector<double>& w,
               std::vector<bool>* used) const override {
    std::vector<std::pair<double, double>> v;  // (ppl, weight)
    double total = 0;
    used->assign(ppl.size(), false);
    for (size_t i = 0; i < ppl.size(); ++i) {
      if (w[i] <= 0) continue;
      (*used)[i] = true;
      v.push_back({ppl[i], w[i]});
      total += w[i];
    }
    if (v.empty()) return kInf;
    std::sort(v.begin(), v.end());
    double cum = 0;
    for (size_t i = 0; i < v.size(); ++i) {
      cum += v[i].second;
      if (cum > total / 2 * (1 + 1e-12)) return v[i].first;
      // exactly half the weight at or below v[i]: the middle lies between v[i] and v[i+1]
      if (cum >= total / 2 * (1 - 1e-12) && i + 1 < v.size()) {
        if (std::isinf(v[i + 1].first)) return kInf;
        return (v[i].first + v[i + 1].first) / 2;
      }
    }
    return v.back().first;
  }
};

// The default: the weighted median when three or more models have weight (two that know
// the answer outvote one that does not), the weighted geometric mean when two (soft
// prompt weights act in the log domain; an arithmetic mean follows the most surprised
// model whatever its weight).
class AutoRule final : public ScoringRule {
 public:
  double Score(const std::vector<double>& ppl, const std::vector<double>& w,
               std::vector<bool>* used) const override {
    int n = 0;
    for (double x : w) n += x > 0;
    return n >= 3 ? median_.Score(ppl, w, used) : geomean_.Score(ppl, w, used);
  }

 private:
  MedianPpl median_;
  GeoMeanPpl geomean_;
};

}  // namespace

std::unique_ptr<ScoringRule> MakeScoringRule(const ScoringOptions& opts) {
  switch (opts.rule) {
    case ScoreRule::kAuto: return std::make_unique<AutoRule>();
    case ScoreRule::kGeoMeanPpl: return std::make_unique<GeoMeanPpl>();
    case ScoreRule::kSweetSpan: return std::make_unique<SweetSpan>(opts.sweetspan_ratio);
    case ScoreRule::kMedianPpl: return std::make_unique<MedianPpl>();
    case ScoreRule::kMeanPpl:
    default: return std::make_unique<MeanPpl>();
  }
}

}  // namespace coolfusion
