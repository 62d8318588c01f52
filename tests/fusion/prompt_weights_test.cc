// Prompt weights, models that sit out, the default rule and word ends: the pure functions
// on constructed cases, then the engine on the committed zoo (models/), whose models each
// lack one operation and find its questions surprising.
#include "fusion/prompt_weights.h"

#include <coolfusion/engine.h>

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "eval/paired.h"
#include "fusion/scoring.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

using testing::Shared;
using testing::Zoo;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

TEST(PromptWeights, CountsTokensOverlappingContentAfterTheFirstWord) {
  // "Hi there you": tokens "Hi" | " there" | " you" (ends 2, 8, 12), a BOS first (end 0).
  const std::string text = "Hi there you";
  const std::vector<size_t> ends = {0, 2, 8, 12};
  // A raw prompt: all of it is content, its first word is skipped for every model.
  EXPECT_EQ(CountedTokenBytes(text, ends, {{0, 12}}), (std::vector<size_t>{0, 0, 6, 4}));
  // Chat: the content is " you" only (the rest is template text); it starts after 0, so
  // nothing is skipped and only the token overlapping it counts.
  EXPECT_EQ(CountedTokenBytes(text, ends, {{8, 12}}), (std::vector<size_t>{0, 0, 0, 4}));
  // A token straddling the content's start counts whole.
  EXPECT_EQ(CountedTokenBytes(text, ends, {{5, 6}}), (std::vector<size_t>{0, 0, 6, 0}));
  // No BOS: token 0 has no logits before it and never counts.
  EXPECT_EQ(CountedTokenBytes(text, {2, 8, 12}, {{0, 12}}), (std::vector<size_t>{0, 6, 4}));
  // Only tokens that start within the last `window` bytes of content count.
  EXPECT_EQ(CountedTokenBytes(text, ends, {{0, 12}}, 4), (std::vector<size_t>{0, 0, 0, 4}));
  EXPECT_EQ(CountedTokenBytes(text, ends, {{0, 12}}, 5), (std::vector<size_t>{0, 0, 0, 4}));
  // Across contents: the window spans the last content and the end of the one before.
  EXPECT_EQ(CountedTokenBytes(text, ends, {{2, 5}, {8, 12}}, 7), (std::vector<size_t>{0, 0, 6, 4}));
  EXPECT_EQ(CountedTokenBytes(text, ends, {{2, 5}, {8, 12}}, 6),
            (std::vector<size_t>{0, 0, 0, 4}));  // starts before
  EXPECT_EQ(CountedTokenBytes(text, ends, {{2, 5}, {8, 12}}, 4), (std::vector<size_t>{0, 0, 0, 4}));
  // A 600-byte prompt counts its last 128 bytes by default.
  std::string big;
  for (int i = 0; i < 150; ++i) big += "abc ";
  std::vector<size_t> big_ends;
  for (size_t e = 0; e <= 600; e += 4) big_ends.push_back(e);
  size_t counted = 0;
  for (size_t b : CountedTokenBytes(big, big_ends, {{0, 600}})) counted += b;
  EXPECT_EQ(counted, kPromptFitBytes);
}

// Issue 25: with little evidence the weights stay near equal and nobody sits out: below
// `evidence` bytes the temperature grows as temp x evidence / bytes.
TEST(PromptWeights, ADifferenceReadOnFewBytesMovesLittleWeight) {
  const std::vector<bool> all = {true, true};
  const std::vector<double> bpb = {3.99, 5.19};  // aidreams260K, stories260K on "hi\n"
  std::vector<double> w = PromptWeights(bpb, {3, 3}, {1, 1}, all, 0.25, 0.01, 32);
  EXPECT_NEAR(w[1], std::exp(-1.2 / (0.25 * 32 / 3)), 1e-12);  // 0.64
  EXPECT_GT(w[1], 0.6);
  w = PromptWeights(bpb, {3, 3}, {1, 1}, all, 0.25, 0.01, 0);
  EXPECT_EQ(w[1], 0.0);  // without it: sits out (what a 3-byte "hi" did before)
  // From `evidence` bytes on, the temperature is temp: the zoo's questions (~80 bytes).
  w = PromptWeights(bpb, {32, 40}, {1, 1}, all, 0.25, 0.01, 32);
  EXPECT_EQ(w[1], 0.0);
  w = PromptWeights({0.2, 0.3}, {81, 81}, {1, 1}, all, 0.25, 0.01, 32);
  EXPECT_NEAR(w[1], std::exp(-0.1 / 0.25), 1e-12);
  // The evidence is what both were measured on: the fewer bytes count.
  w = PromptWeights({0.2, 0.3}, {81, 8}, {1, 1}, all, 0.25, 0.01, 32);
  EXPECT_NEAR(w[1], std::exp(-0.1 / 1.0), 1e-12);
  // Nothing measured (0 bytes): equal.
  w = PromptWeights({0.2, 9.0}, {0, 0}, {1, 1}, all, 0.25, 0.01, 32);
  EXPECT_EQ(w, (std::vector<double>{1.0, 1.0}));
}

