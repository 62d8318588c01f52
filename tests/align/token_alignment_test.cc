// Token alignment on real tokenizers (llama.cpp's vocab-only GGUFs) and a fake one.
#include "align/token_alignment.h"

#include <gtest/gtest.h>
#include <llama.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <memory>
#include <random>

#include "align/word_breaks.h"
#include "backend/llama_model.h"
#include "base/utf8.h"
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
// TokenizeFrom(text, anchor). Checks it on every anchor of every text; returns how many
// anchors there were (space anchors, mark anchors).
std::pair<size_t, size_t> CheckEveryAnchor(const std::string& name, const LlamaModel& m,
                                           const std::vector<std::string>& corpus) {
  size_t spaces = 0, marks = 0;
  for (const auto& text : corpus) {
    std::vector<Token> full;
    EXPECT_TRUE(TokenizeFrom(m, text, Anchor{0, true}, &full).ok());
    std::vector<size_t> ends;
    if (!TokenEnds(m, full, text, Anchor{0, true}, &ends)) continue;  // unknown pieces
    for (size_t lim = text.size(); lim > 0; --lim) {
      const Anchor a = FindAnchor(text, lim, 0, m);
      if (a.fragment_start) break;
      lim = a.pos;
      ++(a.space ? spaces : marks);
      // The token boundary at the anchor must exist in the whole text's tokens.
      auto it = std::find(ends.begin(), ends.end(), a.pos);
      EXPECT_NE(it, ends.end()) << name << ": no token ends at anchor " << a.pos << " of \"" << text
                                << "\"";
      if (it == ends.end()) continue;
      const size_t k = (size_t)(it - ends.begin()) + 1;
      std::vector<Token> tail;
      EXPECT_TRUE(TokenizeFrom(m, text, a, &tail).ok()) << name << ": \"" << text << "\"";
      std::vector<Token> spliced(full.begin(), full.begin() + k);
      spliced.insert(spliced.end(), tail.begin(), tail.end());
      EXPECT_EQ(spliced, full) << name << ": anchor " << a.pos << " of \"" << text << "\"";
    }
  }
  return {spaces, marks};
}

TEST_F(RealVocabs, TokenizingFromAnAnchorMatchesTheWholeText) {
  const auto corpus = MakeCorpus(400, 11);
  for (const auto& [name, m] : models_) {
    EXPECT_GT(CheckEveryAnchor(name, *m, corpus).first, 800u) << name;
  }
}

// The same for texts without ASCII words. Every script must get anchors from every
// tokenizer (else the property is empty there and the cost per step grows with the text),
// and the scripts written without spaces must get mark anchors.
TEST_F(RealVocabs, TokenizingFromAnAnchorMatchesTheWholeTextInEveryScript) {
  uint32_t seed = 20;
  for (const auto& [script, fragments] : testing::ScriptFragments()) {
    const auto corpus = testing::MakeScriptCorpus(fragments, 150, seed++);
    for (const auto& [name, m] : models_) {
      const auto [spaces, marks] = CheckEveryAnchor(name, *m, corpus);
      EXPECT_GT(spaces + marks, 300u) << name << ", " << script;
      EXPECT_GT(marks, 100u) << name << ", " << script;
    }
  }
}

// Every other vocabulary llama.cpp ships (gemma-4, command-r, starcoder, baichuan, bert,
// ...): the property holds there too, whatever Joins decides.
TEST(ShippedVocabs, TokenizingFromAnAnchorMatchesTheWholeTextInEveryScript) {
  const auto known = BoundaryVocabs();
  size_t tried = 0;
  for (const auto& entry : std::filesystem::directory_iterator(testing::VocabDir())) {
    const std::string file = entry.path().filename().string();
    if (file.rfind("ggml-vocab-", 0) != 0 || entry.path().extension() != ".gguf") continue;
    const std::string name = file.substr(11, file.size() - 16);
    if (std::find(known.begin(), known.end(), name) != known.end()) continue;
    ModelOptions mo;
    mo.path = entry.path().string();
    mo.vocab_only = true;
    std::unique_ptr<LlamaModel> m;
    if (!LlamaModel::Load(mo, 1, 0, &m).ok()) continue;  // a vocabulary llama.h cannot load
    ++tried;
#ifdef COOLFUSION_SANITIZED
    const size_t n = 20;  // under the sanitizers: 1 text of 5
#else
    const size_t n = 100;
#endif
    std::vector<std::string> corpus = MakeCorpus(n, 14);
    uint32_t seed = 40;
    for (const auto& [script, fragments] : testing::ScriptFragments()) {
      for (auto& t : testing::MakeScriptCorpus(fragments, 2 * n / 5, seed++)) corpus.push_back(t);
    }
    const auto [spaces, marks] = CheckEveryAnchor(name, *m, corpus);
    std::printf("%-16s %-4s space anchors %5zu, mark anchors %5zu\n", name.c_str(),
                m->tokenizer_name().c_str(), spaces, marks);
  }
  EXPECT_GE(tried, 8u);
}

