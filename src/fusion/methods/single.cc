// Plain greedy (or sampled) generation with the first model that can encode the
// prompt: one decode per token, no boundaries, no scoring. The baseline every fused
// method is compared with.
#include "fusion/method.h"
#include "fusion/methods/registry.h"

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
    StepLoop steps(ctx, out);
    bool undecoded = false;  // the last commit left its token out of the KV cache
    while (steps.Next()) {
      // The generation goes on after all: the token is decoded now.
      if (undecoded) CF_RETURN_IF_ERROR(s.DecodeCommitted());
      undecoded = false;
      Draft& d = drafts[u];
      CF_RETURN_IF_ERROR(s.MakeDraft(u, 1, never, &d));
      if (d.grammar_stuck) return s.GrammarStuck(u);
      if (d.eog) {
        steps.Stop(StopReason::kEndOfGeneration);
        break;
      }
      if (d.tokens.empty()) {
        steps.Stop(StopReason::kContextFull);
        break;
      }
      d.cut_tokens = 1;
      dp[u] = &d;
      std::vector<StepCandidate> cands{StepCandidate{d.Candidate(), false, {u}, true}};
      // The token that spends the budget is not decoded (nothing reads its logits), unless
      // the generation goes on after all.
      undecoded = ctx.opts->max_new_tokens - s.NewTokens() <= 1;
      CF_RETURN_IF_ERROR(s.Commit(cands, 0, dp, undecoded));
      Segment seg;
      seg.text = cands[0].text;
      seg.winner = u;
      if (steps.End(std::move(seg))) break;
      if (s.ContextFull(u, 2)) {
        steps.Stop(StopReason::kContextFull);
        break;
      }
    }
    return Status::Ok();
  }
};

}  // namespace

extern const MethodSpec kSingleMethod{
    .name = "single",
    .make = [] { return std::unique_ptr<FusionMethod>(new SingleMethod); },
    .one_model = true,
    .token_healing = true,
};

}  // namespace coolfusion
