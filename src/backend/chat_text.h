// ChatText: a rendered chat prompt with the messages' contents told apart from the
// template's own text, so that special tokens (<|im_start|>, ...) are parsed only from the
// template's text, never from what a user wrote (fusion/prompt.h tokenizes it).
//
// How contents are found: the messages are rendered once with each content replaced by a
// marker (U+E000 i U+E001, private-use characters no template writes), so the marked
// rendering shows where the template put each content and which text is its own.
#pragma once

#include <coolfusion/options.h>

#include <string>
#include <utility>
#include <vector>

namespace coolfusion {

struct ChatText {
  std::string text;
  // Byte ranges [begin, end) of text that are message contents, in text order, disjoint.
  // A content the template leaves out has none; one it repeats has one per copy.
  std::vector<std::pair<size_t, size_t>> contents;
};

// The messages with each content replaced by its marker; with skip_empty, an empty
// content stays empty (a template that tests `if message.content` renders it as it would).
std::vector<ChatMessage> MarkContents(const std::vector<ChatMessage>& messages, bool skip_empty);

// Splits `marked` (the rendering of MarkContents(messages, ...)) at its markers.
//
// rendered == nullptr: out->text is `marked` with each marker replaced by its message's
// content as written; returns true.
//
// rendered != nullptr (the same messages rendered with their contents): out->text is
// *rendered, with each content where the marked rendering put it, as written or with
// whitespace stripped from either end or both (Jinja's `| trim`); returns true. Returns
// false when *rendered is not the marked rendering with each marker replaced that way
// (the template changes contents otherwise, or tests them): out then holds the
// substitution as for rendered == nullptr.
bool SplitMarked(const std::string& marked, const std::vector<ChatMessage>& messages,
                 const std::string* rendered, ChatText* out);

}  // namespace coolfusion