TEST(PromptWeights, FollowTheFormulaAndSitModelsOut) {
  const std::vector<bool> all = {true, true, true};
  // w = exp(-(bpb - best) / T), divided by the largest.
  std::vector<double> w =
      PromptWeights({0.2, 0.3, 1.5}, {100, 100, 100}, {1, 1, 1}, all, 0.25, 0.01, 0);
  EXPECT_DOUBLE_EQ(w[0], 1.0);
  EXPECT_NEAR(w[1], std::exp(-0.1 / 0.25), 1e-12);
  EXPECT_EQ(w[2], 0.0);  // exp(-1.3 / 0.25) = 0.0055 < 0.01: sits out
  // Without a threshold it keeps its (tiny) weight.
  w = PromptWeights({0.2, 0.3, 1.5}, {100, 100, 100}, {1, 1, 1}, all, 0.25, 0, 0);
  EXPECT_NEAR(w[2], std::exp(-1.3 / 0.25), 1e-12);
  // A higher temperature flattens the weights.
  w = PromptWeights({0.2, 0.3, 1.5}, {100, 100, 100}, {1, 1, 1}, all, 1.0, 0.01, 0);
  EXPECT_NEAR(w[2], std::exp(-1.3), 1e-12);
  // The user's weights multiply; the largest product is 1.
  w = PromptWeights({0.2, 0.2, 0.2}, {100, 100, 100}, {2, 1, 0}, all, 0.25, 0.01, 0);
  EXPECT_EQ(w, (std::vector<double>{1.0, 0.5, 0.0}));
  // Not measured (NaN) keeps the user weight as if it fit best; a model left out gets 0.
  w = PromptWeights({kNaN, 0.2, 0.3}, {100, 100, 100}, {1, 1, 1}, {true, true, false}, 0.25, 0.01,
                    0);
  EXPECT_EQ(w, (std::vector<double>{1.0, 1.0, 0.0}));
  // The best fit is taken among models that take part: a left-out model's low bpb does
  // not push the others down.
  w = PromptWeights({0.0, 1.0, 1.1}, {100, 100, 100}, {1, 1, 1}, {false, true, true}, 0.25, 0.01,
                    0);
  EXPECT_DOUBLE_EQ(w[1], 1.0);
  EXPECT_NEAR(w[2], std::exp(-0.1 / 0.25), 1e-12);
}

double RuleScore(ScoreRule rule, const std::vector<double>& ppl, const std::vector<double>& w) {
  ScoringOptions o;
  o.rule = rule;
  std::vector<bool> used;
  return MakeScoringRule(o)->Score(ppl, w, &used);
}

