// Session's start from the request's prompt, and what it leaves for the next request's
// prompt cache (session.h: Start, KeepForCache, ResetToPrompt).
#include <coolfusion/engine.h>

#include <algorithm>
#include <limits>

#include "fusion/kv_layout.h"
#include "fusion/prompt.h"
#include "fusion/prompt_weights.h"
#include "fusion/session.h"

namespace coolfusion {

Status Session::Start(const Request& req, const std::vector<KvCache>& cached,
                      std::vector<std::string>* warnings,
                      const std::vector<const RenderedPrompt*>& given, bool heal) {
  std::string first_error;
  const bool measure = UsesPromptWeights(opts_.scoring);
  std::vector<std::vector<size_t>> counted(m_.size());
  std::vector<std::vector<std::pair<size_t, size_t>>> content(m_.size());
  std::vector<char> encoded(m_.size(), 0);
  for (size_t v = 0; v < m_.size(); ++v) {
    ModelView& m = m_[v].view;
    LlamaModel& lm = *m.lm;
    m.prompt_bpb = std::numeric_limits<double>::quiet_NaN();
    m.prompt_bytes = 0;
    m.prompt_fit_ms = 0;
    const bool have = v < given.size() && given[v] != nullptr;
    RenderedPrompt r = have ? *given[v] : RenderPrompt(lm, req);
    counters_.prompt_renders += !have;
    const Status& st = r.status;
    PromptTokens& p = r.tokens;
    if (!st.ok()) {
      if (st.code() != Status::Code::kInvalidArgument) return st;
      m.active = false;
      if (first_error.empty()) first_error = st.message();
      warnings->push_back(lm.label() + " cannot encode the prompt (" + st.message() +
                          "); fusing without it");
      continue;
    }
    CF_RETURN_IF_ERROR(CheckPromptFits(p, lm));
    encoded[v] = 1;
    content[v] = std::move(p.content);
    m.text = std::move(p.text);
    m.prompt_len = m.text.size();
    m.tokens = std::move(p.tokens);
    m.ends = std::move(p.ends);
    m.ends_ok = p.ends_ok;
    m.min_anchor = p.min_anchor;
    m.n_fixed = p.n_fixed;
    m_[v].heal_tail.clear();
    m_[v].heal_allowed.clear();
    m_[v].heal_pending = false;
    m_[v].healed_tokens = 0;
    if (heal) HealModel(m_[v]);
  }
  // A healed tail is not the prompt's end as its model reads it (its answer's first token
  // covers it): every model's prompt fit stops before the longest healed tail, so that all
  // read the same bytes (a trailing space alone after "Answer:" would otherwise cost the
  // model whose tokenizer cuts it there most of its weight).
  size_t cut = 0;
  for (size_t v = 0; v < m_.size(); ++v)
    if (encoded[v]) cut = std::max(cut, m_[v].heal_tail.size());
  for (size_t v = 0; v < m_.size() && measure; ++v) {
    ModelView& m = m_[v].view;
    if (!encoded[v] || !m.ends_ok) continue;
    const size_t end = m.text.size() - std::min(cut, m.text.size());
    std::vector<std::pair<size_t, size_t>> read;
    for (auto [b, e] : content[v])
      if (b < std::min(e, end)) read.emplace_back(b, std::min(e, end));
    counted[v] = CountedTokenBytes(m.text, m.ends, read);
  }
  for (size_t v = 0; v < m_.size(); ++v) {
    ModelView& m = m_[v].view;
    LlamaModel& lm = *m.lm;
    if (!encoded[v]) continue;
    m.n_cached = opts_.cache_prompt && v < cached.size()
                     ? ReusablePrefix(cached[v], m.tokens, counted[v])
                     : 0;
    m.touched = true;
    if (m.n_cached == 0) {
      lm.ClearMemory();
    } else {
      lm.SeqRemove(-1, (int)m.n_cached, -1);  // every sequence: keep only the common prefix
    }
    if (m.tokens.empty()) {
      m.active = false;
      warnings->push_back(lm.label() + " has no tokens for the prompt; fusing without it");
      continue;
    }
  }
  if (first_active() < 0) {
    return Status::InvalidArgument(m_.size() == 1
                                       ? "the model cannot encode the prompt: " + first_error
                                       : "no model can encode the prompt; " +
                                             m_[0].view.lm->label() + ": " + first_error);
  }
  grammar_budget_ =
      std::make_shared<GrammarBudget>(kMaxGrammarStacks, kMaxGrammarCallMs, req.cancelled);
  for (Model& m : m_) {
    if (m.view.active)
      CF_RETURN_IF_ERROR(m.constraint.Start(*m.view.lm, opts_.grammar, grammar_budget_));
  }
  // The prompts are decoded side by side too (with --parallel-models).
  CF_RETURN_IF_ERROR(ForEachActive([&](int v) {
    Model& m = m_[v];
    ModelView& mv = m.view;
    static const std::vector<float> kNone;
    const std::vector<float>& known = (size_t)v < cached.size() ? cached[v].nll : kNone;
    if (measure) {
      CF_RETURN_IF_ERROR(
          mv.DecodeMeasuredPrompt(counted[v], kPromptLogitFloats, mv.n_cached, known));
    } else {
      CF_RETURN_IF_ERROR(mv.DecodeTail(mv.n_cached));
      // The likelihoods the cache knows stay known for the tokens it still holds.
      mv.token_nll.assign(known.begin(), known.begin() + (long)std::min(known.size(), mv.n_cached));
      mv.nll_tokens = mv.tokens;
    }
    mv.n_prompt_tokens = mv.tokens.size();
    mv.prompt_logits = mv.last_logits;
    m.heal_prompt_tokens = mv.n_prompt_tokens;
    m.calls_mark = mv.lm->stats().calls;
    m.tokens_mark = mv.lm->stats().tokens;
    return Status::Ok();
  }));
  generated_.clear();
  return Status::Ok();
}

void Session::KeepForCache(std::vector<KvCache>* kv) {
  const int n = (int)m_.size();
  kv->resize(m_.size());
  for (size_t v = 0; v < m_.size(); ++v) {
    ModelView& m = m_[v].view;
    if (!m.touched) continue;
    for (int s = kv::kFirstScoring; s < kv::ScoringEnd(n); ++s) m.lm->SeqRemove(s, -1, -1);
    // Only what is in the KV cache (a last step's tokens may not be).
    const size_t in_kv = m.tokens.size() - m.undecoded;
    m.lm->SeqRemove(kv::kCommitted, (int)in_kv, -1);
    (*kv)[v].tokens.assign(m.tokens.begin(), m.tokens.begin() + (long)in_kv);
    const size_t known = std::min(CommonPrefix(m.tokens, m.nll_tokens), m.token_nll.size());
    (*kv)[v].nll.assign(m.token_nll.begin(), m.token_nll.begin() + (long)known);
  }
}

double Session::prompt_fit_ms() const {
  double ms = 0;
  for (const Model& m : m_) ms += m.view.prompt_fit_ms;
  return ms;
}

// Backs up over one token, not more: the tokenizer's own cut before it stays (the prompt's
// text up to there is tokenized as the user wrote it), the removed token itself is always
// allowed back (the unhealed reading stays available), and every allowed token covers the
// whole tail, so no draft token ends inside the prompt.
Token Session::HealModel(Model& model) {
  ModelView& m = model.view;
  const LlamaModel& lm = *m.lm;
  const size_t n = m.tokens.size();
  // A token before the last one predicts it; the last is plain text (not the template's,
  // nor before the last special token) whose piece is exactly its text.
  if (n < 2 || n - 1 < m.n_fixed || !m.ends_ok || m.ends[n - 1] != m.text.size()) return -1;
  const size_t start = m.ends[n - 2];
  if (start < m.min_anchor || start >= m.ends[n - 1]) return -1;
  const std::string_view tail = std::string_view(m.text).substr(start);
  if (lm.Piece(m.tokens[n - 1]) != tail) return -1;
  std::vector<Token> allowed;
  bool longer = false;
  for (Token t = 0; t < lm.n_vocab(); ++t) {
    const std::string_view p = lm.Piece(t);
    if (p.size() < tail.size() || p.compare(0, tail.size(), tail) != 0) continue;
    if (lm.IsControl(t) || lm.IsEog(t) || lm.IsSuppressed(t)) continue;
    allowed.push_back(t);
    longer |= p.size() > tail.size();
  }
  if (!longer) return -1;  // nothing could join it: the prompt's cut is final
  const Token given_up = m.tokens.back();
  m.tokens.pop_back();
  m.ends.pop_back();
  model.heal_tail = std::string(tail);
  model.heal_allowed = std::move(allowed);
  model.heal_pending = true;
  model.healed_tokens = 1;
  return given_up;
}

void Session::ResetToPrompt() {
  for (Model& model : m_) {
    model.carry = Draft();
    model.constraint.ResetToPrompt();
    ModelView& m = model.view;
    if (!m.active) continue;
    if (!model.heal_tail.empty()) {  // healed again (the tail may have joined the prompt)
      m.n_prompt_tokens = model.heal_prompt_tokens;
      model.heal_pending = true;
      model.healed_tokens = 1;
    }
    m.text.resize(m.prompt_len);
    m.tokens.resize(m.n_prompt_tokens);
    m.ends.resize(m.n_prompt_tokens);
    m.last_logits = m.prompt_logits;
    m.lm->SeqRemove(-1, (int)m.n_prompt_tokens, -1);
    m.lm->SeqRemove(kv::kCommitted, (int)m.n_prompt_tokens, -1);
  }
  generated_.clear();
}

}  // namespace coolfusion