// Random-weight models (and real ones, now and then) commit stray bytes: llama.cpp's BPE
// tokenizers encode each as U+FFFD. Token ends still follow the text, so anchors stay
// usable after such a byte (without this, re-encoding fell back to the whole text).
TEST_F(RealVocabs, TokenEndsFollowStrayBytes) {
  std::mt19937 rng(15);
  const std::vector<std::string> stray = {"\xE3", "\x80",     "\xFF",
                                          "\xC3", "\xE4\xB8", "\xF0\x9F\x98"};
  std::vector<std::string> corpus;
  for (std::string t : MakeCorpus(200, 16)) {
    size_t at = rng() % (t.size() + 1);
    while (at < t.size() && ((unsigned char)t[at] & 0xC0) == 0x80) ++at;  // between characters
    t.insert(at, stray[rng() % stray.size()]);
    corpus.push_back(t);
  }
  for (const auto& [name, m] : models_) {
    size_t spelled = 0;
    for (const auto& text : corpus) {
      std::vector<Token> full;
      ASSERT_TRUE(TokenizeFrom(*m, text, Anchor{0, true}, &full).ok());
      std::vector<size_t> ends;
      spelled += TokenEnds(*m, full, text, Anchor{0, true}, &ends);
    }
    EXPECT_EQ(spelled, corpus.size()) << name;
    EXPECT_GT(CheckEveryAnchor(name, *m, corpus).first, 300u) << name;
  }
}

// Joins reads the vocabulary: a piece that holds a character followed by a space or an
// anchor mark makes that pair join (no anchor there), for every piece plain text can make.
TEST_F(RealVocabs, JoinsReportsThePairsThePiecesHold) {
  size_t pairs = 0;
  for (const auto& [name, m] : models_) {
    for (Token t = 0; t < m->n_vocab(); ++t) {
      if (m->IsControl(t)) continue;
      const std::string_view p = m->Piece(t);
      for (size_t i = 1; i < p.size(); ++i) {
        size_t len = 0;
        const char32_t at = DecodeUtf8(p, i, &len);
        const char32_t before = DecodeUtf8Before(p, i);
        if (len == 0 || before == 0 || (at != U' ' && !IsAnchorMark(at))) continue;
        ++pairs;
        EXPECT_TRUE(m->Joins(before, at)) << name << ": piece \"" << p << "\"";
      }
    }
    // The pairs the anchors of ordinary text need are free in all seven.
    EXPECT_FALSE(m->Joins(U'a', U' ')) << name;
    EXPECT_FALSE(m->Joins(U'文', U'\u3002')) << name;
    EXPECT_FALSE(m->Joins(U'ك', U' ')) << name;
  }
  EXPECT_GT(pairs, 100u);
}

