// The token sampler (llama.cpp's chain) as a function of logits, options, history and seed.
#include "backend/token_sampler.h"

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

Token S(TokenSampler& s, const std::vector<float>& logits, const std::vector<uint8_t>& suppressed) {
  return s.Sample(logits.data(), suppressed, nullptr, false);
}

TEST(Sampler, GreedyIsTheMostLikelyTokenNotSuppressed) {
  const std::vector<float> logits = {0.5f, 3.0f, 2.0f, 3.0f};
  TokenSampler s(4, Opts(0), 1);
  EXPECT_EQ(S(s, logits, {0, 0, 0, 0}), 1);  // first of the tied best
  EXPECT_EQ(S(s, logits, {0, 1, 0, 0}), 3);  // the best is a control token
  EXPECT_EQ(S(s, logits, {0, 1, 0, 1}), 2);
}

TEST(Sampler, TemperatureDrawsInProportionAndNeverASuppressedToken) {
  // softmax(log 0.7, log 0.2, log 0.1) at T = 1 is (0.7, 0.2, 0.1); token 3 is suppressed.
  const std::vector<float> logits = {std::log(0.7f), std::log(0.2f), std::log(0.1f), 10.0f};
  TokenSampler s(4, Opts(1.0f), 7);
  std::map<Token, int> n;
  const int draws = 20000;
  for (int i = 0; i < draws; ++i) n[S(s, logits, {0, 0, 0, 1})]++;
  EXPECT_EQ(n.count(3), 0u);
  EXPECT_NEAR(n[0] / (double)draws, 0.7, 0.02);
  EXPECT_NEAR(n[1] / (double)draws, 0.2, 0.02);
  EXPECT_NEAR(n[2] / (double)draws, 0.1, 0.02);
}

TEST(Sampler, LowTemperatureSharpensAndTopPCutsTheTail) {
  const std::vector<float> logits = {std::log(0.5f), std::log(0.3f), std::log(0.2f)};
  std::map<Token, int> cold, nucleus;
  TokenSampler a(3, Opts(0.2f), 3), b(3, Opts(1.0f, 0.75f), 3);
  for (int i = 0; i < 5000; ++i) {
    cold[S(a, logits, {0, 0, 0})]++;
    nucleus[S(b, logits, {0, 0, 0})]++;
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
    TokenSampler s(50, Opts(1.0f), seed);
    std::vector<Token> out;
    for (int i = 0; i < 40; ++i) out.push_back(S(s, logits, none));
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(Sampler, TopKAndMinPCutTheTail) {
  const std::vector<float> logits = {std::log(0.4f), std::log(0.3f), std::log(0.2f),
                                     std::log(0.1f)};
  SamplingOptions k = Opts(1.0f), mp = Opts(1.0f);
  k.top_k = 2;
  mp.min_p = 0.4f;  // keeps p >= 0.4 x 0.4 = 0.16: tokens 0, 1, 2
  TokenSampler a(4, k, 9), b(4, mp, 9);
  std::map<Token, int> top2, minp;
  for (int i = 0; i < 4000; ++i) {
    top2[S(a, logits, {0, 0, 0, 0})]++;
    minp[S(b, logits, {0, 0, 0, 0})]++;
  }
  EXPECT_EQ(top2.count(2) + top2.count(3), 0u);
  EXPECT_NEAR(top2[0] / 4000.0, 0.4 / 0.7, 0.03);
  EXPECT_EQ(minp.count(3), 0u);
  EXPECT_GT(minp[2], 400);  // ~0.2 / 0.9 of the draws
}

TEST(Sampler, PenaltiesLowerTokensInTheHistory) {
  const std::vector<float> logits = {2.0f, 1.9f, 1.0f};
  SamplingOptions rep = Opts(0), pres = Opts(0), freq = Opts(0);
  rep.repeat_penalty = 1.1f;       // 2.0 / 1.1 = 1.82 < 1.9
  pres.presence_penalty = 0.2f;    // 2.0 - 0.2 = 1.8
  freq.frequency_penalty = 0.06f;  // 2.0 - 2 x 0.06 = 1.88 (seen twice)
  const std::vector<Token> hist = {0, 0};
  for (SamplingOptions o : {rep, pres, freq}) {
    TokenSampler s(3, o, 1);
    EXPECT_EQ(S(s, logits, {0, 0, 0}), 0);  // no history yet
    s.ResetHistory(hist.data(), hist.size());
    EXPECT_EQ(S(s, logits, {0, 0, 0}), 1);
    s.ResetHistory(nullptr, 0);
    EXPECT_EQ(S(s, logits, {0, 0, 0}), 0);
  }
  SamplingOptions f1 = freq;
  f1.frequency_penalty = 0.06f;
  TokenSampler once(3, f1, 1);
  once.Accept(0);  // seen once: 2.0 - 0.06 = 1.94 > 1.9
  EXPECT_EQ(S(once, logits, {0, 0, 0}), 0);
  SamplingOptions off = rep;
  off.repeat_last_n = 0;
  TokenSampler none(3, off, 1);
  none.ResetHistory(hist.data(), hist.size());
  EXPECT_FALSE(none.has_penalties());
  EXPECT_EQ(S(none, logits, {0, 0, 0}), 0);
}

}  // namespace
}  // namespace coolfusion
