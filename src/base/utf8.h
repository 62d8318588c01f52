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

// Length of the longest prefix of `text` that does not end inside a UTF-8 sequence.
size_t CompleteUtf8Prefix(std::string_view text);

// `text` with every ill-formed byte replaced by U+FFFD (for JSON, which needs UTF-8).
std::string ToValidUtf8(std::string_view text);

// Status form of IsValidUtf8 with a message naming `what` and the offset.
Status CheckUtf8(std::string_view text, std::string_view what);

}  // namespace coolfusion