// A checker tokenizing from an anchor answers like one tokenizing the whole text.
TEST_F(RealVocabs, AnchoredStraddleCheckEqualsWholeTextCheck) {
  std::vector<std::string> corpus = MakeCorpus(200, 12);
  uint32_t seed = 30;
  for (const auto& [script, fragments] : testing::ScriptFragments()) {
    for (auto& t : testing::MakeScriptCorpus(fragments, 40, seed++)) corpus.push_back(t);
  }
  for (const auto& [name, m] : models_) {
    size_t marks = 0;
    for (const auto& text : corpus) {
      StraddleChecker whole, anchored;
      ASSERT_TRUE(whole.Reset(m.get(), text, Anchor{0, true}).ok());
      const Anchor a = FindAnchor(text, text.size() / 2, 0, *m);
      marks += !a.fragment_start && !a.space;
      ASSERT_TRUE(anchored.Reset(m.get(), text, a).ok());
      size_t first = a.pos + 1;
      if (!a.fragment_start) first = a.pos + (a.space ? 2 : Utf8SequenceLength(text[a.pos]));
      for (size_t p = first; p <= text.size(); ++p) {
        bool f1 = false, f2 = false;
        ASSERT_TRUE(whole.StraddleFree(p, &f1).ok());
        ASSERT_TRUE(anchored.StraddleFree(p, &f2).ok());
        EXPECT_EQ(f1, f2) << name << ": p=" << p << " anchor=" << a.pos << " \"" << text << "\"";
      }
    }
    EXPECT_GT(marks, 20u) << name;
  }
}

