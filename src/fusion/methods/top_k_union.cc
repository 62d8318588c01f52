#include "fusion/methods/top_k_union.h"

#include <algorithm>
#include <numeric>

namespace coolfusion {

namespace {

double EntryProbability(const TokenPosition& pos, int v, int32_t entry) {
  const VocabUnion& vu = *pos.vocab;
  Token t = vu.TokenOf(v, entry, pos.probs[(size_t)v].data());
  if (t < 0 && entry != VocabUnion::kEnd && pos.first_token)
    t = pos.first_token(v, vu.bytes(entry));
  if (t < 0 && entry != VocabUnion::kEnd) t = vu.LongestPrefixToken(v, vu.bytes(entry));
  return t < 0 ? 0.0 : (double)pos.probs[(size_t)v][(size_t)t];
}

}  // namespace

void TopEntries(const VocabUnion& vocab, int v, const std::vector<float>& probs, int k,
                std::vector<int32_t>* out) {
  out->clear();
  std::vector<Token> order(probs.size());
  std::iota(order.begin(), order.end(), 0);
  // Partial sorts of growing size until k entries are found (control tokens skipped,
  // several tokens of one entry counted once).
  for (size_t want = (size_t)k * 2;; want *= 2) {
    const size_t m = std::min(want, order.size());
    std::partial_sort(order.begin(), order.begin() + (long)m, order.end(),
                      [&](Token a, Token b) { return probs[(size_t)a] > probs[(size_t)b]; });
    out->clear();
    for (size_t i = 0; i < m && (int)out->size() < k; ++i) {
      const int32_t e = vocab.Entry(v, order[i]);
      if (e == VocabUnion::kNone || std::find(out->begin(), out->end(), e) != out->end()) continue;
      out->push_back(e);
    }
    if ((int)out->size() >= k || m == order.size()) return;
  }
}

void TopKUnion(const TokenPosition& pos, int k, FusedEntries* out) {
  out->entries.clear();
  std::vector<int32_t> mine;
  for (size_t v = 0; v < pos.probs.size(); ++v) {
    if (pos.probs[v].empty() || pos.weights[v] <= 0) continue;
    TopEntries(*pos.vocab, (int)v, pos.probs[v], k, &mine);
    for (int32_t e : mine) {
      if (std::find(out->entries.begin(), out->entries.end(), e) == out->entries.end())
        out->entries.push_back(e);
    }
  }
  const size_t n = out->entries.size();
  out->p.assign(n, 0.0);
  std::vector<double> q(n);
  double total_w = 0;
  for (size_t v = 0; v < pos.probs.size(); ++v) {
    if (pos.probs[v].empty() || pos.weights[v] <= 0) continue;
    double sum = 0;
    for (size_t c = 0; c < n; ++c) sum += q[c] = EntryProbability(pos, (int)v, out->entries[c]);
    if (!(sum > 0)) continue;
    total_w += pos.weights[v];
    for (size_t c = 0; c < n; ++c) out->p[c] += pos.weights[v] * q[c] / sum;
  }
  if (total_w > 0) {
    for (double& x : out->p) x /= total_w;
  }
}

int BestAllowed(const FusedEntries& f, const std::function<bool(int32_t)>& allowed) {
  int best = -1;
  for (size_t c = 0; c < f.entries.size(); ++c) {
    if (best >= 0 && f.p[c] <= f.p[(size_t)best]) continue;  // strict: first on ties
    if (allowed(f.entries[c])) best = (int)c;
  }
  return best;
}

}  // namespace coolfusion
