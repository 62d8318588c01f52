#include "fusion/emitter.h"

#include <algorithm>
#include <string_view>

#include "base/utf8.h"

namespace coolfusion {

size_t Emitter::SafeEnd(const std::string& g, bool final) const {
  if (final) return g.size();
  size_t hold = 0;
  for (const auto& s : opts_.stop) hold = std::max(hold, s.empty() ? 0 : s.size() - 1);
  size_t end = g.size() > hold ? g.size() - hold : 0;
  return CompleteUtf8Prefix(std::string_view(g).substr(0, end));
}

bool Emitter::OnSegment(std::string& generated, Segment seg, GenerationResult* out,
                        StopReason* reason) {
  const std::string& g = generated;
  const size_t seg_start = g.size() - seg.text.size();
  // Earliest stop string that ends within the new text.
  size_t cut = std::string::npos;
  for (const auto& stop : opts_.stop) {
    if (stop.empty()) continue;
    const size_t from = seg_start >= stop.size() ? seg_start - stop.size() + 1 : 0;
    const size_t at = g.find(stop, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  StopReason why = StopReason::kStopString;
  if (budget_) {
    const size_t end = budget_();
    if (end != std::string::npos && end < g.size() && end < cut) {
      cut = end;
      why = StopReason::kMaxTokens;
    }
  }
  bool stop = false;
  if (cut != std::string::npos) {
    generated.resize(cut);
    // Trim the segments so that they still spell the text.
    size_t total = 0;
    for (const auto& x : out->segments) total += x.text.size();
    if (cut < total) {
      while (!out->segments.empty() && total - out->segments.back().text.size() >= cut) {
        total -= out->segments.back().text.size();
        out->segments.pop_back();
      }
      if (!out->segments.empty())
        out->segments.back().text.resize(out->segments.back().text.size() - (total - cut));
      seg.text.clear();
    } else {
      seg.text.resize(cut - total);
    }
    *reason = why;
    cut_at_budget_ = why == StopReason::kMaxTokens;
    stop = true;
  }
  if (!seg.text.empty() || !stop) out->segments.push_back(seg);
  const std::string& g2 = generated;
  const size_t safe = SafeEnd(g2, stop);
  std::string_view delta;
  if (safe > emitted_) delta = std::string_view(g2).substr(emitted_, safe - emitted_);
  bool keep_going = true;
  if (cb_) keep_going = cb_(out->segments.empty() ? seg : out->segments.back(), delta);
  emitted_ = std::max(emitted_, safe);
  if (!keep_going && !stop) {
    *reason = StopReason::kCancelled;
    stop = true;
  }
  return stop;
}

void Emitter::Finish(const std::string& generated, GenerationResult* out) {
  const std::string& g = generated;
  if (cb_ && emitted_ < g.size()) {
    Segment empty;
    cb_(out->segments.empty() ? empty : out->segments.back(), std::string_view(g).substr(emitted_));
  }
  emitted_ = g.size();
}

}  // namespace coolfusion
