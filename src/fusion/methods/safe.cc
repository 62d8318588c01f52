// SAFE (Lee et al., arXiv 2510.15346, "When to ensemble"), over UniTE's fused
// distribution. One model drafts: the leading one, with the largest weight (prompt
// weights under `auto`; SAFE takes the best model). It writes PeerOptions::
// safe_draft_tokens tokens (5, the paper's) greedily; every other model reads the draft
// in one batched decode (verification.h). The ensemble decides at the first drafter
// token t_j where both hold:
//   - every verifier has a token that starts exactly where t_j starts (the tokenizers
//     agree on the boundary: SAFE's "previous token is not OOV-like");
//   - they disagree: some verifier's most likely token there is not its token of the
//     draft, and the weighted mean of each model's probability of its own token of the
//     draft there is at most 1/2 (above it, the draft's token is the argmax of any
//     average: SAFE's Theorem 1).
// There, UniTE's top-k union (top_k_union.h) fuses the drafter's and the verifiers'
// distributions; when its best probability is below 1/2 it is sharpened as the paper's
// main results do (each of the drafter's top-k strings above 0.1 takes the mass of the
// union's strings that extend it), and its best string replaces t_j. The drafter's
// tokens before t_j are kept and a new draft starts after the decided string. Where no
// position qualifies the whole draft is accepted. The drafter's end-of-generation counts
// as one more position. Counters::fused_positions / positions is the share of new
// tokens decided by the ensemble (SAFE's E/T).
#include <algorithm>
#include <cmath>

#include "fusion/logits.h"
#include "fusion/methods/registry.h"
#include "fusion/methods/top_k_union.h"
#include "fusion/methods/verification.h"

