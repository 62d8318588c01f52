// Ensemble::TextLogprobs: each token's log-probability of a whole text under the
// ensemble, on the lead model's tokens (the completions API's echo with logprobs).
//
// Each model decodes the whole text (its own tokens, its BOS) in sequence 0 with every
// position's logits read. Model m's token j, ending at byte e_j, counts toward the lead
// model's token k whose bytes hold byte e_j - 1 (its end is the first end >= e_j): a span
// of the lead model's tokens that starts where no model's token crosses then sums
// exactly each model's log-likelihood of the span's text, which is what Score measures.
// The lead model is only_model's, else the first.
#include <coolfusion/engine.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <limits>

#include "align/token_alignment.h"
#include "base/utf8.h"
#include "fusion/ensemble_impl.h"
#include "fusion/kv_layout.h"
#include "fusion/logits.h"
#include "fusion/prompt.h"

namespace coolfusion {

namespace {

constexpr int kMaxTopLogprobs = 20;
constexpr double kNan = std::numeric_limits<double>::quiet_NaN();

using TopList = std::vector<std::pair<int32_t, double>>;

// The k most likely tokens of one logits row, best first (ties: the lower id), with
// log-probabilities given the row's LogSumExp. `ids` is scratch, reused across rows.
TopList Top(const float* x, int n, int k, double lse, std::vector<int32_t>* ids) {
  TopList out;
  if (k == 1) {  // what the harness asks for: one pass, no sort
    const int32_t best = ArgMax(x, n);
    out.emplace_back(best, (double)x[best] - lse);
    return out;
  }
  ids->resize(n);
  for (int i = 0; i < n; ++i) (*ids)[i] = i;
  k = std::min(k, n);
  auto better = [x](int32_t a, int32_t b) { return x[a] > x[b] || (x[a] == x[b] && a < b); };
  std::partial_sort(ids->begin(), ids->begin() + k, ids->end(), better);
  for (int i = 0; i < k; ++i) out.emplace_back((*ids)[i], (double)x[(*ids)[i]] - lse);
  return out;
}

// One model's reading of its tokens: lp[i] = log p(tokens[i] | tokens[:i]) (NaN for i = 0),
// and with top_n > 0, top[i] = its top_n tokens after tokens[:i + 1].
struct ModelPass {
  std::vector<double> lp;
  std::vector<TopList> top;
};

Status Pass(LlamaModel& m, const std::vector<Token>& tokens, int top_n,
            const std::function<bool()>& cancelled, ModelPass* out) {
  const size_t n = tokens.size();
  out->lp.assign(n, kNan);
  out->top.assign(top_n > 0 ? n : 0, {});
  const size_t step = (size_t)std::max(1, m.n_batch());
  std::vector<int32_t> scratch;
  for (size_t b = 0; b < n; b += step) {
    if (cancelled && cancelled()) return Status::Cancelled("cancelled");
    const size_t e = std::min(n, b + step);
    std::vector<LlamaModel::BatchItem> batch;
    for (size_t i = b; i < e; ++i) batch.push_back({tokens[i], (int)i, kv::kCommitted, true});
    CF_RETURN_IF_ERROR(m.Decode(batch));
    for (size_t i = b; i < e; ++i) {
      const float* row = m.Logits((int)(i - b));
      if (row == nullptr) return Status::Internal("no logits from " + m.label());
      const double lse = LogSumExp(row, m.n_vocab());
      if (i + 1 < n) out->lp[i + 1] = (double)row[tokens[i + 1]] - lse;
      if (top_n > 0) out->top[i] = Top(row, m.n_vocab(), top_n, lse, &scratch);
    }
  }
  return Status::Ok();
}

// A model's tokens of the text with BOS as it adds one, where each ends, and the index of
// the first text token.
struct Reading {
  std::vector<Token> tokens;
  std::vector<size_t> ends;
  size_t first = 0;
};

void StartWithBos(const LlamaModel& m, Reading* r) {
  if (m.add_bos() && m.bos() >= 0) {
    r->tokens.push_back(m.bos());
    r->ends.push_back(0);
  }
  r->first = r->tokens.size();
}

// The lead model's given tokens: the text they spell (prompt.h's SpelledText) and where
// each ends in it.
Status ReadGivenTokens(const LlamaModel& m, const std::vector<int32_t>& ids, std::string* text,
                       Reading* r) {
  size_t skip = 0;
  CF_RETURN_IF_ERROR(SpelledText(m, ids, text, &skip));
  if (text->empty()) return Status::InvalidArgument("the tokens spell no text");
  CF_RETURN_IF_ERROR(CheckUtf8(*text, "the tokens' text"));
  StartWithBos(m, r);
  r->tokens.insert(r->tokens.end(), ids.begin(), ids.end());
  std::vector<size_t> ends;
  if (!TokenEnds(m, ids, *text, Anchor{0, true}, &ends)) {
    // Pieces that do not spell the text (unknown-token pieces): each token ends where
    // its pieces' bytes so far end, within the text.
    ends.clear();
    size_t at = 0;
    for (int32_t id : ids) {
      at += m.Piece(id).size();
      ends.push_back(at > skip ? std::min(at - skip, text->size()) : 0);
    }
  }
  r->ends.insert(r->ends.end(), ends.begin(), ends.end());
  return Status::Ok();
}

Status ReadText(const LlamaModel& m, const std::string& text, Reading* r) {
  PromptTokens p;
  CF_RETURN_IF_ERROR(PlainPrompt(m, text, &p));
  r->tokens = std::move(p.tokens);
  r->ends = std::move(p.ends);
  r->first = p.n_fixed;
  return Status::Ok();
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

Status Ensemble::TextLogprobs(const TextLogprobsRequest& request, TextLogprobsResult* out) {
  return Guarded("scoring a text", [&] { return TextLogprobsUnguarded(request, out); });
}

Status Ensemble::TextLogprobsUnguarded(const TextLogprobsRequest& request,
                                       TextLogprobsResult* out) {
  *out = TextLogprobsResult();
  const auto t0 = std::chrono::steady_clock::now();
  const size_t n = size();
  for (size_t i = 0; i < n; ++i) {
    if (impl_->infos[i].vocab_only)
      return Status::InvalidArgument(impl_->infos[i].path +
                                     " was loaded vocab-only and cannot score");
  }
  if (request.top_logprobs < 0 || request.top_logprobs > kMaxTopLogprobs)
    return Status::InvalidArgument("top_logprobs must be in [0, " +
                                   std::to_string(kMaxTopLogprobs) + "]");
  if (request.only_model >= (int)n)
    return Status::InvalidArgument("only_model " + std::to_string(request.only_model) +
                                   " is not a model of this ensemble");
  // The lead model: the one whose tokens are reported (only_model's, else the first).
  const size_t lead = request.only_model >= 0 ? (size_t)request.only_model : 0;
  LlamaModel& lead_model = *impl_->models[lead];
  std::vector<Reading> reading(n);
  if (!request.tokens.empty()) {
    CF_RETURN_IF_ERROR(ReadGivenTokens(lead_model, request.tokens, &out->text, &reading[lead]));
  } else {
    if (request.text.empty()) return Status::InvalidArgument("the text is empty");
    CF_RETURN_IF_ERROR(CheckUtf8(request.text, "the text"));
    out->text = request.text;
    CF_RETURN_IF_ERROR(ReadText(lead_model, out->text, &reading[lead]));
  }
  if (reading[lead].tokens.size() == reading[lead].first)
    return Status::InvalidArgument("the text has no token under " + lead_model.label());
  std::vector<double> w(impl_->weights.begin(), impl_->weights.end());
  w.resize(n, 1.0);
  for (size_t i = 0; i < n; ++i) {
    if (i == lead) continue;
    if (request.only_model >= 0) {
      w[i] = 0;
      continue;
    }
    const Status st = ReadText(*impl_->models[i], out->text, &reading[i]);
    if (!st.ok()) {
      w[i] = 0;
      out->warnings.push_back(impl_->models[i]->label() +
                              " cannot encode the text and does not count: " + st.message());
    }
  }
  if (request.only_model >= 0) w[lead] = 1;
  for (size_t i = 0; i < n; ++i) {
    const LlamaModel& m = *impl_->models[i];
    if (w[i] > 0 && reading[i].tokens.size() > (size_t)m.n_ctx())
      return Status::ResourceExhausted("the text is " + std::to_string(reading[i].tokens.size()) +
                                       " tokens under " + m.label() +
                                       ", more than its context of " + std::to_string(m.n_ctx()));
  }
  double total_w = 0;
  for (double x : w) total_w += std::max(0.0, x);
  for (double& x : w) x = total_w > 0 ? std::max(0.0, x) / total_w : 0;
  out->weights = w;

  // Each model reads the whole text in its sequence 0, which then holds it for the prompt
  // cache (unknown until the pass ends well).
  const int top_n = std::max(1, request.top_logprobs);
  std::vector<ModelPass> pass(n);
  impl_->kv_cache.resize(n);
  out->nll.assign(n, kNan);
  for (size_t i = 0; i < n; ++i) {
    if (!(w[i] > 0)) continue;
    LlamaModel& m = *impl_->models[i];
    impl_->kv_cache[i] = KvCache();
    m.ClearMemory();
    m.SetThreads(m.requested_threads());
    m.ResetStats();
    CF_RETURN_IF_ERROR(
        Pass(m, reading[i].tokens, i == lead ? top_n : 0, request.cancelled, &pass[i]));
    // The cache holds the text with its tokens' likelihoods, for a prompt that extends it.
    impl_->kv_cache[i].tokens = reading[i].tokens;
    impl_->kv_cache[i].nll.resize(pass[i].lp.size());
    for (size_t j = 0; j < pass[i].lp.size(); ++j)
      impl_->kv_cache[i].nll[j] = (float)-pass[i].lp[j];
    out->counters.decode_calls += m.stats().calls;
    out->counters.tokens_decoded += m.stats().tokens;
    out->timings.decode_ms += m.stats().ms;
    double nll = 0;
    for (size_t j = reading[i].first; j < pass[i].lp.size(); ++j) {
      if (!std::isnan(pass[i].lp[j])) nll -= pass[i].lp[j];
    }
    out->nll[i] = nll;
  }

  // The fused log-probability of each of the lead model's text tokens.
  const Reading& r0 = reading[lead];
  const ModelPass& p0 = pass[lead];
  const size_t k_n = r0.tokens.size() - r0.first;
  const std::vector<size_t> ends0(r0.ends.begin() + (long)r0.first, r0.ends.end());
  std::vector<double> fused(k_n, 0.0);
  for (size_t k = 0; k < k_n; ++k) {
    const double lp = p0.lp[r0.first + k];
    if (!std::isnan(lp)) fused[k] += w[lead] * lp;
  }
  for (size_t i = 0; i < n; ++i) {
    if (i == lead || !(w[i] > 0)) continue;
    for (size_t j = reading[i].first; j < reading[i].tokens.size(); ++j) {
      const double lp = pass[i].lp[j];
      if (std::isnan(lp)) continue;
      size_t k = (size_t)(std::lower_bound(ends0.begin(), ends0.end(), reading[i].ends[j]) -
                          ends0.begin());
      fused[std::min(k, k_n - 1)] += w[i] * lp;
    }
  }
  out->tokens.resize(k_n);
  for (size_t k = 0; k < k_n; ++k) {
    TokenLogprob& t = out->tokens[k];
    const size_t at = r0.first + k;
    t.id = r0.tokens[at];
    t.piece = std::string(lead_model.Piece(t.id));
    t.offset = k == 0 ? 0 : ends0[k - 1];
    t.logprob = k == 0 ? kNan : fused[k];
    if (k > 0 && request.top_logprobs > 0) {
      t.top = p0.top[at - 1];
      t.top.resize(std::min(t.top.size(), (size_t)request.top_logprobs));
    }
  }
  out->next = p0.top.back();
  out->next.resize(std::min(out->next.size(), (size_t)top_n));
  out->timings.total_ms = MsSince(t0);
  return Status::Ok();
}

}  // namespace coolfusion
