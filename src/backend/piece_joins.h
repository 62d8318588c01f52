// PieceJoins: which characters the pieces of a vocabulary hold on both sides of a point
// where an anchor may sit (a space, or one of kAnchorMarks: align/token_alignment.h).
// Built once from every piece a tokenizer can produce from plain text; answers
// Tokenizer::Joins. Works on bytes, so it also sees byte-level BPE pieces that hold
// only part of a character on either side ("\xA7\xD8": the end of "ا" and the start of
// "،").
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace coolfusion {

class PieceJoins {
 public:
  // Records every point inside `piece` where the bytes after it agree with an anchor
  // character's UTF-8 (whole, or the part the piece holds) and what comes before it.
  void Add(std::string_view piece);
  // REQUIRES: called after the last Add and before Joins.
  void Finish();
  // Whether some piece may hold `before` (its last bytes) immediately followed by `at`
  // (its first bytes). REQUIRES: `at` is ' ' or one of kAnchorMarks.
  bool Joins(char32_t before, char32_t at) const;

 private:
  std::vector<uint64_t> keys_;  // (what is before << 32 | at), sorted, unique
};

}  // namespace coolfusion
