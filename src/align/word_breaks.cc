#include "align/word_breaks.h"

#include <unicode/ubrk.h>
#include <unicode/utext.h>

#include <cassert>
#include <memory>
#include <string>

namespace coolfusion {

namespace {

struct BreakIteratorCloser {
  void operator()(UBreakIterator* b) const { ubrk_close(b); }
};

// One word break iterator per thread: opening one costs far more than using it.
UBreakIterator* ThreadWordIterator() {
  thread_local std::unique_ptr<UBreakIterator, BreakIteratorCloser> it = [] {
    UErrorCode status = U_ZERO_ERROR;
    UBreakIterator* b = ubrk_open(UBRK_WORD, "", nullptr, 0, &status);
    assert(U_SUCCESS(status) && "ICU word break iterator unavailable");
    return std::unique_ptr<UBreakIterator, BreakIteratorCloser>(b);
  }();
  return it.get();
}

}  // namespace

void WordBoundaries(std::string_view text, std::vector<size_t>* out) {
  if (text.empty()) return;
  UErrorCode status = U_ZERO_ERROR;
  UText* ut = utext_openUTF8(nullptr, text.data(), (int64_t)text.size(), &status);
  if (U_FAILURE(status)) return;
  UBreakIterator* bi = ThreadWordIterator();
  ubrk_setUText(bi, ut, &status);
  if (U_SUCCESS(status)) {
    for (int32_t p = ubrk_next(bi); p != UBRK_DONE; p = ubrk_next(bi)) {
      if (p > 0) out->push_back((size_t)p);
    }
  }
  // Detach the iterator from the text before it goes away.
  UErrorCode s2 = U_ZERO_ERROR;
  UText* empty = utext_openUTF8(nullptr, "", 0, &s2);
  ubrk_setUText(bi, empty, &s2);
  utext_close(empty);
  utext_close(ut);
}

}  // namespace coolfusion
