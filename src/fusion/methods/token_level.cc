#include "fusion/methods/token_level.h"

#include <algorithm>
#include <cmath>

#include "fusion/logits.h"

namespace coolfusion {

namespace {

// Model v's softmax and most likely entry (control tokens are never picked). Under a
// grammar, over the tokens it allows next (the others get 0; kNone when none is left).
void ReadDistribution(const Session& s, int v, const VocabUnion& vocab, std::vector<float>* probs,
                      std::vector<float>* masked, int32_t* top) {
  const LlamaModel& lm = s.model(v);
  const int n = lm.n_vocab();
  const float* logits = s.last_logits(v).data();
  double lse = 0;
  probs->resize((size_t)n);
  if (s.has_grammar()) {
    masked->assign(logits, logits + n);
    s.GrammarMask(v, masked->data());
    logits = masked->data();
    double mx = -INFINITY;
    for (int t = 0; t < n; ++t) mx = std::max(mx, (double)logits[t]);
    if (!std::isfinite(mx)) {
      std::fill(probs->begin(), probs->end(), 0.0f);
      *top = VocabUnion::kNone;
      return;
    }
    double sum = 0;
    for (int t = 0; t < n; ++t) sum += std::exp((double)logits[t] - mx);
    lse = mx + std::log(sum);
  } else {
    lse = LogSumExp(logits, n);
  }
  const std::vector<uint8_t>& skip = lm.suppressed();
  int best = -1;
  for (int t = 0; t < n; ++t) {
    (*probs)[(size_t)t] = (float)std::exp((double)logits[t] - lse);
    if (skip[(size_t)t] || vocab.Entry(v, t) == VocabUnion::kNone) continue;
    if (best < 0 || logits[t] > logits[best]) best = t;
  }
  *top = best < 0 || !std::isfinite(logits[best]) ? VocabUnion::kNone : vocab.Entry(v, best);
}

}  // namespace

Status RunTokenLevel(MethodContext& ctx, TokenPicker& picker, GenerationResult* out) {
  Session& s = *ctx.session;
  const VocabUnion& vocab = *ctx.vocab;
  const size_t n = s.n_models();
  TokenPosition pos;
  pos.vocab = &vocab;
  pos.probs.resize(n);
  pos.top.assign(n, VocabUnion::kNone);
  pos.first_token = [&s](int v, const std::string& str) { return s.view(v).FirstToken("", str); };
  std::vector<Draft> own(n);
  std::vector<float> masked;
  const auto allowed = [&](int32_t e) {
    return e != VocabUnion::kNone && s.GrammarAllows(vocab.bytes(e), e == VocabUnion::kEnd);
  };
  StepLoop steps(ctx, out);
  while (steps.Next()) {
    // A model whose context is full leaves while others can go on.
    if (steps.RetireFull([&](int v) { return s.ContextFull(v, 2); })) break;
    pos.weights = *ctx.weights;
    pos.leader = -1;
    bool agree = true;
    int32_t first_top = VocabUnion::kNone;
    for (size_t v = 0; v < n; ++v) {
      if (!s.active((int)v)) {
        pos.weights[v] = 0;
        pos.probs[v].clear();
        pos.top[v] = VocabUnion::kNone;
        continue;
      }
      ReadDistribution(s, (int)v, vocab, &pos.probs[v], &masked, &pos.top[v]);
      if (pos.top[v] == VocabUnion::kNone) {  // the grammar leaves it no token
        pos.weights[v] = 0;
        pos.probs[v].clear();
        continue;
      }
      if (pos.leader < 0 || pos.weights[v] > pos.weights[(size_t)pos.leader]) pos.leader = (int)v;
      if (first_top == VocabUnion::kNone) first_top = pos.top[v];
      agree &= pos.top[v] == first_top;
    }
    if (first_top == VocabUnion::kNone) return s.GrammarStuck(s.first_active());
    int32_t entry = first_top;
    bool fused = false;
    if (!agree || !allowed(entry)) CF_RETURN_IF_ERROR(picker.Pick(pos, allowed, &entry, &fused));
    s.counters().positions++;
    s.counters().fused_positions += fused;
    if (entry == VocabUnion::kEnd) {
      steps.Stop(StopReason::kEndOfGeneration);
      break;
    }
    // Every model that has a token for the text appends it; the others re-encode.
    const std::string& text = vocab.bytes(entry);
    StepCandidate cand{text, false, {}, true};
    std::vector<const Draft*> dp(n, nullptr);
    for (size_t v = 0; v < n; ++v) {
      if (!s.active((int)v)) continue;
      if (pos.top[v] == entry) cand.writers.push_back((int)v);
      const Token t = vocab.TokenOf((int)v, entry, pos.probs[v].data());
      if (t < 0) continue;
      own[v] = Draft();
      own[v].model = (int)v;
      own[v].tokens = {t};
      own[v].text = text;
      own[v].ends = {text.size()};
      own[v].cut_tokens = 1;
      dp[v] = &own[v];
    }
    CF_RETURN_IF_ERROR(s.Commit({cand}, 0, dp));
    Segment seg;
    seg.text = text;
    seg.winner = cand.writers.empty() ? -1 : cand.writers.front();
    if (steps.End(std::move(seg))) break;
  }
  return Status::Ok();
}

}  // namespace coolfusion
