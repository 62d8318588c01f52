// A model's prompt: its text, its tokens, and where each token ends in the text.
//
// Chat prompts are rendered with the model's own GGUF chat template. Special tokens
// (<|im_start|>, ...) are parsed only from the template's own text, never from message
// contents: contents are rendered as markers, the template's text is split around its
// special tokens, and each run of plain text (template text and contents together) is
// tokenized without special parsing, exactly as llama.cpp splits fragments.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/status.h>

#include <string>
#include <utility>
#include <vector>

#include "backend/llama_model.h"

namespace coolfusion {

struct PromptTokens {
  std::string text;
  std::vector<Token> tokens;  // with BOS when the vocabulary adds one
  std::vector<size_t> ends;   // end offset of each token in text (BOS: 0)
  bool ends_ok = true;        // false when pieces do not spell the text
  size_t min_anchor = 0;      // end of the last special token (re-encoding starts after it)
  size_t n_fixed = 0;         // tokens up to min_anchor
  // Byte ranges [begin, end) of text that the user wrote: the whole raw prompt, or each
  // chat message's content (not the template's own text). Prompt weights measure these.
  std::vector<std::pair<size_t, size_t>> content;
};

// The text model m's tokens spell: their pieces joined, without the space SentencePiece's
// dummy prefix puts before the first word (as llama.cpp detokenizes); *dropped is 1 when
// that space was dropped, else 0. InvalidArgument naming the first id out of the
// vocabulary.
Status SpelledText(const LlamaModel& m, const std::vector<Token>& ids, std::string* text,
                   size_t* dropped);

// A raw prompt: one fragment, no special tokens parsed.
Status PlainPrompt(const LlamaModel& m, const std::string& prompt, PromptTokens* out);

// Chat messages through the model's template (or the documented plain fallback:
// "Role: content" lines then "Assistant:").
Status ChatPrompt(const LlamaModel& m, const std::vector<ChatMessage>& messages, PromptTokens* out);

// One model's rendering of a request's prompt: its tokens, or why it cannot encode them
// (status; InvalidArgument: that model is left out).
struct RenderedPrompt {
  Status status;
  PromptTokens tokens;
};
// The request's prompt (raw or chat) as model m reads it.
RenderedPrompt RenderPrompt(const LlamaModel& m, const Request& request);

// The request's text, before any model sees it: a raw prompt must be non-empty, and the
// prompt and every chat message's content valid UTF-8. Both Ensemble::Validate and
// Ensemble::Generate check it (one path).
Status CheckRequestText(const Request& request);

// Whether the model's prompt leaves room to generate: fewer tokens than its context.
// Else ResourceExhausted naming the model (its label) and both sizes.
Status CheckPromptFits(const PromptTokens& p, const LlamaModel& m);

}  // namespace coolfusion
