// VocabUnion: entries by bytes across a 512-piece (stories260K, SentencePiece) and a
// 50k-piece (GPT-2 BPE) vocabulary.
#include "align/vocab_union.h"

#include <gtest/gtest.h>

#include <memory>

#include "backend/llama_model.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

std::unique_ptr<LlamaModel> LoadVocab(const std::string& path) {
  ModelOptions mo;
  mo.path = path;
  mo.vocab_only = true;
  std::unique_ptr<LlamaModel> m;
  Status st = LlamaModel::Load(mo, 1, 0, &m);
  EXPECT_TRUE(st.ok()) << st.message();
  return m;
}

void AddModel(VocabUnion* u, const LlamaModel& lm) {
  u->Add(lm, lm.n_vocab(), [&](Token t) {
    if (lm.IsEog(t)) return VocabUnion::Kind::kEnd;
    if (lm.IsSuppressed(t) || lm.IsControl(t)) return VocabUnion::Kind::kControl;
    return VocabUnion::Kind::kText;
  });
}

Token TokenSpelling(const LlamaModel& lm, std::string_view s) {
  for (Token t = 0; t < lm.n_vocab(); ++t) {
    if (!lm.IsControl(t) && lm.Piece(t) == s) return t;
  }
  return -1;
}

TEST(VocabUnion, TokenizersThatSpellTheSameStringWithDifferentIdsMeetInOneEntry) {
  auto spm = LoadVocab(testing::Shared("stories260K"));
  auto bpe = LoadVocab(testing::Tiny("gpt-2"));
  ASSERT_TRUE(spm && bpe);
  ASSERT_EQ(spm->n_vocab(), 512);
  ASSERT_GT(bpe->n_vocab(), 50000);
  VocabUnion u;
  AddModel(&u, *spm);
  AddModel(&u, *bpe);
  ASSERT_EQ(u.n_models(), 2u);
  size_t shared = 0;
  for (const char* s : {" the", " a", "e", " was", ".", ","}) {
    const Token a = TokenSpelling(*spm, s), b = TokenSpelling(*bpe, s);
    ASSERT_GE(a, 0) << s;
    ASSERT_GE(b, 0) << s;
    EXPECT_NE(a, b) << s;  // different ids...
    const int32_t e = u.Entry(0, a);
    EXPECT_EQ(e, u.Entry(1, b)) << s;  // ...one entry
    EXPECT_EQ(u.bytes(e), s);
    EXPECT_EQ(u.Find(s), e);
    EXPECT_EQ(u.TokenOf(0, e), a);
    EXPECT_EQ(u.TokenOf(1, e), b);
    ++shared;
  }
  EXPECT_EQ(shared, 6u);
  // Every text token of either vocabulary has an entry spelling its bytes; the union is
  // smaller than the sum (the 512 pieces mostly exist in GPT-2's vocabulary).
  for (int m = 0; m < 2; ++m) {
    const LlamaModel& lm = m == 0 ? *spm : *bpe;
    for (Token t = 0; t < lm.n_vocab(); ++t) {
      const int32_t e = u.Entry(m, t);
      if (lm.IsEog(t)) {
        EXPECT_EQ(e, VocabUnion::kEnd);
      } else if (e != VocabUnion::kNone) {
        ASSERT_EQ(u.bytes(e), lm.Piece(t)) << "model " << m << " token " << t;
      }
    }
  }
  EXPECT_LT(u.size(), spm->n_vocab() + bpe->n_vocab() - 200);
  // End of generation: one entry for both models' end tokens.
  EXPECT_GE(u.TokenOf(0, VocabUnion::kEnd), 0);
  EXPECT_GE(u.TokenOf(1, VocabUnion::kEnd), 0);
  // A string stories260K has no token for: its longest token that begins it.
  const int32_t hello = u.Find(" Hello");
  ASSERT_NE(hello, VocabUnion::kNone);  // GPT-2 has it
  const Token first = u.LongestPrefixToken(0, " Hello");
  ASSERT_GE(first, 0);
  EXPECT_EQ(u.TokenOf(0, hello), -1);
  EXPECT_LT(spm->Piece(first).size(), 6u);
  EXPECT_EQ(std::string_view(" Hello").substr(0, spm->Piece(first).size()), spm->Piece(first));
}

}  // namespace
}  // namespace coolfusion
