// Unicode word boundaries (UAX #29) exactly as ICU's word BreakIterator reports them, as
// byte offsets into UTF-8 text; and UTF-8 validation.
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion {

// Appends to `out` every word boundary of `text` in (0, len], in increasing order.
// REQUIRES: text is valid UTF-8 (boundaries of invalid bytes are ICU's, undocumented).
void WordBoundaries(std::string_view text, std::vector<size_t>* out);

// Whether `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
// On failure *bad_at is the byte offset of the first ill-formed sequence.
bool IsValidUtf8(std::string_view text, size_t* bad_at = nullptr);

// Length of the longest prefix of `text` that does not end inside a UTF-8 sequence.
size_t CompleteUtf8Prefix(std::string_view text);

// `text` with every ill-formed byte replaced by U+FFFD (for JSON, which needs UTF-8).
std::string ToValidUtf8(std::string_view text);

// Status form of IsValidUtf8 with a message naming `what` and the offset.
Status CheckUtf8(std::string_view text, std::string_view what);

}  // namespace coolfusion
