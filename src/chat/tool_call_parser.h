// Reads tool calls out of an answer written in the envelope of tool_calls.h: the text
// before the first "<tool_call>" is the answer's content; each complete
// "<tool_call>\n{"name": ..., "arguments": {...}}\n</tool_call>" block is a call. Works on a
// stream: content that may still be the start of "<tool_call>" (or whitespace before one)
// is held back until the next piece shows what it is, and a call is handed out when its
// block closes. A block that never closes (the answer cut by max_tokens) or does not
// parse is dropped. No HTTP, no threads.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "chat/tool_calls.h"

namespace coolfusion::chat {

class ToolCallParser {
 public:
  // The next piece of the answer: appends what can be shown now to *content and the calls
  // completed by it to *calls (each with a new id).
  void Feed(std::string_view piece, std::string* content, std::vector<ToolCall>* calls);
  // The answer's end: content held back (never followed by a call) is appended.
  void Finish(std::string* content);

 private:
  void Run(std::string* content, std::vector<ToolCall>* calls, bool end);
  bool in_calls_ = false;  // past the first "<tool_call>": no more content
  std::string held_;
};

// The whole answer at once: its content (whitespace before the calls removed) and calls.
void ParseToolCalls(std::string_view text, std::string* content, std::vector<ToolCall>* calls);

}  // namespace coolfusion::chat
