// The tokenizer view that alignment needs. Implemented by LlamaModel over llama.h and
// by fake vocabularies in tests; nothing here includes llama.h.
#pragma once

#include <coolfusion/status.h>

#include <cstdint>
#include <string_view>
#include <vector>

namespace coolfusion {

using Token = int32_t;

// An ASCII letter or digit: a byte that continues a word ending in one (word ends,
// LlamaModel::word_continuations).
inline bool IsAsciiAlnum(unsigned char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The characters an anchor may sit on (align/token_alignment.h): the space, and the
// clause and sentence marks of scripts written without spaces between words (CJK,
// Arabic, Devanagari). An anchor there needs that no piece joins the character before
// it to the mark (Tokenizer::Joins).
inline constexpr char32_t kAnchorMarks[] = {
    U'\u3001', U'\u3002', U'\uFF0C', U'\uFF01', U'\uFF1F', U'\uFF1B', U'\uFF1A',  // 、。，！？；：
    U'\u300C', U'\u300D', U'\u300E', U'\u300F', U'\uFF08', U'\uFF09',  // 「」『』（）
    U'\u060C', U'\u061B', U'\u061F', U'\u06D4',                        // ، ؛ ؟ ۔
    U'\u0964', U'\u0965',                                              // । ॥
};
inline bool IsAnchorMark(char32_t c) {
  for (char32_t m : kAnchorMarks) {
    if (m == c) return true;
  }
  return false;
}

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Tokens of `text` as one fragment. Never throws: text the vocabulary cannot encode is
  // an InvalidArgument status.
  virtual Status Tokenize(std::string_view text, bool add_bos, bool parse_special,
                          std::vector<Token>* out) const = 0;
  // The bytes a token stands for (special tokens render as their text).
  virtual std::string_view Piece(Token t) const = 0;
  // Whether the tokenizer puts a space before the first word of each fragment
  // (SentencePiece's add_dummy_prefix).
  virtual bool AddsSpacePrefix() const = 0;
  // Whether a token of the vocabulary may hold `before` immediately followed by `at`
  // (a space, or one of kAnchorMarks): when false, no token crosses the point between
  // them. True when the vocabulary cannot tell (e.g. it normalizes text before matching
  // pieces).
  virtual bool Joins(char32_t before, char32_t at) const = 0;
};

}  // namespace coolfusion
