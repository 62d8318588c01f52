// Token alignment on real tokenizers (llama.cpp's vocab-only GGUFs) and a fake one.
#include "align/token_alignment.h"

#include <gtest/gtest.h>
#include <llama.h>

#include <map>
#include <memory>

#include "align/word_breaks.h"
#include "backend/llama_model.h"
#include "support/corpus.h"
#include "support/fake_tokenizer.h"
#include "support/paths.h"
#include "support/reference.h"

namespace coolfusion {
namespace {

using testing::BoundaryVocabs;
using testing::MakeCorpus;

// Loads each vocab-only GGUF once for the whole suite.
class RealVocabs : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    for (const auto& name : BoundaryVocabs()) {
      ModelOptions mo;
      mo.path = testing::Vocab(name);
      mo.vocab_only = true;
      std::unique_ptr<LlamaModel> m;
      Status st = LlamaModel::Load(mo, 1, 0, &m);
      ASSERT_TRUE(st.ok()) << st.message();
      models_[name] = std::move(m);
    }
  }
  static void TearDownTestSuite() { models_.clear(); }
  static std::map<std::string, std::unique_ptr<LlamaModel>> models_;
};
std::map<std::string, std::unique_ptr<LlamaModel>> RealVocabs::models_;

// The engine re-encodes only the text after an anchor. That is exact only if, for
// every anchor, the tokens of the whole text are (tokens before the anchor) followed by
// TokenizeFrom(text, anchor). Check it on every anchor of every corpus text.
TEST_F(RealVocabs, TokenizingFromAnAnchorMatchesTheWholeText) {
  const auto corpus = MakeCorpus(400, 11);
  for (const auto& [name, m] : models_) {
    size_t anchors = 0;
    for (const auto& text : corpus) {
      std::vector<Token> full;
      ASSERT_TRUE(TokenizeFrom(*m, text, Anchor{0, true}, &full).ok());
      std::vector<size_t> ends;
      if (!TokenEnds(*m, full, text, Anchor{0, true}, &ends)) continue;  // unknown pieces
      for (size_t lim = text.size(); lim > 0; --lim) {
        const Anchor a = FindAnchor(text, lim, 0);
        if (a.fragment_start) break;
        lim = a.pos;
        ++anchors;
        // The token boundary at the anchor must exist in the whole text's tokens.
        auto it = std::find(ends.begin(), ends.end(), a.pos);
        ASSERT_NE(it, ends.end()) << name << ": no token ends at anchor " << a.pos << " of \""
                                  << text << "\"";
        const size_t k = (size_t)(it - ends.begin()) + 1;
        std::vector<Token> tail;
        ASSERT_TRUE(TokenizeFrom(*m, text, a, &tail).ok());
        std::vector<Token> spliced(full.begin(), full.begin() + k);
        spliced.insert(spliced.end(), tail.begin(), tail.end());
        EXPECT_EQ(spliced, full) << name << ": anchor " << a.pos << " of \"" << text << "\"";
      }
    }
    EXPECT_GT(anchors, 800u) << name;
  }
}

// A checker tokenizing from an anchor answers like one tokenizing the whole text.
TEST_F(RealVocabs, AnchoredStraddleCheckEqualsWholeTextCheck) {
  const auto corpus = MakeCorpus(200, 12);
  for (const auto& [name, m] : models_) {
    for (const auto& text : corpus) {
      StraddleChecker whole, anchored;
      ASSERT_TRUE(whole.Reset(m.get(), text, Anchor{0, true}).ok());
      const Anchor a = FindAnchor(text, text.size() / 2, 0);
      ASSERT_TRUE(anchored.Reset(m.get(), text, a).ok());
      for (size_t p = a.pos + (a.fragment_start ? 1 : 2); p <= text.size(); ++p) {
        bool f1 = false, f2 = false;
        ASSERT_TRUE(whole.StraddleFree(p, &f1).ok());
        ASSERT_TRUE(anchored.StraddleFree(p, &f2).ok());
        EXPECT_EQ(f1, f2) << name << ": p=" << p << " anchor=" << a.pos << " \"" << text << "\"";
      }
    }
  }
}

