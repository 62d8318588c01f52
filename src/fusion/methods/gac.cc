// GaC, Generation as Classification (Yu et al., arXiv 2406.12585): at each position every
// model's whole next-token distribution is mapped onto the union of the vocabularies
// (tokens that spell the same bytes share an entry; a model gives 0 to the strings it
// has no token for), the mapped distributions are averaged with the request's weights
// (prompt weights under `auto`), and the most probable entry is appended. The gate
// (PeerOptions::gate, --gate P): where the leading model, the one with the largest
// weight, gives its most likely token a probability of P or more, that token is taken
// alone and no distribution is mapped.
#include <algorithm>
#include <numeric>

#include "fusion/methods/registry.h"
#include "fusion/methods/token_level.h"

namespace coolfusion {

namespace {

class GacPicker final : public TokenPicker {
 public:
  explicit GacPicker(double gate) : gate_(gate) {}

  Status Pick(const TokenPosition& pos, const std::function<bool(int32_t)>& allowed, int32_t* entry,
              bool* fused) override {
    const VocabUnion& vu = *pos.vocab;
    if (gate_ < 1 && pos.leader >= 0) {
      const size_t l = (size_t)pos.leader;
      const Token t = vu.TokenOf(pos.leader, pos.top[l], pos.probs[l].data());
      const double p = t < 0 ? 0.0 : (double)pos.probs[l][(size_t)t];
      if (p >= gate_ && allowed(pos.top[l])) {
        *entry = pos.top[l];
        *fused = false;
        return Status::Ok();
      }
    }
    acc_.assign((size_t)vu.size(), 0.0);
    for (size_t v = 0; v < pos.probs.size(); ++v) {
      const std::vector<float>& p = pos.probs[v];
      if (p.empty() || pos.weights[v] <= 0) continue;
      const double w = pos.weights[v];
      for (size_t t = 0; t < p.size(); ++t) {
        const int32_t e = vu.Entry((int)v, (Token)t);
        if (e != VocabUnion::kNone) acc_[(size_t)e] += w * (double)p[t];
      }
    }
    *fused = true;
    // The best entry; under a grammar, the best it allows.
    const auto best = std::max_element(acc_.begin(), acc_.end()) - acc_.begin();
    if (allowed((int32_t)best)) {
      *entry = (int32_t)best;
      return Status::Ok();
    }
    order_.resize(acc_.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::sort(order_.begin(), order_.end(),
              [&](int32_t a, int32_t b) { return acc_[(size_t)a] > acc_[(size_t)b]; });
    for (int32_t e : order_) {
      if (acc_[(size_t)e] <= 0) break;
      if (allowed(e)) {
        *entry = e;
        return Status::Ok();
      }
    }
    return Status::InvalidArgument(
        "gac: no token any model gives a probability follows the grammar here");
  }

 private:
  double gate_;
  std::vector<double> acc_;
  std::vector<int32_t> order_;
};

class GacMethod final : public FusionMethod {
 public:
  Status Run(MethodContext& ctx, GenerationResult* out) override {
    GacPicker picker(ctx.gate);
    return RunTokenLevel(ctx, picker, out);
  }
};

}  // namespace

extern const MethodSpec kGacMethod{
    .name = "gac",
    .make = [] { return std::unique_ptr<FusionMethod>(new GacMethod); },
    .vocab_union = true,
    .greedy_only = "picks the most likely token of the fused distribution",
    .auto_gate = 1,  // GaC's paper fuses every token
};

}  // namespace coolfusion
