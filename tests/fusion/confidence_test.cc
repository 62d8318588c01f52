// The default's two readings of how sure each model is (docs/confidence.md): the gate (the
// leading model, sure of its own candidate, writes the segment alone) and confidence
// weights (each model's weight in a step times its probability of its own candidate). On
// the zoo's traced rows: each refinement turns the row it was made for, and off (or under
// the paper's rule) the row goes back to what it was.
#include <coolfusion/engine.h>

#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "support/open.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

using testing::Open;
using testing::SourceDir;
using testing::Zoo;

std::string Overlap(const std::string& name) {
  return SourceDir() + "/models/overlap-" + name + ".gguf";
}

// facts3: model A knows Vimrk's colour (blue) and reads the prompt best; B is as sure of a
// wrong one (yellow) and A's doubt about "yellow" is halved by its two tokens.
const char kVimrk[] = "Question: What is the favourite colour of Vimrk?\nAnswer:";
// arith3: overlap-b writes 24, the weak model 18 and reads the story a little better.
const char kFinn[] =
    "Question: Finn has 8 bags with 3 books in each bag. How many books does Finn have?\n"
    "Answer:";

GenerationResult Gen(Ensemble& e, const char* prompt, double gate, Switch confidence,
                     ScoreRule rule = ScoreRule::kAuto, const std::string& method = "") {
  Request req;
  req.prompt = prompt;
  req.options.max_new_tokens = 12;
  req.options.peer.gate = gate;
  req.options.scoring.confidence = confidence;
  req.options.scoring.rule = rule;
  req.options.method = method;
  GenerationResult r;
  const Status st = e.Generate(req, nullptr, &r);
  EXPECT_TRUE(st.ok()) << st.message();
  return r;
}

TEST(Gate, TheLeadingModelSureOfItsCandidateWritesItAlone) {
  auto e = Open({Zoo("a"), Zoo("b")});
  ASSERT_TRUE(e);
  // The default (gate 0.8 under auto): A leads (weight 1 against B's 0.65) and gives " blue"
  // 0.97.
  const GenerationResult d = Gen(*e, kVimrk, 0, Switch::kDefault);
  ASSERT_FALSE(d.segments.empty());
  EXPECT_EQ(d.segments[0].text, " blue");
  EXPECT_TRUE(d.segments[0].gated);
  EXPECT_GE(d.counters.gated_segments, 1);
  // The scores are still there, and they say " yellow": the gate decided.
  const Segment& s = d.segments[0];
  ASSERT_EQ(s.candidates.size(), 2u);
  EXPECT_GT(s.candidates[s.winning_candidate].score, s.candidates[1 - s.winning_candidate].score);
  // The gate off (1), confidence kept: the scores decide.
  const GenerationResult off = Gen(*e, kVimrk, 1, Switch::kDefault);
  EXPECT_EQ(off.segments[0].text, " yellow");
  EXPECT_FALSE(off.segments[0].gated);
  EXPECT_EQ(off.counters.gated_segments, 0);
  // A gate A does not reach (its 0.97 is below 0.99) does nothing either.
  EXPECT_EQ(Gen(*e, kVimrk, 0.99, Switch::kDefault).segments[0].text, " yellow");
  // The paper's rule: no gate unless asked.
  EXPECT_FALSE(Gen(*e, kVimrk, 0, Switch::kDefault, ScoreRule::kMeanPpl).segments[0].gated);
  EXPECT_TRUE(Gen(*e, kVimrk, 0.8, Switch::kDefault, ScoreRule::kMeanPpl).segments[0].gated);
  // cool+r's Cool answer and cool-shortest are gated too.
  EXPECT_GE(Gen(*e, kVimrk, 0, Switch::kDefault, ScoreRule::kAuto, "cool-shortest")
                .counters.gated_segments,
            1);
}

TEST(Confidence, AModelUnsureOfItsOwnCandidateWeighsLess) {
  auto e = Open({Overlap("b"), Overlap("weak")});
  ASSERT_TRUE(e);
  const GenerationResult on = Gen(*e, kFinn, 0, Switch::kDefault);
  const GenerationResult off = Gen(*e, kFinn, 0, Switch::kOff);
  EXPECT_NE(on.text.find("= 24\n"), std::string::npos) << on.text;
  EXPECT_NE(off.text.find("= 18\n"), std::string::npos) << off.text;
  // The step where they differ: each weight is the request's (the prompt weight) times a
  // probability, so below it, and the weak model's falls further.
  bool seen = false;
  for (const Segment& s : on.segments) {
    if (s.candidates.size() < 2) continue;
    seen = true;
    ASSERT_EQ(s.weights.size(), 2u);
    EXPECT_FALSE(s.gated);
    for (size_t v = 0; v < 2; ++v) {
      EXPECT_GT(s.weights[v], 0);
      EXPECT_LT(s.weights[v], on.models[v].weight);
    }
    EXPECT_LT(s.weights[1] / on.models[1].weight, s.weights[0] / on.models[0].weight);
  }
  EXPECT_TRUE(seen);
  // Off, a step's weights are the request's.
  for (const Segment& s : off.segments) {
    if (s.candidates.size() < 2) continue;
    for (size_t v = 0; v < 2; ++v) EXPECT_DOUBLE_EQ(s.weights[v], off.models[v].weight);
  }
}

TEST(Gate, IsRefusedByAMethodWithoutOne) {
  auto e = Open({Zoo("a"), Zoo("b")});
  ASSERT_TRUE(e);
  auto gated = [&](const char* method) {
    Request req;
    req.prompt = kVimrk;
    req.options.max_new_tokens = 4;
    req.options.method = method;
    req.options.peer.gate = 0.5;
    GenerationResult r;
    return e->Generate(req, nullptr, &r);
  };
  for (const char* m : {"rerank", "unite", "adafuse", "safe"}) {
    const Status st = gated(m);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << m;
    EXPECT_NE(st.message().find("has no gate"), std::string::npos) << st.message();
  }
  for (const char* m : {"cool", "cool-shortest", "cool+r", "gac"}) EXPECT_TRUE(gated(m).ok()) << m;
}

// A model fused with itself is still that model alone: both are sure of the same text.
TEST(Gate, AModelWithItselfIsItsOwnGreedyText) {
  auto e = Open({Overlap("weak"), Overlap("weak")});
  ASSERT_TRUE(e);
  Request req;
  req.prompt = kFinn;
  req.options.max_new_tokens = 12;
  GenerationResult fused, alone;
  ASSERT_TRUE(e->Generate(req, nullptr, &fused).ok());
  req.options.only_model = 0;
  ASSERT_TRUE(e->Generate(req, nullptr, &alone).ok());
  EXPECT_EQ(fused.text, alone.text);
}

}  // namespace
}  // namespace coolfusion
