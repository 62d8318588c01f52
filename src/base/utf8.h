// UTF-8 validation and repair: the lowest layer, used by every other one (alignment,
// fusion, the server, eval, the CLI). No ICU, no llama.h.
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <string>
#include <string_view>

namespace coolfusion {

// Whether `text` is well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF).
// On failure *bad_at is the byte offset of the first ill-formed sequence.
bool IsValidUtf8(std::string_view text, size_t* bad_at = nullptr);

// The length (1-4) of the UTF-8 sequence that starts with byte `lead`, 0 if `lead` cannot
// start one (a continuation byte, 0xC0, 0xC1, 0xF5-0xFF).
size_t Utf8SequenceLength(unsigned char lead);

// The code point of the well-formed UTF-8 sequence that starts at text[pos], with its
// length in *len; returns 0 with *len = 0 when none starts there (a continuation byte, a
// truncated or ill-formed sequence, pos >= size).
char32_t DecodeUtf8(std::string_view text, size_t pos, size_t* len);

// The code point of the well-formed sequence that ends just before text[pos]; 0 when
// none does (pos == 0, or the bytes before are not one whole character).
char32_t DecodeUtf8Before(std::string_view text, size_t pos);

// Length of the longest prefix of `text` that does not end inside a UTF-8 sequence.
size_t CompleteUtf8Prefix(std::string_view text);

// `text` with every ill-formed byte replaced by U+FFFD (for JSON, which needs UTF-8).
std::string ToValidUtf8(std::string_view text);

// At most `max_bytes` of `text` for a message, never cut inside a character, and valid
// UTF-8 (ill-formed bytes replaced as ToValidUtf8 does).
std::string Utf8Excerpt(std::string_view text, size_t max_bytes);

// Status form of IsValidUtf8 with a message naming `what` and the offset.
Status CheckUtf8(std::string_view text, std::string_view what);

}  // namespace coolfusion