// Must show: exactly the offsets that meet the definition, none missing, none extra,
// for >= 1000 varied texts and the seven real tokenizers together.
TEST_F(RealVocabs, CommonBoundariesEqualTheDefinitionOn1000Texts) {
  const auto corpus = MakeCorpus(1000, 13);
  std::vector<const Tokenizer*> toks;
  std::vector<const llama_vocab*> vocabs;
  for (const auto& name : BoundaryVocabs()) {
    toks.push_back(models_[name].get());
  }
  // The reference talks to llama.h directly: load the vocabularies again through it.
  std::vector<llama_model*> raw;
  for (const auto& name : BoundaryVocabs()) {
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    raw.push_back(llama_model_load_from_file(testing::Vocab(name).c_str(), mp));
    ASSERT_NE(raw.back(), nullptr);
    vocabs.push_back(llama_model_get_vocab(raw.back()));
  }
  size_t total = 0, texts = 0;
  for (const auto& text : corpus) {
    std::vector<size_t> want, got;
    if (!testing::ReferenceBoundaries(vocabs, text, &want)) continue;
    ++texts;
    ASSERT_TRUE(CommonWordBoundaries(toks, text, &got).ok());
    EXPECT_EQ(got, want) << "\"" << text << "\"";
    total += got.size();
  }
  EXPECT_GE(texts, 1000u);
  EXPECT_GT(total, 5000u);
  for (auto* m : raw) llama_model_free(m);
}

TEST_F(RealVocabs, SmallVocabulariesDoNotCutWordsInHalf) {
  // With straddle-freeness alone, "a t|apestry" would be allowed for the 512-piece
  // tokenizers; the word-break rule forbids it.
  std::vector<const Tokenizer*> toks{models_["llama-spm"].get(), models_["gpt-2"].get()};
  std::vector<size_t> b;
  ASSERT_TRUE(CommonWordBoundaries(toks, "a tapestry of", &b).ok());
  EXPECT_EQ(b, (std::vector<size_t>{1, 10, 13}));
}

TEST(CommonBoundaries, RejectsInvalidUtf8) {
  std::vector<const Tokenizer*> none;
  std::vector<size_t> b;
  Status st = CommonWordBoundaries(none, "ok\xFF", &b);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("UTF-8"), std::string::npos);
}

using testing::FakeTokenizer;

TEST(CommonBoundaries, FakeVocabularyStraddlesRemoveWordBoundaries) {
  // "ab cd": word boundaries 2, 3, 5. Vocabulary A has "b c" as one piece: 2 and 3
  // are straddled by it; only the end stays.
  FakeTokenizer a({"a", "b", "c", "d", " ", "b c"});
  FakeTokenizer b({"a", "b", "c", "d", " "});
  std::vector<size_t> out;
  ASSERT_TRUE(CommonWordBoundaries({&b}, "ab cd", &out).ok());
  EXPECT_EQ(out, (std::vector<size_t>{2, 3, 5}));
  ASSERT_TRUE(CommonWordBoundaries({&a, &b}, "ab cd", &out).ok());
  EXPECT_EQ(out, (std::vector<size_t>{5}));
  // Cannot encode: an error, not a crash.
  EXPECT_FALSE(CommonWordBoundaries({&a}, "xyz", &out).ok());
}

TEST(Anchors, SingleSpaceAfterNonSpace) {
  EXPECT_EQ(FindAnchor("ab cd ef", 7, 0).pos, 5u);
  EXPECT_EQ(FindAnchor("ab cd ef", 4, 0).pos, 2u);
  EXPECT_TRUE(FindAnchor("abcdef", 5, 0).fragment_start);
  EXPECT_TRUE(FindAnchor("ab  cd", 5, 0).fragment_start);      // no single space
  EXPECT_EQ(FindAnchor("a, b", 3, 0).pos, 2u);                 // punctuation before is fine
  EXPECT_TRUE(FindAnchor("a 'b", 3, 0).fragment_start);        // not a letter after
  EXPECT_TRUE(FindAnchor("= 0;", 3, 0).fragment_start);        // not a digit after either
  EXPECT_TRUE(FindAnchor("\xC3\xA9 b", 3, 0).fragment_start);  // not ASCII before
  EXPECT_EQ(FindAnchor("ab cd", 4, 3).pos, 3u);                // nothing above min_pos: min_pos
  EXPECT_TRUE(FindAnchor("ab cd", 4, 3).fragment_start);
  EXPECT_TRUE(FindAnchor("ab c", 4, 0).pos == 2u);  // the space must be followed
}

}  // namespace
}  // namespace coolfusion
