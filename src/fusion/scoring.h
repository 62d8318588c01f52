// Scoring rules: how per-model perplexities of one candidate become one score (lower is
// better). Pure functions, testable without models.
#pragma once

#include <coolfusion/options.h>

#include <memory>
#include <vector>

namespace coolfusion {

class ScoringRule {
 public:
  virtual ~ScoringRule() = default;
  // ppl[v]: model v's perplexity of the candidate (may be +inf: cannot encode).
  // weights[v] >= 0. Sets used[v] to whether model v's score counted.
  virtual double Score(const std::vector<double>& ppl, const std::vector<double>& weights,
                       std::vector<bool>* used) const = 0;
};

std::unique_ptr<ScoringRule> MakeScoringRule(const ScoringOptions& opts);

}  // namespace coolfusion
