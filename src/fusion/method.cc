#include "fusion/method.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/utf8.h"

namespace coolfusion {

size_t Emitter::SafeEnd(const std::string& g, bool final) const {
  if (final) return g.size();
  size_t hold = 0;
  for (const auto& s : opts_.stop) hold = std::max(hold, s.empty() ? 0 : s.size() - 1);
  size_t end = g.size() > hold ? g.size() - hold : 0;
  return CompleteUtf8Prefix(std::string_view(g).substr(0, end));
}

bool Emitter::OnSegment(Session& s, Segment seg, GenerationResult* out, StopReason* reason) {
  const std::string& g = s.generated();
  const size_t seg_start = g.size() - seg.text.size();
  // Earliest stop string that ends within the new text.
  size_t cut = std::string::npos;
  for (const auto& stop : opts_.stop) {
    if (stop.empty()) continue;
    const size_t from = seg_start >= stop.size() ? seg_start - stop.size() + 1 : 0;
    const size_t at = g.find(stop, from);
    if (at != std::string::npos) cut = std::min(cut, at);
  }
  bool stop = false;
  if (cut != std::string::npos) {
    s.Truncate(cut);
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
    *reason = StopReason::kStopString;
    stop = true;
  }
  if (!seg.text.empty() || !stop) out->segments.push_back(seg);
  const std::string& g2 = s.generated();
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

void Emitter::Finish(Session& s, GenerationResult* out) {
  const std::string& g = s.generated();
  if (cb_ && emitted_ < g.size()) {
    Segment empty;
    cb_(out->segments.empty() ? empty : out->segments.back(), std::string_view(g).substr(emitted_));
  }
  emitted_ = g.size();
}

Status ChooseCandidate(MethodContext& ctx, const std::vector<Draft>& drafts,
                       std::vector<StepCandidate>* cands, Segment* seg, int* winner,
                       const std::string* extra, bool extra_eog) {
  Session& s = *ctx.session;
  cands->clear();
  std::vector<const Draft*> dp(s.n_models(), nullptr);
  for (const Draft& d : drafts) {
    if (d.model < 0) continue;
    dp[d.model] = &d;
    const std::string text = d.Candidate();
    auto it = std::find_if(cands->begin(), cands->end(), [&](const StepCandidate& c) {
      return c.text == text && c.eog == d.cut_eog;
    });
    if (it != cands->end()) {
      it->writers.push_back(d.model);
      s.counters().duplicate_candidates++;
      continue;
    }
    cands->push_back(StepCandidate{text, d.cut_eog, {d.model}, d.start_ok});
  }
  if (extra != nullptr) {
    auto it = std::find_if(cands->begin(), cands->end(), [&](const StepCandidate& c) {
      return c.text == *extra && c.eog == extra_eog;
    });
    if (it == cands->end()) cands->push_back(StepCandidate{*extra, extra_eog, {}, true});
  }
  std::vector<std::vector<double>> ppl;
  const auto t0 = std::chrono::steady_clock::now();
  CF_RETURN_IF_ERROR(s.Score(*cands, dp, &ppl));
  seg->score_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  bool any_start_ok = false;
  for (const auto& c : *cands) any_start_ok |= c.start_ok;
  int best = -1;
  seg->candidates.clear();
  std::vector<double> w = *ctx.weights;
  for (size_t v = 0; v < w.size(); ++v) {
    if (!s.active((int)v)) w[v] = 0;
  }
  for (size_t c = 0; c < cands->size(); ++c) {
    Candidate out;
    out.text = (*cands)[c].text;
    out.ends_generation = (*cands)[c].eog;
    out.writers = (*cands)[c].writers;
    out.ppl = ppl[c];
    out.score = ctx.rule->Score(ppl[c], w, &out.used);
    for (size_t v = 0; v < w.size(); ++v) {
      if (w[v] <= 0) out.used[v] = false;
    }
    const bool eligible = !any_start_ok || (*cands)[c].start_ok;
    // Strict < keeps the lowest model index on ties (candidates are ordered by writer).
    if (eligible && (best < 0 || out.score < seg->candidates[best].score ||
                     (std::isinf(seg->candidates[best].score) && !std::isinf(out.score)))) {
      best = (int)c;
    }
    seg->candidates.push_back(std::move(out));
  }
  if (best < 0) best = 0;
  *winner = best;
  seg->winning_candidate = best;
  seg->winner = (*cands)[best].writers.empty() ? -1 : (*cands)[best].writers.front();
  seg->text = (*cands)[best].text;
  return Status::Ok();
}

}  // namespace coolfusion
