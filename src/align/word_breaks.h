// Unicode word boundaries (UAX #29) exactly as ICU's word BreakIterator reports them, as
// byte offsets into UTF-8 text. UTF-8 validation is base/utf8.h.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion {

// Appends to `out` every word boundary of `text` in (0, len], in increasing order.
// REQUIRES: text is valid UTF-8 (boundaries of invalid bytes are ICU's, undocumented).
void WordBoundaries(std::string_view text, std::vector<size_t>* out);

}  // namespace coolfusion
