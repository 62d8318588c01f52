// ModelView's token ends: unknown after pieces that do not spell the text, and known
// again after a re-encoding from the last special token that spells it (anchors then
// work again instead of re-encoding the whole text at every step).
#include "fusion/model_view.h"

#include <gtest/gtest.h>

#include <memory>

#include "support/paths.h"

namespace coolfusion {
namespace {

TEST(ModelView, TokenEndsAreKnownAgainAfterAReencodingThatSpellsTheText) {
  ModelOptions mo;
  mo.path = testing::Vocab("gpt-2");
  mo.vocab_only = true;
  std::unique_ptr<LlamaModel> lm;
  ASSERT_TRUE(LlamaModel::Load(mo, 1, 0, &lm).ok());
  ModelView m;
  m.lm = lm.get();
  m.text = "Once upon a time there was a little girl";
  ASSERT_TRUE(lm->Tokenize(m.text, false, false, &m.tokens).ok());
  const std::vector<Token> right = m.tokens;
  const std::vector<Token> wrong(right.rbegin(), right.rend());  // does not spell the text

  m.SetEnds(0, right, Anchor{0, true});
  ASSERT_TRUE(m.ends_ok);
  const ModelView::Start anchored = m.ReencodeStart();
  EXPECT_FALSE(anchored.anchor.fragment_start);  // " girl": re-encode from its space
  EXPECT_EQ(anchored.anchor.pos, m.text.rfind(' '));

  m.SetEnds(0, wrong, Anchor{0, true});
  EXPECT_FALSE(m.ends_ok);
  EXPECT_TRUE(m.ReencodeStart().anchor.fragment_start);  // no anchor: the whole text

  // A re-encoding from an anchor leaves the ends before it unknown ...
  m.SetEnds(anchored.tokens, std::vector<Token>(right.begin() + (long)anchored.tokens, right.end()),
            anchored.anchor);
  EXPECT_FALSE(m.ends_ok);
  // ... one from the start (min_anchor) that spells the text makes them known again.
  m.SetEnds(0, right, Anchor{0, true});
  EXPECT_TRUE(m.ends_ok);
  EXPECT_EQ(m.ReencodeStart().anchor.pos, anchored.anchor.pos);
}

}  // namespace
}  // namespace coolfusion