namespace coolfusion {

namespace {

constexpr int kTopK = 10;              // UniTE's k
constexpr double kSharpenBelow = 0.5;  // sharpen when the best fused probability is below
constexpr double kSharpenMin = 0.1;    // the paper's lambda

void Softmax(const float* logits, int n, std::vector<float>* p) {
  const double lse = LogSumExp(logits, n);
  p->resize((size_t)n);
  for (int t = 0; t < n; ++t) (*p)[(size_t)t] = (float)std::exp((double)logits[t] - lse);
}

// The most likely token that is not a control token (end tokens included).
Token ArgMaxText(const LlamaModel& lm, const std::vector<float>& p) {
  const std::vector<uint8_t>& skip = lm.suppressed();
  Token best = -1;
  for (size_t t = 0; t < p.size(); ++t) {
    if (skip[t]) continue;
    if (best < 0 || p[t] > p[(size_t)best]) best = (Token)t;
  }
  return best;
}

// SAFE's heuristic sharpening of an over-smooth fused distribution.
void Sharpen(const VocabUnion& vu, const std::vector<int32_t>& drafter_top, FusedEntries* f) {
  if (*std::max_element(f->p.begin(), f->p.end()) >= kSharpenBelow) return;
  const std::vector<double> p = f->p;
  for (size_t c = 0; c < f->entries.size(); ++c) {
    const int32_t s = f->entries[c];
    if (p[c] <= kSharpenMin || s == VocabUnion::kEnd || vu.bytes(s) == " ") continue;
    if (std::find(drafter_top.begin(), drafter_top.end(), s) == drafter_top.end()) continue;
    const std::string& prefix = vu.bytes(s);
    for (size_t u = 0; u < f->entries.size(); ++u) {
      const int32_t e = f->entries[u];
      if (u == c || e == VocabUnion::kEnd) continue;
      const std::string& b = vu.bytes(e);
      if (b.size() > prefix.size() && b.compare(0, prefix.size(), prefix) == 0) f->p[c] += p[u];
    }
  }
}

class SafeMethod final : public FusionMethod {
 public:
  Status Run(MethodContext& ctx, GenerationResult* out) override {
    Session& s = *ctx.session;
    const GenerateOptions& o = *ctx.opts;
    const VocabUnion& vu = *ctx.vocab;
    const size_t n = s.n_models();
    std::vector<Verification> ver(n);
    auto never = [](Draft&) { return false; };
    StepLoop steps(ctx, out);
    while (steps.Next()) {
      // The drafter: the active model with the largest weight.
      int drafter = -1;
      for (size_t v = 0; v < n; ++v) {
        if (s.active((int)v) &&
            (drafter < 0 || (*ctx.weights)[v] > (*ctx.weights)[(size_t)drafter]))
          drafter = (int)v;
      }
      Draft d;
      CF_RETURN_IF_ERROR(s.MakeDraft(drafter, o.peer.safe_draft_tokens, never, &d));
      if (d.grammar_stuck) return s.GrammarStuck(drafter);
      if (d.tokens.empty() && !d.eog) {
        steps.Stop(StopReason::kContextFull);
        break;
      }
      // The verifiers read the whole draft, each in one batch.
      for (auto& x : ver) x = Verification();
      // A verifier with the drafter's vocabulary reads the drafter's own tokens (and keeps
      // them when they are committed), so that the two stay in step.
      std::vector<char> same(n, 0);
      for (size_t v = 0; v < n; ++v)
        same[v] = s.active((int)v) && vu.SameVocabulary((int)v, drafter);
      Status vst = s.ForEachActive([&](int v) {
        return v == drafter ? Status::Ok()
                            : Verify(s.view(v), s.reading_seq(), d.text,
                                     same[(size_t)v] ? &d.tokens : nullptr, &ver[(size_t)v]);
      });
      if (!vst.ok() && vst.code() != Status::Code::kResourceExhausted) return vst;
      const bool verified = vst.ok();
      // The first position where the ensemble decides.
      const size_t m = d.tokens.size();
      const size_t positions = m + (d.eog ? 1 : 0);
      int at = -1;
      int32_t chosen = VocabUnion::kNone;
      TokenPosition pos;
      pos.vocab = &vu;
      for (size_t j = 0; verified && j < positions; ++j) {
        if (j > 0 && (int)j > d.n_decoded) break;  // no logits for it (an undecoded look-ahead)
        const size_t off = j == 0 ? 0 : d.ends[j - 1];
        if (!Qualifies(s, ctx, d, drafter, j, off, ver, &pos)) continue;
        const std::function<bool(int32_t)> allowed = [&](int32_t e) {
          return s.GrammarAllows(d.text.substr(0, off) + vu.bytes(e), e == VocabUnion::kEnd);
        };
        const std::string before = d.text.substr(0, off);
        pos.first_token = [&](int v, const std::string& str) {
          return s.view(v).FirstToken(before, str);
        };
        FusedEntries f;
        TopKUnion(pos, kTopK, &f);
        std::vector<int32_t> drafter_top;
        TopEntries(vu, drafter, pos.probs[(size_t)drafter], kTopK, &drafter_top);
        Sharpen(vu, drafter_top, &f);
        const int best = BestAllowed(f, allowed);
        if (best < 0) continue;  // keep the draft's token
        at = (int)j;
        chosen = f.entries[(size_t)best];
        break;
      }
      // Commit: the draft's tokens before the decided position and the decided string, or
      // the whole draft.
      Draft mine = d;
      StepCandidate cand;
      cand.writers = {drafter};
      size_t accepted = m;
      if (at >= 0) {
        accepted = (size_t)at;
        const size_t off = at == 0 ? 0 : d.ends[(size_t)at - 1];
        mine.tokens.resize(accepted);
        mine.ends.resize(accepted);
        mine.text = d.text.substr(0, off);
        mine.n_decoded = std::min(mine.n_decoded, (int)accepted);
        mine.after.resize((size_t)mine.n_decoded);
        mine.eog = false;
        const Token own = chosen == VocabUnion::kEnd
                              ? -1
                              : vu.TokenOf(drafter, chosen, pos.probs[(size_t)drafter].data());
        const bool is_draft_token = at < (int)m ? vu.Entry(drafter, d.tokens[(size_t)at]) == chosen
                                                : chosen == VocabUnion::kEnd;
        if (!is_draft_token) cand.writers.clear();
        if (chosen == VocabUnion::kEnd) {
          mine.cut_eog = true;
          mine.eog = true;
          mine.eog_token = s.model(drafter).eos();
        } else if (own >= 0) {
          mine.tokens.push_back(own);
          mine.text += vu.bytes(chosen);
          mine.ends.push_back(mine.text.size());
        }
        mine.cut_tokens = mine.tokens.size();
        cand.text = mine.text + (own < 0 && chosen != VocabUnion::kEnd ? vu.bytes(chosen) : "");
        cand.eog = chosen == VocabUnion::kEnd;
        s.counters().fused_positions++;
        s.counters().positions += (int64_t)accepted + 1;
        if (own < 0 && chosen != VocabUnion::kEnd) mine.model = -1;  // re-encodes instead
      } else {
        mine.cut_tokens = m;
        mine.cut_eog = d.eog;
        cand.text = d.text;
        cand.eog = d.eog;
        s.counters().positions += (int64_t)positions;
      }
      std::vector<const Draft*> dp(n, nullptr);
      std::vector<Draft> copies(n);
      if (mine.model >= 0) {
        for (size_t v = 0; v < n; ++v) {
          if (!same[v]) continue;
          if ((int)v == drafter) {
            dp[v] = &mine;
            continue;
          }
          copies[v] = mine;  // the same tokens, not in v's KV cache
          copies[v].model = (int)v;
          copies[v].n_decoded = 0;
          copies[v].after.clear();
          dp[v] = &copies[v];
        }
      }
      CF_RETURN_IF_ERROR(s.Commit({cand}, 0, dp));
      Segment seg;
      seg.text = cand.text;
      seg.winner = cand.writers.empty() ? -1 : drafter;
      if (steps.End(std::move(seg), cand.eog)) break;
      if (d.context_full || s.ContextFull(drafter, 2)) {
        steps.Stop(StopReason::kContextFull);
        break;
      }
    }
    return Status::Ok();
  }

