// Emitter: streams committed text to the caller as segments are committed. It holds
// back what could still be the start of a stop string (the longest stop string's length
// minus one byte) and any incomplete UTF-8 character; when a stop string appears (it may
// span segments) it cuts the generated text and the segments before it and ends the
// generation; so it does where the text passes the token budget (-n, max_tokens: a
// segment may hold several tokens, the budget is exact); Finish flushes what was held
// back.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/result.h>

#include <functional>
#include <string>

namespace coolfusion {

class Emitter {
 public:
  // Where the generated text reaches the token budget: its first max_new_tokens tokens'
  // length in bytes, std::string::npos while it has not passed the budget.
  using BudgetEnd = std::function<size_t()>;
  // REQUIRES: opts, cb and budget outlive the emitter; budget may be empty (no cut).
  Emitter(const GenerateOptions& opts, const SegmentCallback& cb, BudgetEnd budget = nullptr)
      : opts_(opts), cb_(cb), budget_(std::move(budget)) {}
  // Records a committed segment; `generated` is the whole generated text, ending with
  // seg.text. Returns true when generation must stop: a stop string appeared (generated,
  // out->segments and the segment are cut before it; *reason kStopString), the text
  // passed the token budget (cut there the same way; *reason kMaxTokens), or the callback
  // asked to stop (*reason kCancelled).
  bool OnSegment(std::string& generated, Segment seg, GenerationResult* out, StopReason* reason);
  // Whether the text was cut at the token budget.
  bool cut_at_budget() const { return cut_at_budget_; }
  // Streams what is left once generation has ended.
  void Finish(const std::string& generated, GenerationResult* out);

 private:
  size_t SafeEnd(const std::string& g, bool final) const;
  const GenerateOptions& opts_;
  const SegmentCallback& cb_;
  BudgetEnd budget_;
  size_t emitted_ = 0;
  bool cut_at_budget_ = false;
};

}  // namespace coolfusion
