#include "server/reasoning.h"

#include "chat/tag_scan.h"

namespace coolfusion::server {

namespace {

constexpr std::string_view kOpen = "<think>";
constexpr std::string_view kClose = "</think>";

}  // namespace

bool ParseReasoningFormat(std::string_view name, ReasoningFormat* out) {
  if (name == "none") {
    *out = ReasoningFormat::kNone;
  } else if (name == "deepseek" || name == "auto") {
    *out = ReasoningFormat::kDeepseek;
  } else if (name == "deepseek-legacy") {
    *out = ReasoningFormat::kDeepseekLegacy;
  } else {
    return false;
  }
  return true;
}

void ReasoningSplitter::Feed(std::string_view piece, std::string* reasoning, std::string* content) {
  if (format_ == ReasoningFormat::kNone) {
    content->append(piece);
    return;
  }
  held_.append(piece);
  Run(reasoning, content, false);
}

void ReasoningSplitter::Finish(std::string* reasoning, std::string* content) {
  if (format_ == ReasoningFormat::kNone) return;
  Run(reasoning, content, true);
}

void ReasoningSplitter::Run(std::string* reasoning, std::string* content, bool end) {
  const bool legacy = format_ == ReasoningFormat::kDeepseekLegacy;
  for (;;) {
    switch (state_) {
      case State::kStart: {
        size_t i = 0;
        while (i < held_.size() && chat::IsSpaceChar(held_[i])) ++i;
        const std::string_view rest = std::string_view(held_).substr(i);
        if (rest.substr(0, kOpen.size()) == kOpen) {
          if (legacy) content->append(held_, 0, i + kOpen.size());
          held_.erase(0, i + kOpen.size());
          state_ = State::kThinking;
          continue;
        }
        if (!end && kOpen.substr(0, rest.size()) == rest) return;  // may still open one
        state_ = State::kContent;
        continue;
      }
      case State::kThinking: {
        const size_t at = held_.find(kClose);
        if (at != std::string::npos) {
          reasoning->append(held_, 0, at);
          if (legacy) content->append(held_, 0, at + kClose.size());
          held_.erase(0, at + kClose.size());
          state_ = State::kAfterThinking;
          continue;
        }
        const size_t keep = end ? 0 : chat::PartialTagAtEnd(held_, kClose);
        reasoning->append(held_, 0, held_.size() - keep);
        if (legacy) content->append(held_, 0, held_.size() - keep);
        held_.erase(0, held_.size() - keep);
        return;
      }
      case State::kAfterThinking: {
        // The whitespace between the block and the answer is neither (legacy keeps it).
        size_t i = 0;
        while (i < held_.size() && chat::IsSpaceChar(held_[i])) ++i;
        if (legacy) content->append(held_, 0, i);
        held_.erase(0, i);
        if (held_.empty() && !end) return;
        state_ = State::kContent;
        continue;
      }
      case State::kContent:
        content->append(held_);
        held_.clear();
        return;
    }
  }
}

void SplitReasoning(ReasoningFormat format, std::string_view text, std::string* reasoning,
                    std::string* content, bool starts_open) {
  ReasoningSplitter s(format, starts_open);
  s.Feed(text, reasoning, content);
  s.Finish(reasoning, content);
}

}  // namespace coolfusion::server
