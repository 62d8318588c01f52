// Reasoning kept apart from the answer, as llama-server's `reasoning_format` does: a chat
// answer that opens a thinking block ("<think>" at its start, after whitespace) has the
// block's text in `reasoning_content` and the rest in `content`. Works on a stream: text
// that may still be the start of a tag is held back until the next piece shows what it is.
// No HTTP, no threads.
#pragma once

#include <string>
#include <string_view>

namespace coolfusion::server {

enum class ReasoningFormat {
  kNone,            // everything in content, tags included
  kDeepseek,        // thoughts in reasoning_content, the rest in content (auto, the default)
  kDeepseekLegacy,  // thoughts in reasoning_content, and content keeps everything
};

// llama-server's names: "none", "deepseek", "deepseek-legacy", "auto" (= deepseek).
bool ParseReasoningFormat(std::string_view name, ReasoningFormat* out);

class ReasoningSplitter {
 public:
  // starts_open: the prompt opened the block (its template ends in "<think>"), so the
  // answer starts inside it, and only "</think>" ends it.
  explicit ReasoningSplitter(ReasoningFormat format, bool starts_open = false)
      : format_(format), state_(starts_open ? State::kThinking : State::kStart) {}
  // The next piece of the answer: appends what can be shown now to *reasoning and
  // *content.
  void Feed(std::string_view piece, std::string* reasoning, std::string* content);
  // The answer's end: what was held back (an unclosed block's text is reasoning).
  void Finish(std::string* reasoning, std::string* content);

 private:
  enum class State { kStart, kThinking, kAfterThinking, kContent };
  void Run(std::string* reasoning, std::string* content, bool end);
  ReasoningFormat format_;
  State state_;
  std::string held_;  // text not yet shown
};

// The whole answer at once.
void SplitReasoning(ReasoningFormat format, std::string_view text, std::string* reasoning,
                    std::string* content, bool starts_open = false);

}  // namespace coolfusion::server
