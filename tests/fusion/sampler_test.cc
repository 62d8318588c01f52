// The sampler as a pure function of logits, options and seed.
#include "fusion/sampler.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace coolfusion {
namespace {

SamplingOptions Opts(float temp, float top_p = 1.0f) {
  SamplingOptions o;
  o.temperature = temp;
  o.top_p = top_p;
  return o;
}

TEST(Sampler, GreedyIsTheMostLikelyTokenNotSuppressed) {
  const std::vector<float> logits = {0.5f, 3.0f, 2.0f, 3.0f};
  Sampler s(Opts(0), 1);
  EXPECT_EQ(s.Sample(logits.data(), 4, {0, 0, 0, 0}), 1);  // first of the tied best
  EXPECT_EQ(s.Sample(logits.data(), 4, {0, 1, 0, 0}), 3);  // the best is a control token
  EXPECT_EQ(s.Sample(logits.data(), 4, {0, 1, 0, 1}), 2);
}

TEST(Sampler, TemperatureDrawsInProportionAndNeverASuppressedToken) {
  // softmax(log 0.7, log 0.2, log 0.1) at T = 1 is (0.7, 0.2, 0.1); token 3 is suppressed.
  const std::vector<float> logits = {std::log(0.7f), std::log(0.2f), std::log(0.1f), 10.0f};
  Sampler s(Opts(1.0f), 7);
  std::map<Token, int> n;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) n[s.Sample(logits.data(), 4, {0, 0, 0, 1})]++;
  EXPECT_EQ(n.count(3), 0u);
  EXPECT_NEAR(n[0] / (double)draws, 0.7, 0.02);
  EXPECT_NEAR(n[1] / (double)draws, 0.2, 0.02);
  EXPECT_NEAR(n[2] / (double)draws, 0.1, 0.02);
}

TEST(Sampler, LowTemperatureSharpensAndTopPCutsTheTail) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  std::map<Token, int> cold, nucleus;
  Sampler a(Opts(0.2f), 3), b(Opts(1.0f, 0.75f), 3);
  for (int i = 0; i < 5000; ++i) {
    cold[a.Sample(logits.data(), 3, {0, 0, 0})]++;
    nucleus[b.Sample(logits.data(), 3, {0, 0, 0})]++;
  }
  EXPECT_GT(cold[0], 4500);         // (0.5/0.3)^5 ~ 13x more likely than the next
  EXPECT_EQ(nucleus.count(2), 0u);  // 0.5 + 0.3 reach 0.75: the 0.2 token is cut
  EXPECT_NEAR(nucleus[0] / 5000.0, 0.5 / 0.8, 0.03);
}

TEST(Sampler, TheSeedDecidesTheSequence) {
  std::vector<float> logits(50);
  for (int t = 0; t < 50; ++t) logits[t] = 0.1f * (float)t;
  const std::vector<uint8_t> none(50, 0);
  auto run = [&](uint32_t seed) {
    Sampler s(Opts(1.0f), seed);
    std::vector<Token> out;
    for (int i = 0; i < 40; ++i) out.push_back(s.Sample(logits.data(), 50, none));
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

}  // namespace
}  // namespace coolfusion
