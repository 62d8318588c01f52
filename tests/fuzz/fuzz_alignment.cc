// Offset bookkeeping: re-encoding from an anchor must equal the whole text's tokens, an
// anchored straddle check must equal the whole-text check, token ends must spell the
// text, and the UTF-8 helpers must agree; for anchors of both kinds (spaces, marks), in
// valid UTF-8 or not (stray bytes). The first byte picks the tokenizer.
#include <algorithm>
#include <cstdint>
#include <string>

#include "align/token_alignment.h"
#include "base/utf8.h"
#include "vocabs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coolfusion;
  if (size < 1) return 0;
  auto& vocabs = fuzz::Vocabs();
  const LlamaModel& m = *vocabs[data[0] % vocabs.size()].model;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);

  const size_t complete = CompleteUtf8Prefix(text);
  if (complete > text.size()) __builtin_trap();
  if (IsValidUtf8(text) && complete != text.size()) __builtin_trap();
  // DecodeUtf8 walks a valid text exactly, and DecodeUtf8Before undoes each step; in any
  // text, DecodeUtf8Before undoes every sequence DecodeUtf8 finds.
  const bool valid = IsValidUtf8(text);
  for (size_t i = 0, len = 0; i < text.size(); i += std::max<size_t>(len, 1)) {
    const char32_t cp = DecodeUtf8(text, i, &len);
    if (valid && len == 0) __builtin_trap();
    if (len > 0 && DecodeUtf8Before(text, i + len) != cp) __builtin_trap();
  }
  // Invalid UTF-8 goes on too: models commit stray bytes, and anchors must hold after them.

  std::vector<Token> full;
  if (!TokenizeFrom(m, text, Anchor{0, true}, &full).ok()) return 0;
  std::vector<size_t> ends;
  const bool ends_ok = TokenEnds(m, full, text, Anchor{0, true}, &ends);
  if (ends_ok && !ends.empty() && ends.back() != text.size()) __builtin_trap();
  if (ends_ok && !std::is_sorted(ends.begin(), ends.end())) __builtin_trap();

  StraddleChecker whole;
  if (!whole.Reset(&m, text, Anchor{0, true}).ok()) __builtin_trap();
  int anchors = 0;
  for (size_t lim = text.size(); lim > 0 && anchors < 3; ++anchors) {
    const Anchor a = FindAnchor(text, lim, 0, m);
    if (a.fragment_start) break;
    lim = a.pos;
    if (a.pos == 0) __builtin_trap();
    // A space anchor sits on a space, a mark anchor on one of the anchor marks.
    size_t mark_len = 0;
    const char32_t mark = DecodeUtf8(text, a.pos, &mark_len);
    if (a.space ? text[a.pos] != ' ' : !IsAnchorMark(mark)) __builtin_trap();
    if (ends_ok) {
      // The anchor is a token boundary of the whole text, and re-encoding from it is exact.
      auto it = std::find(ends.begin(), ends.end(), a.pos);
      if (it == ends.end()) __builtin_trap();
      std::vector<Token> tail;
      if (!TokenizeFrom(m, text, a, &tail).ok()) __builtin_trap();
      std::vector<Token> spliced(full.begin(), full.begin() + (it - ends.begin()) + 1);
      spliced.insert(spliced.end(), tail.begin(), tail.end());
      if (spliced != full) __builtin_trap();
    }
    StraddleChecker anchored;
    if (!anchored.Reset(&m, text, a).ok()) __builtin_trap();
    for (size_t p = a.pos + (a.space ? 2 : mark_len), n = 0; p <= text.size() && n < 6; ++p, ++n) {
      bool f1 = false, f2 = false;
      // An error leaves the flag false on either side: the flags must still agree.
      whole.StraddleFree(p, &f1).IgnoreError();
      anchored.StraddleFree(p, &f2).IgnoreError();
      if (f1 != f2) __builtin_trap();
    }
  }
  return 0;
}
