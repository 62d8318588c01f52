// Token alignment: where a tokenizer's tokens begin and end in a text, and whether a
// byte offset is a token boundary (no token straddles it).
//
// Definition used throughout: offset p of text X is straddle-free for tokenizer u when
// u's tokenization of X[:p] is a prefix of u's tokenization of X, and X[p] is not a UTF-8
// continuation byte (a cut inside a character is never a boundary, even where the
// truncated character's replacement happens to be tokenized like the text after it).
//
// Checking that on a whole text costs a tokenization of the text per offset. Instead we
// tokenize from an *anchor*, a point that no token crosses whatever text follows, so the
// tokens before it never change and only the text from it on needs re-encoding
// ("re-encode only the last few words"). Two kinds, for any script:
//  - a space anchor: a single space after a character that is not a space or a control
//    and before a letter ("x| y", "ดี| วัน"; not before a digit: deepseek-coder encodes
//    "= 0" as " = " + "0"). BPE pre-tokenizers start a chunk at such a space (their
//    patterns allow a space only at a chunk's start), SentencePiece pieces do not merge a
//    word with the following "▁".
//  - a mark anchor: a clause or sentence mark of a script written without spaces
//    (backend/tokenizer.h's kAnchorMarks: "。", "，", "؟", "।", ...) right after a letter
//    ("文|。"). Letter runs end there in every BPE pre-tokenizer llama.cpp ships.
// Both also need that no piece of the tokenizer holds the character before the anchor
// followed by the anchor's character (Tokenizer::Joins): no merge of any tokenizer can
// then cross it, which is what makes the rule hold for SentencePiece and for vocabularies
// we have not seen. With SentencePiece's dummy prefix, a mark anchor's text is tokenized
// as "▁" + text and the lone "▁" dropped, which needs that no piece joins "▁" to the mark.
// Texts without either (a long run of ideographs) fall back to the whole fragment.
// tests/align checks the property on 7 real tokenizers for every anchor of a varied
// corpus and of CJK, Thai, Arabic and Devanagari texts; tests/fuzz/fuzz_alignment too.
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "backend/tokenizer.h"

namespace coolfusion {

struct Anchor {
  size_t pos = 0;
  // True when text[pos:] is tokenized as its own fragment (the start of the text, or
  // right after a special token): SentencePiece then adds its dummy space prefix.
  // False: an anchor inside the fragment, whose first character the tokenizer encodes.
  bool fragment_start = true;
  // For an anchor inside the fragment: text[pos] is the anchor space (true) or starts
  // an anchor mark (false).
  bool space = true;
};

// The largest anchor a of `tok` with min_pos < a <= limit (and a + 2 <= len: the anchor
// space is followed by a character), or {min_pos, fragment_start} if none.
Anchor FindAnchor(std::string_view text, size_t limit, size_t min_pos, const Tokenizer& tok);

// Tokens of text[a.pos:] as they appear in the tokenization of text (no BOS).
Status TokenizeFrom(const Tokenizer& tok, std::string_view text, Anchor a, std::vector<Token>* out);

// End offset in `text` of each token from TokenizeFrom(text, a). Returns false when
// the pieces do not spell text[a.pos:] (e.g. unknown-token pieces). A byte that is not
// part of a well-formed character may be spelled by U+FFFD, as llama.cpp's BPE
// tokenizers encode it, and a space after one by the bytes of "▁" (SentencePiece's byte
// fallback); a token that ends inside such a spelling ends after the byte.
bool TokenEnds(const Tokenizer& tok, const std::vector<Token>& tokens, std::string_view text,
               Anchor a, std::vector<size_t>* ends);

// Answers "is offset p straddle-free" for one text and one tokenizer, tokenizing from an
// anchor. Reusable across texts.
class StraddleChecker {
 public:
  // REQUIRES: `tok` outlives this object; text outlives the next Reset.
  Status Reset(const Tokenizer* tok, std::string_view text, Anchor a);
  // REQUIRES: a.pos < p <= text.size(), p > a.pos + 1 for an anchor space, and p past
  // the mark of a mark anchor.
  // An offset before a UTF-8 continuation byte is never free (a cut there splits a
  // character). On a tokenizer error, *free is false.
  Status StraddleFree(size_t p, bool* free);
  const std::vector<Token>& tokens() const { return tokens_; }
  const std::vector<size_t>& ends() const { return ends_; }
  bool ends_ok() const { return ends_ok_; }

 private:
  const Tokenizer* tok_ = nullptr;
  std::string_view text_;
  Anchor anchor_;
  std::vector<Token> tokens_;
  std::vector<size_t> ends_;
  bool ends_ok_ = false;
  std::vector<Token> prefix_;
};

// Exact common word boundaries of a whole text: UAX #29 boundaries where every
// tokenizer is straddle-free. Fails on invalid UTF-8 or text a tokenizer cannot encode.
Status CommonWordBoundaries(const std::vector<const Tokenizer*>& tokenizers, std::string_view text,
                            std::vector<size_t>* out);

}  // namespace coolfusion