TEST(PromptWeights, AutoIsTheMedianForThreeAndTheGeometricMeanForTwo) {
  // Two candidates; the third model is wildly surprised by the first one.
  const std::vector<double> x = {2, 3, 1e9}, y = {40, 50, 1};
  const std::vector<double> three = {1, 1, 1};
  EXPECT_EQ(RuleScore(ScoreRule::kAuto, x, three), RuleScore(ScoreRule::kMedianPpl, x, three));
  EXPECT_LT(RuleScore(ScoreRule::kAuto, x, three),
            RuleScore(ScoreRule::kAuto, y, three));  // x wins
  EXPECT_GT(RuleScore(ScoreRule::kMeanPpl, x, three),
            RuleScore(ScoreRule::kMeanPpl, y, three));  // mean: y
  // With the third model's weight at 0, two take part: the geometric mean of the two.
  const std::vector<double> two = {1, 1, 0};
  EXPECT_NEAR(RuleScore(ScoreRule::kAuto, x, two), std::sqrt(6.0), 1e-12);
  // A soft weight acts in the log domain: 1e9 at weight 0.01 no longer rules.
  const std::vector<double> soft = {1, 0.01};
  EXPECT_LT(RuleScore(ScoreRule::kAuto, {1, 1e9}, soft),
            RuleScore(ScoreRule::kAuto, {300, 1}, soft));
  EXPECT_GT(RuleScore(ScoreRule::kMeanPpl, {1, 1e9}, soft),
            RuleScore(ScoreRule::kMeanPpl, {300, 1}, soft));
}

TEST(PairedDiff, BootstrapIntervalAroundThePairedDifference) {
  std::vector<uint8_t> a(100, 1), b(100, 1);
  for (int i = 0; i < 30; ++i) b[i] = 0;  // a is right on 30 rows b misses
  b[99] = 1, a[99] = 0;                   // and wrong on one b gets
  const eval::PairedDiff d = eval::CompareRuns(a, b);
  EXPECT_NEAR(d.diff, 0.29, 1e-12);
  EXPECT_EQ(d.a_only, 30);
  EXPECT_EQ(d.b_only, 1);
  EXPECT_LT(d.lo, d.diff);
  EXPECT_GT(d.hi, d.diff);
  EXPECT_GT(d.lo, 0.15);  // paired: far narrower than two Wilson intervals
  EXPECT_LT(d.hi, 0.42);
  const eval::PairedDiff same = eval::CompareRuns(a, a);
  EXPECT_EQ(same.diff, 0);
  EXPECT_EQ(same.lo, 0);
  EXPECT_EQ(same.hi, 0);
  // Swapping the runs flips the sign.
  const eval::PairedDiff r = eval::CompareRuns(b, a);
  EXPECT_NEAR(r.diff, -0.29, 1e-12);
}

std::unique_ptr<Ensemble> OpenZoo(const std::vector<std::string>& paths,
                                  std::vector<double> weights = {}) {
  std::vector<ModelOptions> mo;
  for (size_t i = 0; i < paths.size(); ++i) {
    ModelOptions o;
    o.path = paths[i];
    o.n_threads = 1;
    if (i < weights.size()) o.weight = weights[i];
    mo.push_back(o);
  }
  std::unique_ptr<Ensemble> e;
  const Status st = Ensemble::Open(mo, &e);
  if (!st.ok()) ADD_FAILURE() << st.message();
  return e;
}

const char kSubtraction[] =
    "Question: Ann has 23 shells. Ann gives 8 shells to Ben. How many shells does Ann have "
    "now?\nAnswer:";

// `alone`: word ends and prompt weights without the gate and confidence weights (on by
// default under auto, docs/confidence.md), which also turn the word-end test's row.
GenerationResult Fuse(Ensemble& e, const std::string& prompt, ScoreRule rule,
                      Switch pw = Switch::kDefault, Switch we = Switch::kDefault,
                      bool alone = false) {
  Request req;
  req.prompt = prompt;
  req.options.max_new_tokens = 32;
  req.options.scoring.rule = rule;
  req.options.scoring.prompt_weights = pw;
  req.options.scoring.word_end = we;
  if (alone) {
    req.options.scoring.confidence = Switch::kOff;
    req.options.peer.gate = 1;
  }
  // Word ends are measured on the prompt's own cut: token healing would change the first
  // step these tests look at. Each call reads its prompt afresh: a prompt from the cache was
  // decoded in other batches, and the last bits of its logits flip the near-tie that the
  // word-end test below shows ("1" against "14").
  req.options.token_healing = Switch::kOff;
  req.options.cache_prompt = false;
  GenerationResult r;
  const Status st = e.Generate(req, nullptr, &r);
  EXPECT_TRUE(st.ok()) << st.message();
  return r;
}

