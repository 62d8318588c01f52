// Scanning a streamed answer for tags (<think>, <tool_call>) that may be cut between
// pieces: what reasoning.h and tool_call_parser.h hold back until the next piece.
#pragma once

#include <algorithm>
#include <string_view>

namespace coolfusion::chat {

inline bool IsSpaceChar(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

// The length of the longest suffix of `s` that is a proper prefix of `tag` (a tag that
// the next piece may complete).
inline size_t PartialTagAtEnd(std::string_view s, std::string_view tag) {
  for (size_t n = std::min(s.size(), tag.size() - 1); n > 0; --n) {
    if (s.substr(s.size() - n) == tag.substr(0, n)) return n;
  }
  return 0;
}

}  // namespace coolfusion::chat
