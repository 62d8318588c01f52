#include "base/utf8.h"

#include <cstdint>
#include <string>

namespace coolfusion {

size_t Utf8SequenceLength(unsigned char c) {
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return 2;
  if (c >= 0xE0 && c <= 0xEF) return 3;
  if (c >= 0xF0 && c <= 0xF4) return 4;
  return 0;
}

char32_t DecodeUtf8(std::string_view text, size_t pos, size_t* len) {
  *len = 0;
  if (pos >= text.size()) return 0;
  const size_t n = Utf8SequenceLength((unsigned char)text[pos]);
  if (n == 0 || pos + n > text.size()) return 0;
  if (!IsValidUtf8(text.substr(pos, n))) return 0;
  static const unsigned char kLeadMask[] = {0, 0x7F, 0x1F, 0x0F, 0x07};
  char32_t cp = (unsigned char)text[pos] & kLeadMask[n];
  for (size_t k = 1; k < n; ++k) cp = (cp << 6) | ((unsigned char)text[pos + k] & 0x3F);
  *len = n;
  return cp;
}

char32_t DecodeUtf8Before(std::string_view text, size_t pos) {
  if (pos == 0 || pos > text.size()) return 0;
  size_t start = pos - 1;
  while (start > 0 && pos - start < 4 && ((unsigned char)text[start] & 0xC0) == 0x80) --start;
  size_t len = 0;
  const char32_t cp = DecodeUtf8(text, start, &len);
  return start + len == pos ? cp : 0;
}

bool IsValidUtf8(std::string_view s, size_t* bad_at) {
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    const unsigned char c = s[i];
    size_t len;
    uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    }
    if (c >= 0xC2 && c <= 0xDF) {
      len = 2;
      cp = c & 0x1F;
    } else if (c >= 0xE0 && c <= 0xEF) {
      len = 3;
      cp = c & 0x0F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      len = 4;
      cp = c & 0x07;
    } else {
      if (bad_at) *bad_at = i;
      return false;
    }
    if (i + len > n) {
      if (bad_at) *bad_at = i;
      return false;
    }
    for (size_t k = 1; k < len; ++k) {
      const unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) {
        if (bad_at) *bad_at = i;
        return false;
      }
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong = (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000);
    const bool surrogate = cp >= 0xD800 && cp <= 0xDFFF;
    if (overlong || surrogate || cp > 0x10FFFF) {
      if (bad_at) *bad_at = i;
      return false;
    }
    i += len;
  }
  return true;
}

std::string Utf8Excerpt(std::string_view text, size_t max_bytes) {
  if (text.size() > max_bytes) text = text.substr(0, CompleteUtf8Prefix(text.substr(0, max_bytes)));
  return ToValidUtf8(text);
}

size_t CompleteUtf8Prefix(std::string_view s) {
  // Walk back over at most 3 continuation bytes to the last lead byte.
  size_t n = s.size();
  size_t k = 0;
  while (k < 4 && k < n && ((unsigned char)s[n - 1 - k] & 0xC0) == 0x80) ++k;
  if (k == n) return n;  // only continuation bytes: nothing to trim sensibly
  const unsigned char lead = s[n - 1 - k];
  size_t need = 1;
  if (lead >= 0xF0)
    need = 4;
  else if (lead >= 0xE0)
    need = 3;
  else if (lead >= 0xC0)
    need = 2;
  if (lead < 0x80) need = 1;
  return (k + 1 < need) ? n - 1 - k : n;
}

std::string ToValidUtf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t bad = 0;
    if (IsValidUtf8(s.substr(i), &bad)) {
      out.append(s.substr(i));
      break;
    }
    out.append(s.substr(i, bad));
    out += "\xEF\xBF\xBD";
    i += bad + 1;
  }
  return out;
}

Status CheckUtf8(std::string_view text, std::string_view what) {
  size_t bad = 0;
  if (!IsValidUtf8(text, &bad)) {
    return Status::InvalidArgument(std::string(what) + " is not valid UTF-8 (byte " +
                                   std::to_string(bad) + ")");
  }
  return Status::Ok();
}

}  // namespace coolfusion
