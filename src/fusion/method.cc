#include "fusion/method.h"

namespace coolfusion {

namespace {
double MsBetween(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

bool StepLoop::Next() {
  if (ctx_.session->NewTokens() >= ctx_.opts->max_new_tokens) {
    Stop(StopReason::kMaxTokens);
    return false;
  }
  Begin();
  return true;
}

void StepLoop::Begin() {
  begin_ = Clock::now();
  has_drafted_ = false;
}

void StepLoop::Drafted() {
  drafted_ = Clock::now();
  has_drafted_ = true;
}

bool StepLoop::End(Segment seg, bool eog) {
  Session& s = *ctx_.session;
  const Clock::time_point now = Clock::now();
  if (has_drafted_) {
    seg.generate_ms = MsBetween(begin_, drafted_);
    seg.score_ms = MsBetween(drafted_, now);
  } else {
    seg.generate_ms = MsBetween(begin_, now);
  }
  s.TakeStepStats(&seg.decode_calls, &seg.tokens_decoded);
  s.TakeScoringCalls(&seg.scoring_calls);
  out_->timings.generate_ms += seg.generate_ms;
  out_->timings.score_ms += seg.score_ms;
  StopReason reason;
  if (ctx_.emitter->OnSegment(s.mutable_generated(), std::move(seg), out_, &reason)) {
    Stop(reason);
    return true;
  }
  if (eog) {
    Stop(StopReason::kEndOfGeneration);
    return true;
  }
  return false;
}

void StepLoop::Retire(int v, Leaving why) {
  Session& s = *ctx_.session;
  s.Retire(v);
  out_->warnings.push_back(
      s.label(v) + (why == Leaving::kContextFull
                        ? "'s context is full; fusing without it from here"
                        : "'s vocabulary has no token for what the grammar needs next; fusing "
                          "without it from here"));
}

bool StepLoop::RetireFull(const std::function<bool(int)>& full) {
  Session& s = *ctx_.session;
  for (size_t v = 0; v < s.n_models(); ++v) {
    if (!s.active((int)v) || !full((int)v)) continue;
    if (s.n_active() == 1) {
      Stop(StopReason::kContextFull);
      return true;
    }
    Retire((int)v, Leaving::kContextFull);
  }
  return false;
}

}  // namespace coolfusion