 private:
  // Whether the ensemble decides at the drafter's position j (its token starts at `off`
  // in the draft); fills pos with every model's distribution there when it does.
  static bool Qualifies(Session& s, MethodContext& ctx, const Draft& d, int drafter, size_t j,
                        size_t off, const std::vector<Verification>& verifications,
                        TokenPosition* pos) {
    const size_t n = s.n_models();
    const bool end = j == d.tokens.size();
    pos->probs.assign(n, {});
    pos->top.assign(n, VocabUnion::kNone);
    pos->weights = *ctx.weights;
    pos->leader = drafter;
    const LlamaModel& dl = s.model(drafter);
    const float* drow = j == 0 ? s.last_logits(drafter).data() : d.after[j - 1].data();
    Softmax(drow, dl.n_vocab(), &pos->probs[(size_t)drafter]);
    const Token dtok = end ? d.eog_token : d.tokens[j];
    double mean = pos->weights[(size_t)drafter] * pos->probs[(size_t)drafter][(size_t)dtok];
    double total = pos->weights[(size_t)drafter];
    bool all_argmax = true;
    for (size_t v = 0; v < n; ++v) {
      if ((int)v == drafter) continue;
      if (!s.active((int)v)) {
        pos->weights[v] = 0;
        continue;
      }
      const Verification& ver = verifications[v];
      if (!ver.ends_ok) return false;
      // v's token starting at `off` (its end token at the draft's end).
      size_t i = 0;
      if (end) {
        i = ver.tokens.size();
      } else {
        while (i < ver.starts.size() && ver.starts[i] < (long)off) ++i;
        if (i == ver.starts.size() || ver.starts[i] != (long)off) return false;
      }
      const LlamaModel& lm = s.model((int)v);
      std::vector<float>& p = pos->probs[v];
      Softmax(ver.before[i].data(), lm.n_vocab(), &p);
      const Token vt = end ? lm.eos() : ver.tokens[i];
      const Token am = ArgMaxText(lm, p);
      all_argmax &= end ? lm.IsEog(am) : am == vt;
      mean += pos->weights[v] * p[(size_t)vt];
      total += pos->weights[v];
    }
    if (all_argmax) return false;
    return !(total > 0 && mean / total > 0.5);
  }
};

}  // namespace

extern const MethodSpec kSafeMethod{
    .name = "safe",
    .make = [] { return std::unique_ptr<FusionMethod>(new SafeMethod); },
    .vocab_union = true,
};

}  // namespace coolfusion
