// UniTE (Yao et al., arXiv 2410.03777) at every position: the top-k union's fused
// distribution (top_k_union.h; k = PeerOptions::unite_top_k, 10 as in the paper), its
// most probable string appended for every model. Weights: the request's (prompt weights
// under `auto`). Where every model's own most likely token is the same string, that
// string is taken without fusing (token_level.h).
#include "fusion/methods/registry.h"
#include "fusion/methods/top_k_union.h"

namespace coolfusion {

namespace {

class UnitePicker final : public TokenPicker {
 public:
  explicit UnitePicker(int k) : k_(k) {}

  Status Pick(const TokenPosition& pos, const std::function<bool(int32_t)>& allowed, int32_t* entry,
              bool* fused) override {
    TopKUnion(pos, k_, &fused_);
    const int best = BestAllowed(fused_, allowed);
    if (best < 0)
      return Status::InvalidArgument(
          "unite: none of the models' " + std::to_string(k_) +
          " most likely next tokens follows the grammar (use another method with this grammar)");
    *entry = fused_.entries[(size_t)best];
    *fused = true;
    return Status::Ok();
  }

 private:
  int k_;
  FusedEntries fused_;
};

class UniteMethod final : public FusionMethod {
 public:
  Status Run(MethodContext& ctx, GenerationResult* out) override {
    UnitePicker picker(ctx.opts->peer.unite_top_k);
    return RunTokenLevel(ctx, picker, out);
  }
};

}  // namespace

extern const MethodSpec kUniteMethod{
    .name = "unite",
    .make = [] { return std::unique_ptr<FusionMethod>(new UniteMethod); },
    .vocab_union = true,
    .greedy_only = "picks the most likely token of the fused distribution",
};

}  // namespace coolfusion
