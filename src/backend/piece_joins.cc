#include "backend/piece_joins.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "backend/tokenizer.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {

// What precedes a point, as a 32-bit key: a whole character is its code point; the last
// 1-3 bytes of a character (a piece that starts inside one) are kPartial | length << 24 |
// the bytes; anything else (a stray lead byte, a NUL) is kAny and matches every
// character.
constexpr uint32_t kAny = 0;
constexpr uint32_t kPartial = 1u << 31;

uint32_t PartialKey(std::string_view tail) {
  uint32_t k = kPartial | (uint32_t)tail.size() << 24;
  for (unsigned char c : tail) k = (k & 0xFF000000u) | ((k << 8) & 0x00FFFFFFu) | c;
  return k;
}

bool IsContinuation(unsigned char c) { return (c & 0xC0) == 0x80; }

// The UTF-8 of `c` into `out`; returns its length. No allocation: Joins runs for every
// point FindAnchor considers.
size_t EncodeUtf8(char32_t c, char out[4]) {
  if (c < 0x80) {
    out[0] = (char)c;
    return 1;
  }
  if (c < 0x800) {
    out[0] = (char)(0xC0 | (c >> 6));
    out[1] = (char)(0x80 | (c & 0x3F));
    return 2;
  }
  if (c < 0x10000) {
    out[0] = (char)(0xE0 | (c >> 12));
    out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[2] = (char)(0x80 | (c & 0x3F));
    return 3;
  }
  out[0] = (char)(0xF0 | (c >> 18));
  out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
  out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
  out[3] = (char)(0x80 | (c & 0x3F));
  return 4;
}

uint32_t BeforeKey(std::string_view head) {
  const char32_t cp = DecodeUtf8Before(head, head.size());
  if (cp != 0) return (uint32_t)cp;
  size_t k = 0;
  while (k < 3 && k < head.size() && IsContinuation(head[head.size() - 1 - k])) ++k;
  // Only continuation bytes back to the piece's start: the end of a character.
  if (k > 0 && k == head.size()) return PartialKey(head.substr(head.size() - k));
  return kAny;
}

// The UTF-8 of ' ' and of every anchor mark, made once.
const std::vector<std::pair<char32_t, std::string>>& AnchorEncodings() {
  static const auto* v = [] {
    auto* out = new std::vector<std::pair<char32_t, std::string>>{{U' ', " "}};
    for (char32_t m : kAnchorMarks) {
      char buf[4];
      out->push_back({m, std::string(buf, EncodeUtf8(m, buf))});
    }
    return out;
  }();
  return *v;
}

}  // namespace

void PieceJoins::Add(std::string_view piece) {
  const auto& encodings = AnchorEncodings();
  for (size_t i = 1; i < piece.size(); ++i) {
    const char lead = piece[i];
    if (lead != ' ' && ((unsigned char)lead < 0xC2)) continue;  // starts no anchor character
    const std::string_view rest = piece.substr(i);
    bool have_before = false;
    uint32_t before = 0;
    for (const auto& [at, enc] : encodings) {
      if (enc[0] != lead) continue;
      const size_t k = std::min(enc.size(), rest.size());
      if (rest.substr(0, k) != std::string_view(enc).substr(0, k)) continue;
      if (!have_before) {
        before = BeforeKey(piece.substr(0, i));
        have_before = true;
      }
      keys_.push_back((uint64_t)before << 32 | (uint32_t)at);
    }
  }
}

void PieceJoins::Finish() {
  std::sort(keys_.begin(), keys_.end());
  keys_.erase(std::unique(keys_.begin(), keys_.end()), keys_.end());
}

bool PieceJoins::Joins(char32_t before, char32_t at) const {
  auto has = [&](uint32_t b) {
    return std::binary_search(keys_.begin(), keys_.end(), (uint64_t)b << 32 | (uint32_t)at);
  };
  if (has(kAny) || has((uint32_t)before)) return true;
  char buf[4];
  const std::string_view enc(buf, EncodeUtf8(before, buf));
  for (size_t k = 1; k < enc.size(); ++k) {
    if (has(PartialKey(enc.substr(enc.size() - k)))) return true;
  }
  return false;
}

}  // namespace coolfusion
