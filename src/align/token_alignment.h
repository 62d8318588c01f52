// Token alignment: where a tokenizer's tokens begin and end in a text, and whether a
// byte offset is a token boundary (no token straddles it).
//
// Definition used throughout: offset p of text X is straddle-free for tokenizer u when
// u's tokenization of X[:p] is a prefix of u's tokenization of X.
//
// Checking that on a whole text costs a tokenization of the text per offset. Instead we
// tokenize from an *anchor*: a single space between an ASCII graphic character and an
// ASCII letter ("x| y"; not a digit: deepseek-coder encodes "= 0" as " = " + "0"). The tokenizers
// llama.cpp ships split there (BPE pre-tokenizers start a word chunk at such a space, and their
// patterns cover ASCII; SentencePiece pieces do not merge a word with the following "▁"), so the
// tokens before the anchor do not depend on the text after it, and only the text from the anchor on
// needs re-encoding ("re-encode only the last few words"). Texts without anchors (CJK,
// Arabic, ...) fall back to the whole fragment. tests/align checks this on 7 real
// tokenizers for every anchor of a varied corpus.
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
  // False: text[pos] is the anchor space, which the tokenizer itself encodes.
  bool fragment_start = true;
};

// The largest anchor a with min_pos < a <= limit (and a + 2 <= len: the anchor space is
// followed by a character), or {min_pos, fragment_start} if none.
Anchor FindAnchor(std::string_view text, size_t limit, size_t min_pos);

// Tokens of text[a.pos:] as they appear in the tokenization of text (no BOS).
Status TokenizeFrom(const Tokenizer& tok, std::string_view text, Anchor a, std::vector<Token>* out);

// End offset in `text` of each token from TokenizeFrom(text, a). Returns false when
// the pieces do not spell text[a.pos:] (e.g. unknown-token pieces).
bool TokenEnds(const Tokenizer& tok, const std::vector<Token>& tokens, std::string_view text,
               Anchor a, std::vector<size_t>* ends);

// Answers "is offset p straddle-free" for one text and one tokenizer, tokenizing from an
// anchor. Reusable across texts.
class StraddleChecker {
 public:
  // REQUIRES: `tok` outlives this object; text outlives the next Reset.
  Status Reset(const Tokenizer* tok, std::string_view text, Anchor a);
  // REQUIRES: a.pos < p <= text.size(), and p > a.pos + 1 for an anchor space.
  // On a tokenizer error, *free is false.
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
