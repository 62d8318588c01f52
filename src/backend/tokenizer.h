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
};

}  // namespace coolfusion
