#include "fusion/model_view.h"

#include <algorithm>
#include <chrono>
#include <cmath>

#include "base/thread_cpu_timer.h"
#include "fusion/kv_layout.h"
#include "fusion/logits.h"

namespace coolfusion {

size_t CommonPrefix(const std::vector<Token>& a, const std::vector<Token>& b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

Anchor ModelView::TokenAnchor(size_t limit, size_t* k) const {
  if (ends_ok) {
    size_t lim = limit;
    while (true) {
      Anchor a = FindAnchor(text, lim, min_anchor, *lm);
      if (a.fragment_start) break;
      // Token i ends at a.pos: the anchor starts token i + 1.
      auto it = std::lower_bound(ends.begin() + n_fixed, ends.end(), a.pos);
      if (it != ends.end() && *it == a.pos) {
        // Several tokens may end at a.pos (empty pieces); keep all of them.
        while (it + 1 != ends.end() && *(it + 1) == a.pos) ++it;
        *k = (size_t)(it - ends.begin()) + 1;
        return a;
      }
      if (a.pos == 0) break;
      lim = a.pos - 1;
    }
  }
  *k = n_fixed;
  return Anchor{min_anchor, true};
}

ModelView::Start ModelView::ReencodeStart() const {
  Start s;
  s.anchor = TokenAnchor(text.empty() ? 0 : text.size() - 1, &s.tokens);
  return s;
}

Status ModelView::Reencode(const Start& start, const std::string& more, Token end_token,
                           Reencoding* out) {
  const ThreadCpuTimer timer(&counters.align_ns);
  // Only the text from the anchor on is copied and tokenized.
  const Anchor& a = start.anchor;
  const std::string tail = text.substr(std::min(a.pos, text.size())) + more;
  CF_RETURN_IF_ERROR(TokenizeFrom(*lm, tail, Anchor{0, a.fragment_start, a.space}, &out->suffix));
  out->anchor = a;
  out->anchor_tokens = start.tokens;
  out->tokens.reserve(start.tokens + out->suffix.size() + 1);
  out->tokens.assign(tokens.begin(), tokens.begin() + start.tokens);
  out->tokens.insert(out->tokens.end(), out->suffix.begin(), out->suffix.end());
  if (end_token >= 0) out->tokens.push_back(end_token);
  // The tokens before the anchor are the committed ones by construction.
  size_t d = start.tokens;
  while (d < tokens.size() && d < out->tokens.size() && tokens[d] == out->tokens[d]) ++d;
  out->divergence = d;
  return Status::Ok();
}

void ModelView::SetEnds(size_t k, const std::vector<Token>& suffix, Anchor a) {
  std::vector<size_t> tail;
  const bool ok = TokenEnds(*lm, suffix, text, a, &tail);
  ends.resize(k);
  if (ok) {
    ends.insert(ends.end(), tail.begin(), tail.end());
    // Re-encoded from the last special token on: every end that anchors use is exact again.
    if (k <= n_fixed) ends_ok = true;
  } else {
    ends_ok = false;
    ends.resize(k + suffix.size(), a.pos);
  }
}

Status ModelView::DecodeTail(size_t from) {
  std::vector<LlamaModel::BatchItem> batch;
  for (size_t i = from; i < tokens.size(); ++i) {
    batch.push_back({tokens[i], (int)i, kv::kCommitted, i + 1 == tokens.size()});
  }
  if (batch.empty()) return Status::Ok();
  CF_RETURN_IF_ERROR(lm->Decode(batch));
  const float* row = lm->Logits((int)batch.size() - 1);
  last_logits.assign(row, row + lm->n_vocab());
  return Status::Ok();
}

Status ModelView::DecodeMeasuredPrompt(const std::vector<size_t>& counted, size_t max_logit_floats,
                                       size_t from, const std::vector<float>& cached_nll) {
  // Token i counts through the logits after token i-1: entry i-1 asks for its row when
  // counted[i] > 0, and the last entry always does (the next token's logits).
  const int n_vocab = lm->n_vocab();
  const size_t n = tokens.size();
  const size_t max_rows = std::max<size_t>(1, max_logit_floats / (size_t)n_vocab);
  double nll = 0;  // nats
  size_t bytes = 0;
  token_nll.assign(n, std::numeric_limits<float>::quiet_NaN());
  nll_tokens = tokens;
  // The counted tokens whose logits come before `from`: their likelihoods from the cache.
  for (size_t i = 1; i <= from && i < n && i < counted.size(); ++i) {
    if (counted[i] == 0) continue;
    if (i >= cached_nll.size() || std::isnan(cached_nll[i]))
      return Status::Internal("prompt cache: token " + std::to_string(i) +
                              "'s likelihood is neither cached nor decoded");
    token_nll[i] = cached_nll[i];
    nll += cached_nll[i];
    bytes += counted[i];
  }
  std::vector<LlamaModel::BatchItem> batch;
  size_t first = from;  // position of batch[0]
  size_t rows = 0;
  for (size_t i = from; i < n; ++i) {
    const bool want = i + 1 == n || (i + 1 < counted.size() && counted[i + 1] > 0);
    batch.push_back({tokens[i], (int)i, kv::kCommitted, want});
    rows += want;
    if (rows < max_rows && i + 1 < n) continue;
    CF_RETURN_IF_ERROR(lm->Decode(batch));
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t k = 0; k < batch.size(); ++k) {
      if (!batch[k].want_logits) continue;
      const float* logits = lm->Logits((int)k);
      const size_t next = first + k + 1;
      if (next < n && next < counted.size() && counted[next] > 0) {
        const double x = NegLogProb(logits, n_vocab, tokens[next]);
        token_nll[next] = (float)x;
        nll += x;
        bytes += counted[next];
      }
      if (next == n) last_logits.assign(logits, logits + n_vocab);
    }
    prompt_fit_ms +=
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    first = i + 1;
    batch.clear();
    rows = 0;
  }
  prompt_bytes = bytes;
  if (bytes > 0) prompt_bpb = nll / std::log(2.0) / (double)bytes;
  return Status::Ok();
}

size_t ReusablePrefix(const KvCache& cached, const std::vector<Token>& prompt,
                      const std::vector<size_t>& counted) {
  if (prompt.empty()) return 0;
  // The last prompt token is decoded again: its logits start the generation.
  const size_t common = CommonPrefix(cached.tokens, prompt);
  size_t reuse = std::min(common, prompt.size() - 1);
  // A counted token i needs the logits after token i - 1, unless the cache knows its
  // likelihood: the same token there (i < common: the token at `reuse` is decoded again,
  // and may differ from the cached one) with a known nll. Else decode from i - 1.
  for (size_t i = 0; i < counted.size() && i <= reuse; ++i) {
    if (counted[i] == 0) continue;
    if (i > 0 && i < common && i < cached.nll.size() && !std::isnan(cached.nll[i])) continue;
    reuse = std::min(reuse, i > 0 ? i - 1 : 0);
    break;
  }
  return reuse;
}

Token ModelView::FirstToken(const std::string& before, const std::string& s) {
  Reencoding enc;
  if (!ends_ok || !Reencode(ReencodeStart(), before + s, -1, &enc).ok()) return -1;
  const std::string full = text + before + s;
  std::vector<size_t> tail;
  if (!TokenEnds(*lm, enc.suffix, full, enc.anchor, &tail)) return -1;
  const size_t at = text.size() + before.size();
  for (size_t i = enc.anchor_tokens; i < enc.tokens.size(); ++i) {
    const size_t start =
        i == 0 ? 0 : (i - 1 < enc.anchor_tokens ? ends[i - 1] : tail[i - 1 - enc.anchor_tokens]);
    if (start == at) return enc.tokens[i];
    if (start > at) break;
  }
  return -1;
}

}  // namespace coolfusion
