#include "chat/tool_call_parser.h"

#include <nlohmann/json.hpp>

#include "chat/tag_scan.h"

namespace coolfusion::chat {

namespace {

constexpr std::string_view kOpen = "<tool_call>";
constexpr std::string_view kClose = "</tool_call>";

// One block's inside: {"name": string, "arguments": object}. False if it is not that.
bool ParseCall(std::string_view inside, ToolCall* out) {
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(inside, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("name") || !j["name"].is_string())
    return false;
  out->name = j["name"].get<std::string>();
  if (!j.contains("arguments")) {
    out->arguments = "{}";
  } else if (j["arguments"].is_string()) {  // arguments written as a JSON string
    out->arguments = j["arguments"].get<std::string>();
  } else {
    out->arguments = j["arguments"].dump();
  }
  out->id = NewCallId();
  return true;
}

}  // namespace

void ToolCallParser::Feed(std::string_view piece, std::string* content,
                          std::vector<ToolCall>* calls) {
  held_.append(piece);
  Run(content, calls, false);
}

void ToolCallParser::Finish(std::string* content) {
  std::vector<ToolCall> none;
  Run(content, &none, true);
}

void ToolCallParser::Run(std::string* content, std::vector<ToolCall>* calls, bool end) {
  if (!in_calls_) {
    const size_t at = held_.find(kOpen);
    if (at == std::string::npos) {
      if (end) {
        content->append(held_);
        held_.clear();
        return;
      }
      // Hold back a tag's possible start, and the whitespace before it.
      size_t keep = PartialTagAtEnd(held_, kOpen);
      while (keep < held_.size() && IsSpaceChar(held_[held_.size() - keep - 1])) ++keep;
      content->append(held_, 0, held_.size() - keep);
      held_.erase(0, held_.size() - keep);
      return;
    }
    size_t cut = at;
    while (cut > 0 && IsSpaceChar(held_[cut - 1])) --cut;
    content->append(held_, 0, cut);
    held_.erase(0, at);
    in_calls_ = true;
  }
  // Calls: complete blocks; what is between them is dropped.
  while (true) {
    const size_t open = held_.find(kOpen);
    if (open == std::string::npos) {
      // Keep only a tag's possible start.
      held_.erase(0, held_.size() - PartialTagAtEnd(held_, kOpen));
      return;
    }
    const size_t close = held_.find(kClose, open + kOpen.size());
    if (close == std::string::npos) {
      held_.erase(0, open);
      if (end) held_.clear();  // cut off: dropped
      return;
    }
    ToolCall call;
    if (ParseCall(std::string_view(held_).substr(open + kOpen.size(), close - open - kOpen.size()),
                  &call))
      calls->push_back(std::move(call));
    held_.erase(0, close + kClose.size());
  }
}

void ParseToolCalls(std::string_view text, std::string* content, std::vector<ToolCall>* calls) {
  ToolCallParser p;
  p.Feed(text, content, calls);
  p.Finish(content);
}

}  // namespace coolfusion::chat