// A cut before a UTF-8 continuation byte is never straddle-free, for the checker from the
// text's start as from an anchor. fuzz_alignment's finding of 2026-12-05 (falcon): the
// pieces of this invalid text do not spell it, so the whole-text checker falls back on
// the definition; at 67 the prefix ends in "\xEF\xBF", a truncated U+FFFD whose
// replacement is tokenized like the text's own U+FFFD after it, and the definition alone
// took the cut for a boundary that the anchored checker (whose pieces spell its part of
// the text) did not.
TEST_F(RealVocabs, ACutInsideACharacterIsNeverStraddleFree) {
  const std::string text =
      "for (\xD9\xFF\x84\xD8\xB9\xD8\xA7\xD9\x84\xD9\x85\xD8\x8C \xD9\x83\xD9\xD9\x8A\x81"
      "0\xE0\xA5\x8C\xE0\xA4\xB8\x05\xF3\x05\x05\xE0\xA4\xAE "
      "\xE0\xA4\x85\xD7\xA4\x9A\xE0\xA5\x8D\xE0\xA4"
      "3\x85\xD8\xB1\x9E\xD8\xAD\xD8\xA8; i < \xEF\xBF\xBD\xEF\xBF\xBDn\xD9";
  const Tokenizer& falcon = *models_["falcon"];
  StraddleChecker whole, anchored;
  ASSERT_TRUE(whole.Reset(&falcon, text, Anchor{0, true}).ok());
  ASSERT_FALSE(whole.ends_ok());  // the path under test: no token ends to go by
  const Anchor a = FindAnchor(text, text.size(), 0, falcon);
  ASSERT_EQ(a.pos, 61u);
  ASSERT_TRUE(anchored.Reset(&falcon, text, a).ok());
  ASSERT_TRUE(anchored.ends_ok());
  for (size_t p = a.pos + 2; p < text.size(); ++p) {
    bool f1 = true, f2 = true;
    ASSERT_TRUE(whole.StraddleFree(p, &f1).ok());
    ASSERT_TRUE(anchored.StraddleFree(p, &f2).ok());
    EXPECT_EQ(f1, f2) << "p=" << p;
    if (((unsigned char)text[p] & 0xC0) == 0x80) {
      EXPECT_FALSE(f1) << "p=" << p;
    }
  }
  // And in valid text, for every tokenizer: no offset inside a character is a boundary.
  const std::string valid = "caf\xC3\xA9 \xE6\x96\x87\xE3\x80\x82 \xEF\xBF\xBD x";
  for (const auto& [name, m] : models_) {
    StraddleChecker c;
    ASSERT_TRUE(c.Reset(m.get(), valid, Anchor{0, true}).ok());
    for (size_t p = 1; p < valid.size(); ++p) {
      if (((unsigned char)valid[p] & 0xC0) != 0x80) continue;
      bool f = true;
      ASSERT_TRUE(c.StraddleFree(p, &f).ok());
      EXPECT_FALSE(f) << name << ": p=" << p;
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
  const FakeTokenizer t({"a"});  // no piece holds a space: nothing joins
  EXPECT_EQ(FindAnchor("ab cd ef", 7, 0, t).pos, 5u);
  EXPECT_EQ(FindAnchor("ab cd ef", 4, 0, t).pos, 2u);
  EXPECT_TRUE(FindAnchor("ab cd ef", 4, 0, t).space);
  EXPECT_TRUE(FindAnchor("abcdef", 5, 0, t).fragment_start);
  EXPECT_TRUE(FindAnchor("ab  cd", 5, 0, t).fragment_start);  // no single space
  EXPECT_EQ(FindAnchor("a, b", 3, 0, t).pos, 2u);             // punctuation before is fine
  EXPECT_TRUE(FindAnchor("a 'b", 3, 0, t).fragment_start);    // not a letter after
  EXPECT_TRUE(FindAnchor("= 0;", 3, 0, t).fragment_start);    // not a digit after either
  EXPECT_EQ(FindAnchor("ab cd", 4, 3, t).pos, 3u);            // nothing above min_pos: min_pos
  EXPECT_TRUE(FindAnchor("ab cd", 4, 3, t).fragment_start);
  EXPECT_TRUE(FindAnchor("ab c", 4, 0, t).pos == 2u);  // the space must be followed
  // Any script: "é b", Thai "ดี วัน" (a vowel mark before), Arabic, Hangul.
  EXPECT_EQ(FindAnchor("\xC3\xA9 b", 3, 0, t).pos, 2u);
  EXPECT_EQ(FindAnchor("ดี วัน", 12, 0, t).pos, 6u);
  EXPECT_EQ(FindAnchor("كيف حالك", 12, 0, t).pos, 6u);
  EXPECT_EQ(FindAnchor("한국어 문장", 14, 0, t).pos, 9u);
  EXPECT_TRUE(FindAnchor("\xC2\xA0 b", 3, 0, t).fragment_start);  // not after a no-break space
  EXPECT_TRUE(FindAnchor("a\t b", 3, 0, t).fragment_start);       // nor after a tab
  EXPECT_TRUE(FindAnchor("ab 1", 3, 0, t).fragment_start);        // nor before a digit
}

TEST(Anchors, MarkAfterALetter) {
  const FakeTokenizer t({"a"});
  // "文。中": the mark at 3 (after a letter).
  const Anchor a = FindAnchor("文。中", 8, 0, t);
  EXPECT_EQ(a.pos, 3u);
  EXPECT_FALSE(a.fragment_start);
  EXPECT_FALSE(a.space);
  EXPECT_EQ(FindAnchor("كيف؟ نعم", 7, 0, t).pos, 6u);         // Arabic question mark
  EXPECT_TRUE(FindAnchor("है। आज", 8, 0, t).fragment_start);   // a vowel sign is no letter
  EXPECT_EQ(FindAnchor("है। आज", 9, 0, t).pos, 9u);            // the space after it is
  EXPECT_TRUE(FindAnchor("3。中", 4, 0, t).fragment_start);   // not after a digit
  EXPECT_TRUE(FindAnchor("。。中", 6, 0, t).fragment_start);  // nor after a mark
  EXPECT_TRUE(FindAnchor("文.中", 4, 0, t).fragment_start);   // ASCII punctuation is no mark
  EXPECT_TRUE(FindAnchor("文中文", 8, 0, t).fragment_start);  // a run of ideographs: none
}

TEST(Anchors, NoAnchorWhereAPieceJoinsAcrossIt) {
  // A piece holding "文。" (or "b " , or one that starts inside a character) crosses the
  // point: no anchor there.
  EXPECT_TRUE(FindAnchor("文。中", 8, 0, FakeTokenizer({"文。"})).fragment_start);
  EXPECT_TRUE(FindAnchor("ab cd", 4, 0, FakeTokenizer({"b "})).fragment_start);
  EXPECT_EQ(FindAnchor("ab cd", 4, 0, FakeTokenizer({"a "})).pos, 2u);  // another character
  EXPECT_TRUE(FindAnchor("文。中", 8, 0, FakeTokenizer({"\x87。"})).fragment_start);
  EXPECT_EQ(FindAnchor("文。中", 8, 0, FakeTokenizer({"字。"})).pos, 3u);
}

}  // namespace
}  // namespace coolfusion