TEST(PromptWeights, TheModelThatLacksTheSkillSitsOutByDefault) {
  auto e = OpenZoo({Zoo("a"), Zoo("b"), Zoo("c")});
  ASSERT_TRUE(e);
  // C never saw a subtraction: the question itself surprises it.
  const GenerationResult r = Fuse(*e, kSubtraction, ScoreRule::kAuto);
  ASSERT_EQ(r.models.size(), 3u);
  for (const ModelReport& m : r.models) {
    EXPECT_TRUE(std::isfinite(m.prompt_bits_per_byte));
    EXPECT_GT(m.prompt_bytes, 60u);  // the prompt after its first word
  }
  EXPECT_LT(r.models[0].prompt_bits_per_byte, 0.5);
  EXPECT_LT(r.models[1].prompt_bits_per_byte, 0.5);
  EXPECT_GT(r.models[2].prompt_bits_per_byte, 1.0);
  EXPECT_TRUE(r.models[2].sat_out);
  EXPECT_TRUE(r.models[2].sat_out_for_prompt);  // its fit to the prompt, not its weight=
  EXPECT_FALSE(r.models[2].active);
  EXPECT_EQ(r.models[2].weight, 0);
  EXPECT_EQ(r.counters.sat_out, 1);
  EXPECT_TRUE(r.models[0].active && r.models[1].active);
  // It costs nothing past its prompt: it wrote no candidate and decoded nothing.
  for (const Segment& s : r.segments) {
    EXPECT_EQ(s.decode_calls[2], 0);
    for (const Candidate& c : s.candidates) {
      for (int w : c.writers) EXPECT_NE(w, 2);
    }
  }
  EXPECT_EQ(r.text.substr(0, 12), " 23 - 8 = 15");
  // The paper's rule is untouched: no prompt weights, and the model that cannot subtract
  // rules the mean (docs/zoo.md): the answer is wrong.
  const GenerationResult mean = Fuse(*e, kSubtraction, ScoreRule::kMeanPpl);
  EXPECT_EQ(mean.counters.sat_out, 0);
  for (const ModelReport& m : mean.models) {
    EXPECT_TRUE(std::isnan(m.prompt_bits_per_byte));
    EXPECT_TRUE(m.active);
    EXPECT_EQ(m.weight, 1);
  }
  EXPECT_EQ(mean.text.find("15"), std::string::npos) << mean.text;
  // Prompt weights on under the mean: C sits out there too.
  const GenerationResult mean_pw = Fuse(*e, kSubtraction, ScoreRule::kMeanPpl, Switch::kOn);
  EXPECT_EQ(mean_pw.counters.sat_out, 1);
  EXPECT_EQ(mean_pw.text.substr(0, 12), " 23 - 8 = 15");
}

TEST(PromptWeights, AZeroUserWeightSitsOutAndTheLastModelNeverDoes) {
  auto e = OpenZoo({Zoo("a"), Zoo("c")}, {1, 0});
  ASSERT_TRUE(e);
  const GenerationResult r = Fuse(*e, kSubtraction, ScoreRule::kMeanPpl);
  EXPECT_TRUE(r.models[1].sat_out);
  EXPECT_FALSE(r.models[1].sat_out_for_prompt);  // for its weight=
  EXPECT_EQ(r.counters.sat_out, 1);
  EXPECT_EQ(r.text.substr(0, 12), " 23 - 8 = 15");  // A alone
  // --sit-out holds without prompt weights too: a weight under it of the largest sits out.
  auto tiny = OpenZoo({Zoo("a"), Zoo("c")}, {1, 0.005});
  ASSERT_TRUE(tiny);
  const GenerationResult t = Fuse(*tiny, kSubtraction, ScoreRule::kMeanPpl);
  EXPECT_TRUE(t.models[1].sat_out);
  EXPECT_FALSE(t.models[1].sat_out_for_prompt);
  EXPECT_EQ(t.text.substr(0, 12), " 23 - 8 = 15");
  auto none = OpenZoo({Zoo("a"), Zoo("c")}, {0, 0});
  ASSERT_TRUE(none);
  const GenerationResult n = Fuse(*none, kSubtraction, ScoreRule::kAuto);
  EXPECT_EQ(n.counters.sat_out, 0);
  EXPECT_FALSE(n.text.empty());
}

