// Plain greedy (or sampled) generation with the first model that can encode the
// prompt: one decode per token, no boundaries, no scoring. The baseline every fused
// method is compared with.
#include <chrono>

#include "fusion/method.h"

namespace coolfusion {

namespace {

class SingleMethod final : public FusionMethod {
 public:
  Status Run(MethodContext& ctx, GenerationResult* out) override {
    Session& s = *ctx.session;
    const int u = s.first_active();
    std::vector<Draft> drafts(s.n_models());
    std::vector<const Draft*> dp(s.n_models(), nullptr);
    auto never = [](Draft&) { return false; };
    while (true) {
      if (s.NewTokens() >= ctx.opts->max_new_tokens) {
        out->stop_reason = StopReason::kMaxTokens;
        break;
      }
      const auto t0 = std::chrono::steady_clock::now();
      Draft& d = drafts[u];
      CF_RETURN_IF_ERROR(s.MakeDraft(u, 1, never, &d));
      if (d.grammar_stuck) return s.GrammarStuck(u);
      if (d.eog) {
        out->stop_reason = StopReason::kEndOfGeneration;
        break;
      }
      if (d.tokens.empty()) {
        out->stop_reason = StopReason::kContextFull;
        break;
      }
      d.cut_tokens = 1;
      dp[u] = &d;
      std::vector<StepCandidate> cands{StepCandidate{d.Candidate(), false, {u}, true}};
      CF_RETURN_IF_ERROR(s.Commit(cands, 0, dp));
      Segment seg;
      seg.text = cands[0].text;
      seg.winner = u;
      seg.generate_ms =
          std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      s.TakeStepStats(&seg.decode_calls, &seg.tokens_decoded);
      out->timings.generate_ms += seg.generate_ms;
      StopReason reason;
      if (ctx.emitter->OnSegment(s.mutable_generated(), std::move(seg), out, &reason)) {
        out->stop_reason = reason;
        break;
      }
      if (s.ContextFull(u, 2)) {
        out->stop_reason = StopReason::kContextFull;
        break;
      }
    }
    return Status::Ok();
  }
};

}  // namespace

std::unique_ptr<FusionMethod> MakeSingleMethod() { return std::make_unique<SingleMethod>(); }

}  // namespace coolfusion
