// The step aligner on fake vocabularies: where a draft may be cut (common word
// boundaries that no model's token straddles), and whether a step's start stays one.
#include "fusion/step_aligner.h"

#include <gtest/gtest.h>

#include "support/fake_tokenizer.h"

namespace coolfusion {
namespace {

using testing::FakeTokenizer;

// A draft of `pieces` after the shared text (tokens are numbered in order; the aligner
// reads only the text and the token ends).
Draft MakeDraft(int model, const std::vector<std::string>& pieces) {
  Draft d;
  d.model = model;
  for (const std::string& p : pieces) {
    d.tokens.push_back((Token)d.tokens.size());
    d.text += p;
    d.ends.push_back(d.text.size());
  }
  return d;
}

// Model 0 writes " ab cd ef" after "x" as " ab", " cd", " ef". Model 1 has one piece
// "b c" across the word boundary after " ab": there no cut is common.
const FakeTokenizer kWriter({" ", "a", "b", "c", "d", "e", "f", "x", " ab", " cd", " ef"});
const FakeTokenizer kStraddler({"x", " ", "a", "b", "c", "d", "e", "f", "b c"});
const FakeTokenizer kPlain({"x", " ", "a", "b", "c", "d", "e", "f"});

TEST(StepAligner, CutsAtTheFirstCommonBoundaryNoModelStraddles) {
  StepAligner al;
  al.Prepare({{&kWriter, "x", 0}, {&kStraddler, "x", 0}});
  const Draft d = MakeDraft(0, {" ab", " cd", " ef"});
  EXPECT_EQ(al.FindCut(d, /*common=*/true), 2u);   // " ab cd": "b c" straddles after " ab"
  EXPECT_EQ(al.FindCut(d, /*common=*/false), 1u);  // cool-shortest: the writer's own boundary
  EXPECT_GT(al.checks(), 0);
  // Without the straddling model the first boundary is common.
  StepAligner plain;
  plain.Prepare({{&kWriter, "x", 0}, {&kPlain, "x", 0}});
  EXPECT_EQ(plain.FindCut(d, true), 1u);
}

TEST(StepAligner, ABoundaryCountsOnlyOnceTheTextAfterItConfirmsIt) {
  StepAligner al;
  al.Prepare({{&kWriter, "x", 0}, {&kPlain, "x", 0}});
  // " ab" alone: the word could still go on ("abc"): no cut yet.
  EXPECT_EQ(al.FindCut(MakeDraft(0, {" ab"}), true), 0u);
  EXPECT_EQ(al.FindCut(MakeDraft(0, {" a", "b"}), true), 0u);
  // A space after it ends the word: the boundary before the space is confirmed.
  EXPECT_EQ(al.FindCut(MakeDraft(0, {" ab", " "}), true), 1u);
  EXPECT_EQ(al.FindCut(MakeDraft(0, {" ab", " cd"}), true), 1u);
}

TEST(StepAligner, AModelThatCannotEncodeTheDraftHasNoBoundaryInIt) {
  const FakeTokenizer no_f({"x", " ", "a", "b", "c", "d", "e"});
  StepAligner al;
  al.Prepare({{&kWriter, "x", 0}, {&no_f, "x", 0}});
  const Draft d = MakeDraft(0, {" ab", " cd", " ef", " ab"});
  EXPECT_EQ(al.FindCut(d, true), 0u);
  EXPECT_EQ(al.FindCut(d, false), 1u);
  // A model that takes no part (null tokenizer) is not asked.
  StepAligner alone;
  alone.Prepare({{&kWriter, "x", 0}, {nullptr, "x", 0}});
  EXPECT_EQ(alone.FindCut(d, true), 1u);
}

TEST(StepAligner, LastWordCutIsTheLastConfirmedBoundaryOfTheWriter) {
  StepAligner al;
  al.Prepare({{&kWriter, "x", 0}, {&kStraddler, "x", 0}});
  EXPECT_EQ(al.LastWordCut(MakeDraft(0, {" ab", " cd", " ef"})), 2u);
  EXPECT_EQ(al.LastWordCut(MakeDraft(0, {" ab"})), 0u);
}

TEST(StepAligner, TheStartStaysABoundaryUnlessAWordOrAStraddlingTokenJoinsIt) {
  StepAligner al;
  al.Prepare({{&kWriter, "x", 0}, {&kPlain, "x", 0}});
  EXPECT_TRUE(al.StartOk(" ab"));
  EXPECT_TRUE(al.StartOk(""));
  EXPECT_FALSE(al.StartOk("ab"));  // "xab": one word, the start is inside it
  EXPECT_FALSE(
      al.StartOk("\x80"
                 "ab"));  // a continuation byte never starts a segment
  const FakeTokenizer joins({"x ", "x", " ", "a", "b"});  // "x " straddles the start
  StepAligner straddled;
  straddled.Prepare({{&kWriter, "x", 0}, {&joins, "x", 0}});
  EXPECT_FALSE(straddled.StartOk(" ab"));
}

}  // namespace
}  // namespace coolfusion
