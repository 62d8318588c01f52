#include "fusion/session.h"

#include <coolfusion/engine.h>

#include <algorithm>
#include <limits>

#include "align/token_alignment.h"
#include "fusion/kv_layout.h"
#include "fusion/prompt.h"
#include "fusion/prompt_weights.h"

namespace coolfusion {

Session::Session(std::vector<LlamaModel*> models, std::vector<double> weights,
                 const GenerateOptions& opts)
    : weights_(std::move(weights)),
      opts_(opts),
      word_ends_(UsesWordEnds(opts.scoring)),
      per_word_(UsesPerWord(opts.scoring)) {
  // Side by side, the calling thread runs one model; one after the other, it decodes for
  // all of them (ForEachActiveThreaded).
  if (models.size() > 1)
    pool_ = std::make_unique<WorkerPool>((int)models.size() - (opts.parallel_models ? 1 : 0));
  m_.reserve(models.size());
  for (size_t v = 0; v < models.size(); ++v) {
    m_.emplace_back(models[v], opts.sampling, opts.sampling.seed + (uint32_t)v * 7919u);
    m_[v].scorer.Reset((int)models.size());
  }
}

int Session::first_active() const {
  for (size_t v = 0; v < m_.size(); ++v) {
    if (m_[v].view.active) return (int)v;
  }
  return -1;
}

std::vector<bool> Session::ActiveMask() const {
  std::vector<bool> a(m_.size());
  for (size_t v = 0; v < m_.size(); ++v) a[v] = m_[v].view.active;
  return a;
}

int Session::n_active() const {
  int n = 0;
  for (const Model& m : m_) n += m.view.active;
  return n;
}

int Session::NumPromptTokens() const {
  const int v = first_active();
  return v < 0 ? 0 : (int)(m_[v].view.n_prompt_tokens + m_[v].healed_tokens);
}

int Session::NewTokens() const {
  const int v = first_active();
  return v < 0 ? 0 : (int)(m_[v].view.tokens.size() - m_[v].view.n_prompt_tokens);
}

size_t Session::BudgetEnd(int budget) const {
  const int v = first_active();
  if (v < 0 || budget < 0) return std::string::npos;
  const ModelView& m = m_[v].view;
  const size_t k = m.n_prompt_tokens + (size_t)budget;
  if (m.tokens.size() <= k || !m.ends_ok || k == 0 || m.ends[k - 1] < m.prompt_len)
    return std::string::npos;
  return m.ends[k - 1] - m.prompt_len;
}

bool Session::ContextFull(int v, int more) const {
  return (int)m_[v].view.tokens.size() + more >= m_[v].view.lm->n_ctx();
}

Status Session::GrammarStuck(int v) const {
  if (grammar_budget_ != nullptr && grammar_budget_->failed()) return grammar_budget_->error();
  return Status::Unsupported(label(v) +
                             "'s vocabulary has no token for what the grammar needs next");
}

Status Session::MakeDraft(int u, int max_tokens, const std::function<bool(Draft&)>& done, Draft* d,
                          const NewsSource* news, Token first) {
  Model& m = m_[u];
  LlamaModel& lm = *m.view.lm;
  if (first >= 0) {  // a branch: the draft starts with `first`, as if carried over
    lm.SeqRemove(kv::kCommitted, (int)m.view.tokens.size(), -1);
    m.carry = Draft();
    m.carry.tokens = {first};
    m.carry.text = std::string(lm.Piece(first));
    m.carry.ends = {m.carry.text.size()};
  }
  *d = std::move(m.carry);
  m.carry = Draft();
  d->model = u;
  d->cut_tokens = 0;
  d->cut_eog = false;
  d->aligned = true;
  d->start_ok = true;
  d->context_full = false;
  const int n_vocab = lm.n_vocab();
  int base = (int)m.view.tokens.size();
  CF_RETURN_IF_ERROR(m.constraint.BeginDraft(d->tokens));
  if (m.sampler.has_penalties()) {  // the penalties look back over the answer so far
    std::vector<Token> hist(m.view.tokens.begin() + (long)m.view.n_prompt_tokens,
                            m.view.tokens.end());
    hist.insert(hist.end(), d->tokens.begin(), d->tokens.end());
    m.sampler.ResetHistory(hist.data(), hist.size());
  }
  if (!d->tokens.empty() && (done(*d) || (int)d->tokens.size() >= max_tokens)) return Status::Ok();
  if (d->eog) return Status::Ok();
  if ((int)d->tokens.size() > d->n_decoded) {  // a carried look-ahead token
    CF_RETURN_IF_ERROR(DecodeWithNews(
        m, {{d->tokens[d->n_decoded], base + d->n_decoded, kv::kCommitted, true}}, news, d->text));
    d->n_decoded++;
    const float* row = lm.Logits(0);
    d->after.emplace_back(row, row + n_vocab);
  }
  const float* logits = d->n_decoded > 0 ? d->after.back().data() : m.view.last_logits.data();
  while (true) {
    if (base + d->n_decoded + 1 >= lm.n_ctx()) {
      d->context_full = true;
      break;
    }
    const bool closing =
        m.constraint.on() && NewTokens() + (int)d->tokens.size() >=
                                 opts_.max_new_tokens - std::max(8, opts_.max_new_tokens / 3);
    // A healed prompt: the first token starts with the tail (Start's heal).
    const bool healing = m.heal_pending && first < 0 && d->tokens.empty();
    if (healing) {
      m.heal_logits.assign(n_vocab, -std::numeric_limits<float>::infinity());
      for (Token a : m.heal_allowed) m.heal_logits[a] = logits[a];
    }
    const Token t = m.sampler.Sample(healing ? m.heal_logits.data() : logits, lm.suppressed(),
                                     m.constraint.draft(), closing);
    if (healing && t >= 0 && lm.Piece(t).size() == m.heal_tail.size()) {
      CF_RETURN_IF_ERROR(AbsorbTail(m, t));
      base = (int)m.view.tokens.size();
      logits = m.view.last_logits.data();
      continue;
    }
    if (t < 0) {
      d->grammar_stuck = true;  // the method decides: the model leaves, or the request fails
      break;
    }
    if (lm.IsEog(t)) {
      d->eog = true;
      d->eog_token = t;
      break;
    }
    m.sampler.Accept(t);
    m.constraint.Drafted(t);
    d->tokens.push_back(t);
    d->text += lm.Piece(t).substr(healing ? m.heal_tail.size() : 0);
    d->ends.push_back(d->text.size());
    if (done(*d) || (int)d->tokens.size() >= max_tokens) break;
    CF_RETURN_IF_ERROR(
        DecodeWithNews(m, {{t, base + d->n_decoded, kv::kCommitted, true}}, news, d->text));
    d->n_decoded++;
    const float* row = lm.Logits(0);
    d->after.emplace_back(row, row + n_vocab);
    logits = d->after.back().data();
  }
  return Status::Ok();
}

Status Session::AbsorbTail(Model& m, Token t) {
  ModelView& v = m.view;
  v.tokens.push_back(t);
  v.ends.push_back(v.prompt_len);
  v.n_prompt_tokens = v.tokens.size();
  m.healed_tokens = 0;
  m.heal_pending = false;
  CF_RETURN_IF_ERROR(GatedDecode(m, {{t, (int)v.tokens.size() - 1, kv::kCommitted, true}}));
  const float* row = v.lm->Logits(0);
  v.last_logits.assign(row, row + v.lm->n_vocab());
  return Status::Ok();
}

Status Session::DecodeWithNews(Model& m, std::vector<LlamaModel::BatchItem> batch,
                               const NewsSource* news, const std::string& own_text) {
  std::vector<CandidateScorer::PreJob> jobs;
  if (news != nullptr) {
    std::vector<DraftNews> items;
    (*news)(&items);
    const size_t own = batch.size();
    m.scorer.PlanPreScores(m.view, items, own_text, /*own_done=*/false, &batch, &jobs);
    if (!jobs.empty()) {
      Status st = GatedDecode(m, batch);
      if (st.ok()) {
        m.scorer.CollectPreScore(m.view, jobs);
        return st;
      }
      // No room for the others' tokens (or a failure that the model's own tokens will
      // hit again): drop them and decode the model's own tokens alone.
      m.scorer.DropPreScore(m.view, jobs);
      batch.resize(own);
    }
  }
  if (batch.empty()) return Status::Ok();
  return GatedDecode(m, batch);
}

Status Session::PreScore(int v, const std::vector<DraftNews>& news, const std::string& own_text) {
  Model& m = m_[v];
  std::vector<LlamaModel::BatchItem> batch;
  std::vector<CandidateScorer::PreJob> jobs;
  m.scorer.PlanPreScores(m.view, news, own_text, /*own_done=*/true, &batch, &jobs);
  if (batch.empty()) return Status::Ok();
  Status st = GatedDecode(m, batch);
  if (!st.ok()) {
    m.scorer.DropPreScore(m.view, jobs);
    // No room: Score says so if it matters.
    return st.code() == Status::Code::kResourceExhausted ? Status::Ok() : st;
  }
  m.scorer.CollectPreScore(m.view, jobs);
  return Status::Ok();
}

Status Session::GatedDecode(Model& m, const std::vector<LlamaModel::BatchItem>& batch) {
  LlamaModel* lm = m.view.lm;
  return gate_.Decode([&] { return lm->Decode(batch); });
}

Status Session::Score(const std::vector<StepCandidate>& cands,
                      const std::vector<const Draft*>& drafts,
                      std::vector<std::vector<double>>* ppl, Sequences after,
                      std::vector<std::vector<Likelihood>>* like) {
  ppl->assign(cands.size(),
              std::vector<double>(m_.size(), std::numeric_limits<double>::infinity()));
  if (like != nullptr) like->assign(cands.size(), std::vector<Likelihood>(m_.size()));
  Status st;
  if (cands.size() == 1 && cands[0].writers.size() == (size_t)n_active()) {
    for (auto& x : (*ppl)[0]) x = std::numeric_limits<double>::quiet_NaN();
    for (Model& m : m_) m.scorer.Skip(1);
  } else {
    // Each active model's scorer records its candidates (CandidateScorer::Score); the
    // others were reset when the last step committed and are never asked.
    st = ForEachActive([&](int v) {
      return m_[v].scorer.Score(m_[v].view, v, cands,
                                drafts.size() > (size_t)v ? drafts[v] : nullptr, word_ends_,
                                per_word_, ppl, like);
    });
  }
  if (st.ok() && after == Sequences::kDrop) {
    const int n = (int)m_.size();
    for (Model& model : m_) {
      if (!model.view.active) continue;
      for (int q = kv::kFirstScoring; q < kv::ScoringEnd(n); ++q)
        model.view.lm->SeqRemove(q, -1, -1);
      model.scorer.Reset(n);
    }
  }
  return st;
}

Status Session::Retokenize(Model& model, const std::string& more) {
  ModelView& m = model.view;
  Reencoding enc;
  CF_RETURN_IF_ERROR(m.Reencode(m.ReencodeStart(), more, -1, &enc));
  const size_t d = enc.divergence;
  size_t from = d;
  if (d < m.tokens.size()) {
    m.counters.retokenize_changes++;
    m.counters.rollback_tokens += (int64_t)(m.tokens.size() - d);
    if (from == enc.tokens.size()) from = from > 0 ? from - 1 : 0;  // re-decode for logits
  }
  m.lm->SeqRemove(kv::kCommitted, (int)from, -1);
  m.text += more;
  m.tokens = std::move(enc.tokens);
  m.SetEnds(enc.anchor_tokens, enc.suffix, enc.anchor);
  return m.DecodeTail(from);
}

Status Session::Commit(const std::vector<StepCandidate>& cands, int c,
                       const std::vector<const Draft*>& drafts, bool last) {
  const StepCandidate& win = cands[c];
  for (Model& m : m_) m.failed = false;
  CF_RETURN_IF_ERROR(ForEachActive([&](int v) {
    return CommitModel(v, win, c, drafts.size() > (size_t)v ? drafts[v] : nullptr, last);
  }));
  for (Model& m : m_) {
    if (m.failed) m.view.active = false;  // cannot encode the committed text: leaves the ensemble
  }
  if (first_active() < 0) return Status::InvalidArgument("no model can encode the generated text");
  if (!win.eog) FollowGrammar(win, drafts);
  generated_ += win.text;
  DropDrafts();
  return Status::Ok();
}

Status Session::DecodeCommitted() {
  return ForEachActive([&](int v) {
    ModelView& m = m_[v].view;
    if (m.undecoded == 0) return Status::Ok();
    const size_t from = m.tokens.size() - m.undecoded;
    m.undecoded = 0;
    m.lm->SeqRemove(kv::kCommitted, (int)from, -1);
    return m.DecodeTail(from);
  });
}

Status Session::CommitModel(int v, const StepCandidate& win, int c, const Draft* own, bool last) {
  Model& model = m_[v];
  ModelView& m = model.view;
  LlamaModel& lm = *m.lm;
  const size_t base = m.tokens.size();
  model.heal_pending = false;  // the tail is now read with what follows it
  if (own && own->Wrote(win.text, win.eog)) {
    // Keep the model's own tokens: its state is exactly its greedy state. What it
    // drafted past the cut (decoded, in KV) starts its next draft.
    const size_t cut = own->cut_tokens;
    const size_t in_kv = std::min<size_t>(cut, own->n_decoded);
    for (size_t i = 0; i < cut; ++i) {
      m.tokens.push_back(own->tokens[i]);
      m.ends.push_back(m.text.size() + own->ends[i]);
    }
    m.text += win.text;
    if (cut > in_kv && last) {
      lm.SeqRemove(kv::kCommitted, (int)(base + in_kv), -1);
      m.undecoded = cut - in_kv;
    } else if (cut > in_kv) {
      lm.SeqRemove(kv::kCommitted, (int)(base + in_kv), -1);
      CF_RETURN_IF_ERROR(m.DecodeTail(base + in_kv));
    } else {
      if (cut > 0) m.last_logits = own->after[cut - 1];
      if (!win.eog) model.carry = own->Past(cut);
    }
  } else if (const CandidateScorer::Scored* sc = model.scorer.scored(c)) {
    const Reencoding& enc = sc->enc;
    if (enc.divergence < base) {
      m.counters.retokenize_changes++;
      m.counters.rollback_tokens += (int64_t)(base - enc.divergence);
    }
    lm.SeqRemove(kv::kCommitted, sc->start, -1);
    lm.SeqCopy(sc->seq, kv::kCommitted, sc->start, -1);
    m.tokens = enc.tokens;
    m.text += win.text;
    if (win.eog) {
      m.tokens.pop_back();
      lm.SeqRemove(kv::kCommitted, (int)m.tokens.size(), -1);
    }
    m.SetEnds(enc.anchor_tokens, enc.suffix, enc.anchor);
    m.last_logits = sc->last;
  } else {
    lm.SeqRemove(kv::kCommitted, (int)base, -1);
    Status st = Retokenize(model, win.text);
    if (!st.ok()) {
      if (st.code() != Status::Code::kInvalidArgument) return st;
      m.counters.unencodable++;
      model.failed = true;
    }
  }
  return Status::Ok();
}

void Session::FollowGrammar(const StepCandidate& win, const std::vector<const Draft*>& drafts) {
  for (size_t v = 0; v < m_.size(); ++v) {
    Model& m = m_[v];
    if (!m.constraint.on() || !m.view.active) continue;
    const Draft* own = drafts.size() > v ? drafts[v] : nullptr;
    const bool wrote = own && own->Wrote(win.text, win.eog);
    const std::vector<Token> mine =
        wrote ? std::vector<Token>(own->tokens.begin(), own->tokens.begin() + (long)own->cut_tokens)
              : std::vector<Token>();
    if (!m.constraint.Commit(wrote ? &mine : nullptr, win.text)) {
      m.view.active = false;  // a character this model has no single token for
      m.view.counters.unencodable++;
    }
  }
}

bool Session::GrammarAllows(const std::string& text, bool eog) const {
  // The grammars are one grammar over different vocabularies: a text any of them accepts
  // is grammatical (another may only lack a single-character token for it).
  bool any = false;
  for (const Model& m : m_) {
    if (!m.view.active || !m.constraint.on()) continue;
    any = true;
    if (m.constraint.Allows(text, eog)) return true;
  }
  return !any;
}

int Session::reading_seq() const { return kv::ExtraSeq((int)m_.size()); }

void Session::DropDrafts() {
  const int n = (int)m_.size();
  for (Model& model : m_) {
    ModelView& m = model.view;
    if (!m.active) continue;
    for (int s = kv::kFirstScoring; s < kv::ScoringEnd(n); ++s) m.lm->SeqRemove(s, -1, -1);
    m.lm->SeqRemove(kv::kCommitted, (int)m.tokens.size() + model.carry.n_decoded, -1);
    model.scorer.Reset(n);
  }
}

Counters Session::TotalCounters() const {
  Counters t = counters_;
  for (const Model& m : m_) {
    const Counters& c = m.view.counters;
    t.scoring_calls += c.scoring_calls;
    t.candidates_scored += c.candidates_scored;
    t.retokenize_changes += c.retokenize_changes;
    t.rollback_tokens += c.rollback_tokens;
    t.unencodable += c.unencodable;
    t.prescored_tokens += c.prescored_tokens;
    t.align_ns += c.align_ns;
  }
  return t;
}

std::vector<int> Session::ActiveModels() const {
  std::vector<int> act;
  for (size_t v = 0; v < m_.size(); ++v) {
    if (m_[v].view.active) act.push_back((int)v);
  }
  return act;
}

Status Session::ForEachActive(const std::function<Status(int)>& fn) {
  const std::vector<int> act = ActiveModels();
  if (!opts_.parallel_models || act.size() < 2) {
    for (int v : act) CF_RETURN_IF_ERROR(fn(v));
    return Status::Ok();
  }
  std::vector<Status> st(act.size());
  pool_->Run((int)act.size(), [&](int i) { st[i] = fn(act[i]); });
  for (const Status& x : st) CF_RETURN_IF_ERROR(x);
  return Status::Ok();
}

Status Session::ForEachActiveThreaded(const std::function<Status(int)>& fn) {
  const std::vector<int> act = ActiveModels();
  if (act.size() < 2) return act.empty() ? Status::Ok() : fn(act[0]);
  std::vector<Status> st(act.size());
  if (opts_.parallel_models) {
    pool_->Run((int)act.size(), [&](int i) { st[i] = fn(act[i]); });
  } else {
    gate_.Serve(*pool_, (int)act.size(), [&](int i) { st[i] = fn(act[i]); });
  }
  for (const Status& x : st) CF_RETURN_IF_ERROR(x);
  return Status::Ok();
}

void Session::TakeStepStats(std::vector<int>* calls, std::vector<int>* tokens) {
  calls->assign(m_.size(), 0);
  tokens->assign(m_.size(), 0);
  for (size_t v = 0; v < m_.size(); ++v) {
    const DecodeStats& s = m_[v].view.lm->stats();
    (*calls)[v] = (int)(s.calls - m_[v].calls_mark);
    (*tokens)[v] = (int)(s.tokens - m_[v].tokens_mark);
    m_[v].calls_mark = s.calls;
    m_[v].tokens_mark = s.tokens;
  }
}

void Session::TakeScoringCalls(std::vector<int>* calls) {
  calls->assign(m_.size(), 0);
  for (size_t v = 0; v < m_.size(); ++v) (*calls)[v] = m_[v].scorer.TakeScoringCalls();
}

double Session::DecodeMs() const {
  double ms = 0;
  for (const Model& m : m_) ms += m.view.lm->stats().ms;
  return ms;
}

}  // namespace coolfusion
