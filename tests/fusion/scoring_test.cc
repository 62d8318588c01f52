// The scoring rules as pure functions: per-model perplexities of one candidate in, one
// score out (lower wins), and which models' scores counted.
#include "fusion/scoring.h"

#include "fusion/scorer.h"

#include <coolfusion/engine.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace coolfusion {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

double Score(ScoreRule rule, const std::vector<double>& ppl, std::vector<double> w = {},
             std::vector<bool>* used_out = nullptr) {
  if (w.empty()) w.assign(ppl.size(), 1.0);
  ScoringOptions o;
  o.rule = rule;
  std::vector<bool> used;
  const double s = MakeScoringRule(o)->Score(ppl, w, &used);
  if (used_out) *used_out = used;
  return s;
}

TEST(Scoring, MeanIsThePapersWeightedArithmeticMean) {
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMeanPpl, {2, 4, 9}), 5);
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMeanPpl, {2, 4}, {3, 1}), 2.5);
  EXPECT_EQ(Score(ScoreRule::kMeanPpl, {2, kInf}), kInf);  // a model that cannot encode it
}

TEST(Scoring, GeoMeanIsTheMeanLogPerplexity) {
  EXPECT_NEAR(Score(ScoreRule::kGeoMeanPpl, {1, 100}), 10, 1e-9);
  EXPECT_NEAR(Score(ScoreRule::kGeoMeanPpl, {2, 8}, {1, 0}), 2, 1e-9);  // weight 0: not counted
}

TEST(Scoring, SweetSpanDropsTheMostSurprisedModelWhileTheSpreadIsLarge) {
  std::vector<bool> used;
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kSweetSpan, {1, 2, 1000}, {}, &used), 1.5);
  EXPECT_EQ(used, (std::vector<bool>{true, true, false}));
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kSweetSpan, {3, 4, 5}, {}, &used), 4);  // within 10x: all count
  EXPECT_EQ(used, (std::vector<bool>{true, true, true}));
}

TEST(Scoring, MedianIsTheMiddleModelsPerplexity) {
  std::vector<bool> used;
  // One model's astronomic perplexity (a token it never saw) does not decide...
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMedianPpl, {1.2, 1e9, 1.5}, {}, &used), 1.5);
  EXPECT_EQ(used, (std::vector<bool>{true, true, true}));
  // ...where the arithmetic mean is that perplexity's, whatever the other two say.
  EXPECT_GT(Score(ScoreRule::kMeanPpl, {1.2, 1e9, 1.5}), 1e8);
  // Two models: the mean of the two; an even count: the mean of the middle two.
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMedianPpl, {2, 6}), 4);
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMedianPpl, {1, 2, 6, 100}), 4);
  // Weights: the weighted median; weight 0 is left out.
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMedianPpl, {1, 5, 9}, {1, 1, 3}), 9);
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMedianPpl, {1, 5, 9}, {1, 1, 0}, &used), 3);
  EXPECT_EQ(used, (std::vector<bool>{true, true, false}));
  // Infinite perplexities: in the middle, the score is infinite; at an end, not.
  EXPECT_DOUBLE_EQ(Score(ScoreRule::kMedianPpl, {1, 2, kInf}), 2);
  EXPECT_EQ(Score(ScoreRule::kMedianPpl, {1, kInf, kInf}), kInf);
  EXPECT_EQ(Score(ScoreRule::kMedianPpl, {1, 2}, {0, 0}), kInf);
}

// The rule decides the winner: candidate A is near-certain for two models and unknown to
// the third, candidate B is so-so for all three. The paper's mean picks B (A's one huge
// perplexity dominates), the median and the geometric mean pick A.
TEST(Scoring, RulesPickDifferentCandidatesOnTheSameScores) {
  const std::vector<double> a = {1.2, 1e3, 1.5}, b = {30, 40, 50};
  auto winner = [&](ScoreRule r) { return Score(r, a) < Score(r, b) ? 'A' : 'B'; };
  EXPECT_EQ(winner(ScoreRule::kMeanPpl), 'B');
  EXPECT_EQ(winner(ScoreRule::kMedianPpl), 'A');
  EXPECT_EQ(winner(ScoreRule::kGeoMeanPpl), 'A');
  EXPECT_EQ(winner(ScoreRule::kSweetSpan), 'A');  // drops the surprised model
}

// Per word (--per-word on) a candidate's perplexity is its whole negative log-probability
// over its words, whatever the tokenizer: " 12" written as " ", "1", "2" and a word end
// (4 events, 2.4 nats) is not likelier than " 3" as " ", "3" and a word end (3 events, 2.1
// nats) for its easy last digit.
TEST(Scoring, PerWordDividesTheWholeCandidateByItsWords) {
  StepCandidate twelve{" 12", false, {0}, true}, three{" 3", false, {0}, true};
  EXPECT_NEAR(CandidatePpl(twelve, 2.4, 4, false), std::exp(0.6), 1e-12);
  EXPECT_NEAR(CandidatePpl(three, 2.1, 3, false), std::exp(0.7), 1e-12);
  EXPECT_LT(CandidatePpl(twelve, 2.4, 4, false), CandidatePpl(three, 2.1, 3, false));
  EXPECT_NEAR(CandidatePpl(twelve, 2.4, 4, true), std::exp(2.4), 1e-12);
  EXPECT_NEAR(CandidatePpl(three, 2.1, 3, true), std::exp(2.1), 1e-12);
  EXPECT_GT(CandidatePpl(twelve, 2.4, 4, true), CandidatePpl(three, 2.1, 3, true));
  // Words are runs of non-space bytes; the end of generation counts as one.
  EXPECT_NEAR(CandidatePpl({" a cat\n", false, {}, true}, 4.0, 5, true), std::exp(2.0), 1e-12);
  EXPECT_NEAR(CandidatePpl({" a", true, {}, true}, 4.0, 5, true), std::exp(2.0), 1e-12);
  EXPECT_NEAR(CandidatePpl({"", true, {}, true}, 1.5, 1, true), std::exp(1.5), 1e-12);
  EXPECT_EQ(CandidatePpl(three, 0.0, 0, true), 1.0);
}

TEST(Scoring, RulesParseByName) {
  ScoreRule r;
  ASSERT_TRUE(ParseScoreRule("median", &r));
  EXPECT_EQ(r, ScoreRule::kMedianPpl);
  ASSERT_TRUE(ParseScoreRule("geomean", &r));
  EXPECT_EQ(r, ScoreRule::kGeoMeanPpl);
  EXPECT_FALSE(ParseScoreRule("avg", &r));
}

}  // namespace
}  // namespace coolfusion