TEST(PromptWeights, ChatMeasuresTheContentsNotTheTemplate) {
  auto e = OpenZoo({Zoo("a"), Zoo("b")});
  ASSERT_TRUE(e);
  Request req;
  req.messages = {{"system", "Answer the question."}, {"user", "Ann has 23 shells."}};
  req.options.max_new_tokens = 4;
  GenerationResult r;
  ASSERT_TRUE(e->Generate(req, nullptr, &r).ok());
  const size_t content =
      std::string("Answer the question.").size() + std::string("Ann has 23 shells.").size();
  for (const ModelReport& m : r.models) {
    EXPECT_GT(m.prompt_bytes, content / 2);
    EXPECT_LE(m.prompt_bytes, content + 4);  // a token may straddle a content's edge
  }
}

TEST(PromptWeights, BadOptionsAreOneLineErrors) {
  auto e = OpenZoo({Zoo("a"), Zoo("b")});
  ASSERT_TRUE(e);
  for (double t : {0.0, -1.0, kNaN, std::numeric_limits<double>::infinity()}) {
    Request req;
    req.prompt = "Question: x";
    req.options.scoring.prompt_temp = t;
    GenerationResult r;
    const Status st = e->Generate(req, nullptr, &r);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << t;
    EXPECT_NE(st.message().find("--prompt-temp"), std::string::npos);
    EXPECT_EQ(e->Validate(req).code(), Status::Code::kInvalidArgument);
  }
  for (double s : {-0.1, 1.0, kNaN}) {
    Request req;
    req.prompt = "Question: x";
    req.options.scoring.sit_out = s;
    EXPECT_EQ(e->Validate(req).code(), Status::Code::kInvalidArgument) << s;
  }
  for (double w : {-1.0, kNaN, std::numeric_limits<double>::infinity()}) {
    ModelOptions o;
    o.path = Zoo("a");
    o.weight = w;
    std::unique_ptr<Ensemble> bad;
    const Status st = Ensemble::Open({o}, &bad);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << w;
    EXPECT_NE(st.message().find("weight"), std::string::npos);
  }
}

// Word ends: a weaker model that stops a number early ("1" for "14") must not win for
// proposing a likely prefix of the stronger model's word.
TEST(WordEnds, AShortPrefixOfALongerWordDoesNotWinForBeingLikely) {
  auto e = OpenZoo({Zoo("b"), Zoo("b-weak")});
  ASSERT_TRUE(e);
  const std::string prompt =
      "Question: Gus has 19 cards. Gus gives 14 cards to Cara. How many cards does Gus have "
      "now?\nAnswer:";
  const GenerationResult on = Fuse(*e, prompt, ScoreRule::kAuto);
  EXPECT_EQ(on.text.substr(0, 12), " 19 - 14 = 5") << on.text;
  const GenerationResult alone =
      Fuse(*e, prompt, ScoreRule::kAuto, Switch::kDefault, Switch::kDefault, true);
  EXPECT_EQ(alone.text.substr(0, 12), " 19 - 14 = 5") << alone.text;
  const GenerationResult off =
      Fuse(*e, prompt, ScoreRule::kAuto, Switch::kDefault, Switch::kOff, true);
  EXPECT_EQ(off.text.substr(0, 9), " 19 - 1 =") << off.text;  // "1" beat "14"
  // Under an explicit rule word ends are off unless asked.
  const GenerationResult mean = Fuse(*e, prompt, ScoreRule::kMeanPpl);
  EXPECT_EQ(mean.text, Fuse(*e, prompt, ScoreRule::kMeanPpl, Switch::kOff, Switch::kOff).text);
  const GenerationResult mean_on = Fuse(*e, prompt, ScoreRule::kMeanPpl, Switch::kOff, Switch::kOn);
  EXPECT_EQ(mean_on.text.substr(0, 12), " 19 - 14 = 5") << mean_on.text;
}

}  // namespace
}  // namespace coolfusion
