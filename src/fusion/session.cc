#include "fusion/session.h"

#include <algorithm>
#include <cassert>
#include <chrono>
#include <cmath>
#include <limits>
#include <thread>

#include "align/token_alignment.h"
#include "align/word_breaks.h"
#include "fusion/logits.h"
#include "fusion/prompt.h"
#include "fusion/prompt_weights.h"

namespace coolfusion {

namespace {
constexpr double kInf = std::numeric_limits<double>::infinity();

size_t CommonPrefix(const std::vector<Token>& a, const std::vector<Token>& b) {
  size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}
}  // namespace

double NegLogProb(const float* logits, int n, Token t) { return LogSumExp(logits, n) - logits[t]; }

Session::Session(std::vector<LlamaModel*> models, std::vector<double> weights, const GenerateOptions& opts)
    : weights_(std::move(weights)), opts_(opts), word_ends_(UsesWordEnds(opts.scoring)) {
  // Side by side, the calling thread runs one model; one after the other, it decodes for
  // all of them (ForEachActiveThreaded).
  if (models.size() > 1) pool_ = std::make_unique<WorkerPool>((int)models.size() - (opts.parallel_models ? 1 : 0));
  m_.resize(models.size());
  for (size_t v = 0; v < models.size(); ++v) {
    m_[v].lm = models[v];
    m_[v].pre.resize(models.size());
    m_[v].rng.seed(opts.sampling.seed + (uint32_t)v * 7919u);
  }
}

int Session::first_active() const {
  for (size_t v = 0; v < m_.size(); ++v) {
    if (m_[v].active) return (int)v;
  }
  return -1;
}

Status Session::Start(const Request& req, std::vector<std::string>* warnings) {
  const bool chat = !req.messages.empty();
  if (!chat) {
    CF_RETURN_IF_ERROR(CheckUtf8(req.prompt, "the prompt"));
    if (req.prompt.empty()) return Status::InvalidArgument("the prompt is empty");
  } else {
    for (const auto& msg : req.messages) CF_RETURN_IF_ERROR(CheckUtf8(msg.content, "a chat message"));
  }
  std::string first_error;
  const bool measure = UsesPromptWeights(opts_.scoring);
  std::vector<std::vector<size_t>> counted(m_.size());
  for (size_t v = 0; v < m_.size(); ++v) {
    Model& m = m_[v];
    LlamaModel& lm = *m.lm;
    m.prompt_bpb = std::numeric_limits<double>::quiet_NaN();
    m.prompt_bytes = 0;
    m.prompt_fit_ms = 0;
    PromptTokens p;
    Status st = chat ? ChatPrompt(lm, req.messages, &p) : PlainPrompt(lm, req.prompt, &p);
    if (!st.ok()) {
      if (st.code() != Status::Code::kInvalidArgument) return st;
      m.active = false;
      if (first_error.empty()) first_error = st.message();
      warnings->push_back("model " + std::to_string(v) + " cannot encode the prompt (" + st.message() +
                          "); fusing without it");
      continue;
    }
    if ((int)p.tokens.size() >= lm.n_ctx()) {
      return Status::InvalidArgument("the prompt is " + std::to_string(p.tokens.size()) + " tokens for model " +
                                     std::to_string(v) + ", longer than its context of " +
                                     std::to_string(lm.n_ctx()) + " (raise -c)");
    }
    if (measure && p.ends_ok) counted[v] = CountedTokenBytes(p.text, p.ends, p.content);
    m.text = std::move(p.text);
    m.prompt_len = m.text.size();
    m.tokens = std::move(p.tokens);
    m.ends = std::move(p.ends);
    m.ends_ok = p.ends_ok;
    m.min_anchor = p.min_anchor;
    m.n_fixed = p.n_fixed;
    lm.ClearMemory();
    if (m.tokens.empty()) {
      m.active = false;
      warnings->push_back("model " + std::to_string(v) + " has no tokens for the prompt; fusing without it");
      continue;
    }
  }
  if (first_active() < 0) {
    return Status::InvalidArgument(m_.size() == 1 ? "the model cannot encode the prompt: " + first_error
                                                  : "no model can encode the prompt; model 0: " + first_error);
  }
  // The prompts are decoded side by side too (with --parallel-models).
  CF_RETURN_IF_ERROR(ForEachActive([&](int v) {
    Model& m = m_[v];
    CF_RETURN_IF_ERROR(measure ? DecodeMeasuredPrompt(m, counted[v]) : DecodeTail(m, 0));
    m.n_prompt_tokens = m.tokens.size();
    m.prompt_logits = m.last_logits;
    m.calls_mark = m.lm->stats().calls;
    m.tokens_mark = m.lm->stats().tokens;
    return Status::Ok();
  }));
  generated_.clear();
  return Status::Ok();
}

Status Session::ResetToPrompt() {
  for (Model& m : m_) {
    m.carry = Draft();
    if (!m.active) continue;
    m.text.resize(m.prompt_len);
    m.tokens.resize(m.n_prompt_tokens);
    m.ends.resize(m.n_prompt_tokens);
    m.last_logits = m.prompt_logits;
    m.lm->SeqRemove(-1, (int)m.n_prompt_tokens, -1);
    m.lm->SeqRemove(0, (int)m.n_prompt_tokens, -1);
  }
  generated_.clear();
  return Status::Ok();
}

int Session::n_active() const {
  int n = 0;
  for (const Model& m : m_) n += m.active;
  return n;
}

int Session::NumPromptTokens() const {
  const int v = first_active();
  return v < 0 ? 0 : (int)m_[v].n_prompt_tokens;
}

int Session::NewTokens() const {
  const int v = first_active();
  return v < 0 ? 0 : (int)(m_[v].tokens.size() - m_[v].n_prompt_tokens);
}

bool Session::ContextFull(int v, int more) const {
  return (int)m_[v].tokens.size() + more >= m_[v].lm->n_ctx();
}

Status Session::DecodeTail(Model& m, size_t from) {
  std::vector<LlamaModel::BatchItem> batch;
  for (size_t i = from; i < m.tokens.size(); ++i) {
    batch.push_back({m.tokens[i], (int)i, 0, i + 1 == m.tokens.size()});
  }
  if (batch.empty()) return Status::Ok();
  CF_RETURN_IF_ERROR(m.lm->Decode(batch));
  const float* row = m.lm->Logits((int)batch.size() - 1);
  m.last_logits.assign(row, row + m.lm->n_vocab());
  return Status::Ok();
}

Status Session::DecodeMeasuredPrompt(Model& m, const std::vector<size_t>& counted) {
  // Token i counts through the logits after token i-1: entry i-1 asks for its row when
  // counted[i] > 0, and the last entry always does (the next token's logits).
  const int n_vocab = m.lm->n_vocab();
  const size_t n = m.tokens.size();
  const size_t max_rows = std::max<size_t>(1, kPromptLogitFloats / (size_t)n_vocab);
  double nll = 0;  // nats
  size_t bytes = 0;
  std::vector<LlamaModel::BatchItem> batch;
  size_t first = 0;  // position of batch[0]
  size_t rows = 0;
  for (size_t i = 0; i < n; ++i) {
    const bool want = i + 1 == n || (i + 1 < counted.size() && counted[i + 1] > 0);
    batch.push_back({m.tokens[i], (int)i, 0, want});
    rows += want;
    if (rows < max_rows && i + 1 < n) continue;
    CF_RETURN_IF_ERROR(m.lm->Decode(batch));
    const auto t0 = std::chrono::steady_clock::now();
    for (size_t k = 0; k < batch.size(); ++k) {
      if (!batch[k].want_logits) continue;
      const float* logits = m.lm->Logits((int)k);
      const size_t next = first + k + 1;
      if (next < n && next < counted.size() && counted[next] > 0) {
        nll += NegLogProb(logits, n_vocab, m.tokens[next]);
        bytes += counted[next];
      }
      if (next == n) m.last_logits.assign(logits, logits + n_vocab);
    }
    m.prompt_fit_ms += std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    first = i + 1;
    batch.clear();
    rows = 0;
  }
  m.prompt_bytes = bytes;
  if (bytes > 0) m.prompt_bpb = nll / std::log(2.0) / (double)bytes;
  return Status::Ok();
}

double Session::prompt_fit_ms() const {
  double ms = 0;
  for (const Model& m : m_) ms += m.prompt_fit_ms;
  return ms;
}

Token Session::Sample(Model& m, const float* logits) {
  const int n = m.lm->n_vocab();
  const LlamaModel& lm = *m.lm;
  if (opts_.sampling.temperature <= 0) {
    const Token fast = ArgMax(logits, n);
    if (!lm.IsSuppressed(fast)) return fast;
    Token best = -1;  // rare: the best token is a control token; skip all of them
    for (Token t = 0; t < n; ++t) {
      if (lm.IsSuppressed(t)) continue;
      if (best < 0 || logits[t] > logits[best]) best = t;
    }
    return best;
  }
  const double temp = opts_.sampling.temperature;
  std::vector<std::pair<double, Token>> p;
  p.reserve(n);
  float mx = -std::numeric_limits<float>::infinity();
  for (Token t = 0; t < n; ++t) {
    if (!lm.IsSuppressed(t)) mx = std::max(mx, logits[t]);
  }
  double sum = 0;
  for (Token t = 0; t < n; ++t) {
    if (lm.IsSuppressed(t)) continue;
    const double e = std::exp((logits[t] - mx) / temp);
    p.push_back({e, t});
    sum += e;
  }
  std::sort(p.begin(), p.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  double keep = 0;
  size_t cut = p.size();
  for (size_t i = 0; i < p.size(); ++i) {
    keep += p[i].first / sum;
    if (keep >= opts_.sampling.top_p) {
      cut = i + 1;
      break;
    }
  }
  double total = 0;
  for (size_t i = 0; i < cut; ++i) total += p[i].first;
  std::uniform_real_distribution<double> u(0, total);
  double r = u(m.rng);
  for (size_t i = 0; i < cut; ++i) {
    r -= p[i].first;
    if (r <= 0) return p[i].second;
  }
  return p[cut - 1].second;
}

Status Session::MakeDraft(int u, int max_tokens, const std::function<Status(Draft&, bool*)>& stop, Draft* d,
                          const NewsSource* news) {
  Model& m = m_[u];
  LlamaModel& lm = *m.lm;
  *d = std::move(m.carry);
  m.carry = Draft();
  d->model = u;
  d->cut_tokens = 0;
  d->cut_eog = false;
  d->aligned = true;
  d->start_ok = true;
  d->context_full = false;
  const int n_vocab = lm.n_vocab();
  const int base = (int)m.tokens.size();
  if (!d->tokens.empty()) {
    bool done = false;
    CF_RETURN_IF_ERROR(stop(*d, &done));
    if (done || (int)d->tokens.size() >= max_tokens) return Status::Ok();
  }
  if (d->eog) return Status::Ok();
  if ((int)d->tokens.size() > d->n_decoded) {  // a carried look-ahead token
    CF_RETURN_IF_ERROR(DecodeWithNews(m, {{d->tokens[d->n_decoded], base + d->n_decoded, 0, true}}, news, d->text));
    d->n_decoded++;
    const float* row = lm.Logits(0);
    d->after.emplace_back(row, row + n_vocab);
  }
  const float* logits = d->n_decoded > 0 ? d->after.back().data() : m.last_logits.data();
  while (true) {
    if (base + d->n_decoded + 1 >= lm.n_ctx()) {
      d->context_full = true;
      break;
    }
    const Token t = Sample(m, logits);
    if (lm.IsEog(t)) {
      d->eog = true;
      d->eog_token = t;
      break;
    }
    d->tokens.push_back(t);
    d->text += lm.Piece(t);
    d->ends.push_back(d->text.size());
    bool done = false;
    CF_RETURN_IF_ERROR(stop(*d, &done));
    if (done || (int)d->tokens.size() >= max_tokens) break;
    CF_RETURN_IF_ERROR(DecodeWithNews(m, {{t, base + d->n_decoded, 0, true}}, news, d->text));
    d->n_decoded++;
    const float* row = lm.Logits(0);
    d->after.emplace_back(row, row + n_vocab);
    logits = d->after.back().data();
  }
  return Status::Ok();
}

Anchor Session::TokenAnchor(const Model& m, size_t limit, size_t* k) const {
  if (m.ends_ok) {
    size_t lim = limit;
    while (true) {
      Anchor a = FindAnchor(m.text, lim, m.min_anchor);
      if (a.fragment_start) break;
      // Token i ends at a.pos: the anchor starts token i + 1.
      auto it = std::lower_bound(m.ends.begin() + m.n_fixed, m.ends.end(), a.pos);
      if (it != m.ends.end() && *it == a.pos) {
        // Several tokens may end at a.pos (empty pieces); keep all of them.
        while (it + 1 != m.ends.end() && *(it + 1) == a.pos) ++it;
        *k = (size_t)(it - m.ends.begin()) + 1;
        return a;
      }
      if (a.pos == 0) break;
      lim = a.pos - 1;
    }
  }
  *k = m.n_fixed;
  return Anchor{m.min_anchor, true};
}

void Session::SetEnds(Model& m, size_t k, const std::vector<Token>& suffix, Anchor a) {
  std::vector<size_t> ends;
  const bool ok = TokenEnds(*m.lm, suffix, m.text, a, &ends);
  m.ends.resize(k);
  if (ok) {
    m.ends.insert(m.ends.end(), ends.begin(), ends.end());
  } else {
    m.ends_ok = false;
    m.ends.resize(k + suffix.size(), a.pos);
  }
}

void Session::PlanPreScore(Model& m, const DraftNews& news, std::vector<LlamaModel::BatchItem>* batch,
                           std::vector<PreJob>* jobs) {
  LlamaModel& lm = *m.lm;
  Pre& p = m.pre[news.model];
  size_t k_anchor = 0;
  const Anchor anchor = TokenAnchor(m, m.text.empty() ? 0 : m.text.size() - 1, &k_anchor);
  std::vector<Token> suffix;
  if (news.text.empty() || !TokenizeFrom(lm, m.text + news.text, anchor, &suffix).ok()) return;
  std::vector<Token> toks(m.tokens.begin(), m.tokens.begin() + k_anchor);
  toks.insert(toks.end(), suffix.begin(), suffix.end());
  const size_t d = CommonPrefix(m.tokens, toks);
  if (d == toks.size()) return;
  const int start = (d == m.tokens.size()) ? (int)d : std::max<int>((int)d - 1, 0);
  const int seq = 1 + news.model;
  if (p.seq == 0 || p.start != start) {
    lm.SeqRemove(seq, -1, -1);
    lm.SeqCopy(0, seq, 0, start);
    p.seq = seq;
    p.start = start;
    p.tokens.assign(toks.begin(), toks.begin() + start);
    p.rows.clear();
  }
  const size_t keep = std::max<size_t>(CommonPrefix(p.tokens, toks), (size_t)start);
  if (keep < p.tokens.size()) {
    lm.SeqRemove(seq, (int)keep, -1);
    p.tokens.resize(keep);
    p.rows.resize(keep - start);
  }
  if (keep == toks.size()) return;
  PreJob job;
  job.model = news.model;
  job.first_row = batch->size();
  for (size_t i = keep; i < toks.size(); ++i) {
    batch->push_back({toks[i], (int)i, seq, true});
    job.tokens.push_back(toks[i]);
  }
  jobs->push_back(std::move(job));
}

void Session::PlanPreScores(Model& m, const std::vector<DraftNews>& news, const std::string& own_text, bool own_done,
                            std::vector<LlamaModel::BatchItem>* batch, std::vector<PreJob>* jobs) {
  for (const DraftNews& n : news) {
    // What the model wrote itself it scores from its own logits: news that its text
    // starts with is left out, and while it still drafts, so is news that starts with
    // its text (it may yet write the same candidate).
    const size_t common = own_done ? n.text.size() : std::min(n.text.size(), own_text.size());
    if (n.text.compare(0, common, own_text, 0, common) != 0) PlanPreScore(m, n, batch, jobs);
  }
}

void Session::CollectPreScore(Model& m, const std::vector<PreJob>& jobs) {
  const int n_vocab = m.lm->n_vocab();
  for (const PreJob& job : jobs) {
    Pre& p = m.pre[job.model];
    for (size_t j = 0; j < job.tokens.size(); ++j) {
      const float* row = m.lm->Logits((int)(job.first_row + j));
      p.rows.emplace_back(row, row + n_vocab);
      p.tokens.push_back(job.tokens[j]);
    }
    m.counters.prescored_tokens += (int64_t)job.tokens.size();
  }
}

void Session::DropPreScore(Model& m, const std::vector<PreJob>& jobs) {
  for (const PreJob& job : jobs) {
    m.lm->SeqRemove(1 + job.model, -1, -1);
    m.pre[job.model] = Pre();
  }
}

Status Session::DecodeWithNews(Model& m, std::vector<LlamaModel::BatchItem> batch, const NewsSource* news,
                               const std::string& own_text) {
  std::vector<PreJob> jobs;
  if (news != nullptr) {
    std::vector<DraftNews> items;
    (*news)(&items);
    const size_t own = batch.size();
    PlanPreScores(m, items, own_text, /*own_done=*/false, &batch, &jobs);
    if (!jobs.empty()) {
      Status st = GatedDecode(m, batch);
      if (st.ok()) {
        CollectPreScore(m, jobs);
        return st;
      }
      // No room for the others' tokens (or a failure that the model's own tokens will
      // hit again): drop them and decode the model's own tokens alone.
      DropPreScore(m, jobs);
      batch.resize(own);
    }
  }
  if (batch.empty()) return Status::Ok();
  return GatedDecode(m, batch);
}

Status Session::PreScore(int v, const std::vector<DraftNews>& news, const std::string& own_text) {
  Model& m = m_[v];
  std::vector<LlamaModel::BatchItem> batch;
  std::vector<PreJob> jobs;
  PlanPreScores(m, news, own_text, /*own_done=*/true, &batch, &jobs);
  if (batch.empty()) return Status::Ok();
  Status st = GatedDecode(m, batch);
  if (!st.ok()) {
    DropPreScore(m, jobs);
    // No room: Score says so if it matters.
    return st.code() == Status::Code::kResourceExhausted ? Status::Ok() : st;
  }
  CollectPreScore(m, jobs);
  return Status::Ok();
}

Status Session::Score(const std::vector<StepCandidate>& cands, const std::vector<const Draft*>& drafts,
                      std::vector<std::vector<double>>* ppl) {
  ppl->assign(cands.size(), std::vector<double>(m_.size(), kInf));
  if (cands.size() == 1 && cands[0].writers.size() == (size_t)n_active()) {
    for (auto& x : (*ppl)[0]) x = std::numeric_limits<double>::quiet_NaN();
    for (Model& m : m_) m.scored.assign(1, Scored());
    return Status::Ok();
  }
  for (Model& m : m_) m.scored.assign(cands.size(), Scored());
  return ForEachActive([&](int v) {
    return ScoreModel(v, cands, drafts.size() > (size_t)v ? drafts[v] : nullptr, ppl);
  });
}

Status Session::ScoreModel(int v, const std::vector<StepCandidate>& cands, const Draft* own,
                           std::vector<std::vector<double>>* ppl) {
  Model& m = m_[v];
  LlamaModel& lm = *m.lm;
  {
    const std::string own_text = own ? own->Candidate() : std::string();
    size_t k_anchor = 0;
    const Anchor anchor = TokenAnchor(m, m.text.empty() ? 0 : m.text.size() - 1, &k_anchor);
    std::vector<LlamaModel::BatchItem> batch;
    std::vector<size_t> order;        // candidates decoded, in batch order
    std::vector<size_t> batch_begin;  // first batch row of each
    std::vector<size_t> no_decode;    // candidates pre-scored whole
    for (size_t c = 0; c < cands.size(); ++c) {
      if (own && own->cut_eog == cands[c].eog && own_text == cands[c].text) {
        // The model wrote this candidate: the logits it sampled from score it.
        const int nv = lm.n_vocab();
        auto row = [&](size_t i) { return i == 0 ? m.last_logits.data() : own->after[i - 1].data(); };
        double sum = 0;
        size_t n = own->cut_tokens;
        for (size_t i = 0; i < n; ++i) sum += NegLogProb(row(i), nv, own->tokens[i]);
        if (cands[c].eog) {
          sum += NegLogProb(row(n), nv, own->eog_token);
          ++n;
        }
        // Its word end, from the logits after its last token when they were decoded (a
        // draft that stopped at -n or a full context did not decode its last token).
        const size_t cut = own->cut_tokens;
        if (!cands[c].eog && cut > 0 && cut <= (size_t)own->n_decoded) WordEnd(m, cands[c], row(cut), &sum, &n);
        (*ppl)[c][v] = n ? std::exp(sum / n) : 1.0;
        continue;
      }
      Scored& sc = m.scored[c];
      std::string full = m.text + cands[c].text;
      std::vector<Token> suffix;
      Status st = TokenizeFrom(lm, full, anchor, &suffix);
      if (!st.ok()) {
        m.counters.unencodable++;
        continue;  // ppl stays inf
      }
      sc.anchor = anchor;
      sc.anchor_tokens = k_anchor;
      sc.tokens.assign(m.tokens.begin(), m.tokens.begin() + k_anchor);
      sc.tokens.insert(sc.tokens.end(), suffix.begin(), suffix.end());
      if (cands[c].eog) sc.tokens.push_back(lm.eos());
      const size_t d = CommonPrefix(m.tokens, sc.tokens);
      sc.divergence = (int)d;
      if (d == sc.tokens.size()) {
        // The candidate adds no token (only possible for an empty text): nothing to score.
        (*ppl)[c][v] = 1.0;
        continue;
      }
      sc.start = (d == m.tokens.size()) ? (int)d : std::max<int>((int)d - 1, 0);
      // The sequence of one of the candidate's writers (none for an extra candidate): what
      // was pre-scored there and still matches is kept.
      Pre* p = nullptr;
      sc.seq = (int)m_.size() + 1;
      for (int u : cands[c].writers) {
        Pre& q = m.pre[u];
        if (p == nullptr || (q.seq != 0 && q.start == sc.start && q.tokens.size() > p->tokens.size())) {
          p = &q;
          sc.seq = 1 + u;
        }
      }
      sc.ok = true;
      sc.kept = sc.start;
      if (p != nullptr && p->seq == sc.seq && p->start == sc.start) {
        sc.kept = std::min(CommonPrefix(p->tokens, sc.tokens), sc.tokens.size());
        sc.kept = std::max(sc.kept, (size_t)sc.start);
        lm.SeqRemove(sc.seq, (int)sc.kept, -1);
        sc.pre_rows = &p->rows;
      } else {
        lm.SeqRemove(sc.seq, -1, -1);
        lm.SeqCopy(0, sc.seq, 0, sc.start);
      }
      if (sc.kept == sc.tokens.size()) {
        no_decode.push_back(c);
        continue;
      }
      batch_begin.push_back(batch.size());
      order.push_back(c);
      for (size_t i = sc.kept; i < sc.tokens.size(); ++i) batch.push_back({sc.tokens[i], (int)i, sc.seq, true});
    }
    if (!batch.empty()) {
      Status st = lm.Decode(batch);
      if (!st.ok()) return Status(st.code() == Status::Code::kResourceExhausted
                                      ? Status::ResourceExhausted("context full while scoring candidates")
                                      : st);
      m.counters.scoring_calls++;
      m.scoring_calls++;
    }
    const int n_vocab = lm.n_vocab();
    auto finish = [&](size_t c, size_t first_row) {
      Scored& sc = m.scored[c];
      // Logits after token i: the last committed token's, pre-scored, or from the batch.
      auto after = [&](size_t i) -> const float* {
        if ((int)i < sc.start) return m.last_logits.data();
        if (i < sc.kept) return (*sc.pre_rows)[i - sc.start].data();
        return lm.Logits((int)(first_row + (i - sc.kept)));
      };
      double sum = 0;
      size_t n = 0;
      for (size_t i = (size_t)sc.divergence; i < sc.tokens.size(); ++i) {
        if (i == 0) continue;  // no context to predict the very first token
        sum += NegLogProb(after(i - 1), n_vocab, sc.tokens[i]);
        ++n;
      }
      const float* last = after(sc.tokens.size() - 1);
      if (n > 0) WordEnd(m, cands[c], last, &sum, &n);
      (*ppl)[c][v] = n ? std::exp(sum / n) : 1.0;
      sc.last.assign(last, last + n_vocab);
      m.counters.candidates_scored++;
    };
    for (size_t j = 0; j < order.size(); ++j) finish(order[j], batch_begin[j]);
    for (size_t c : no_decode) finish(c, 0);
  }
  return Status::Ok();
}

void Session::WordEnd(const Model& m, const StepCandidate& cand, const float* after_last, double* nll,
                      size_t* n) const {
  if (!word_ends_ || cand.eog || cand.text.empty() || !IsAsciiAlnum((unsigned char)cand.text.back())) return;
  const double goes_on =
      MaskedProbability(after_last, m.lm->word_continuations().data(), m.lm->n_vocab());
  *nll += -std::log(std::max(1.0 - goes_on, 1e-30));
  ++*n;
}

Status Session::Retokenize(Model& m, const std::string& new_text) {
  size_t k = 0;
  const Anchor a = TokenAnchor(m, m.text.empty() ? 0 : m.text.size() - 1, &k);
  std::vector<Token> suffix;
  Status st = TokenizeFrom(*m.lm, new_text, a, &suffix);
  if (!st.ok()) return st;
  std::vector<Token> toks(m.tokens.begin(), m.tokens.begin() + k);
  toks.insert(toks.end(), suffix.begin(), suffix.end());
  const size_t d = CommonPrefix(m.tokens, toks);
  size_t from = d;
  if (d < m.tokens.size()) {
    m.counters.retokenize_changes++;
    m.counters.rollback_tokens += (int64_t)(m.tokens.size() - d);
    if (from == toks.size()) from = from > 0 ? from - 1 : 0;  // re-decode for logits
  }
  m.lm->SeqRemove(0, (int)from, -1);
  m.text = new_text;
  m.tokens = std::move(toks);
  SetEnds(m, k, suffix, a);
  return DecodeTail(m, from);
}

Status Session::Commit(const std::vector<StepCandidate>& cands, int c, const std::vector<const Draft*>& drafts) {
  const StepCandidate& win = cands[c];
  for (Model& m : m_) m.failed = false;
  CF_RETURN_IF_ERROR(ForEachActive([&](int v) {
    return CommitModel(v, win, c, drafts.size() > (size_t)v ? drafts[v] : nullptr);
  }));
  for (Model& m : m_) {
    if (m.failed) m.active = false;  // cannot encode the committed text: leaves the ensemble
  }
  if (first_active() < 0) return Status::InvalidArgument("no model can encode the generated text");
  generated_ += win.text;
  DropDrafts();
  return Status::Ok();
}

Status Session::CommitModel(int v, const StepCandidate& win, int c, const Draft* own) {
  Model& m = m_[v];
  LlamaModel& lm = *m.lm;
  const size_t base = m.tokens.size();
  const std::string new_text = m.text + win.text;
  if (own && own->cut_eog == win.eog && own->Candidate() == win.text) {
    // Keep the model's own tokens: its state is exactly its greedy state. What it
    // drafted past the cut (decoded, in KV) starts its next draft.
    const size_t cut = own->cut_tokens;
    const size_t in_kv = std::min<size_t>(cut, own->n_decoded);
    for (size_t i = 0; i < cut; ++i) {
      m.tokens.push_back(own->tokens[i]);
      m.ends.push_back(m.text.size() + own->ends[i]);
    }
    m.text = new_text;
    if (cut > in_kv) {
      lm.SeqRemove(0, (int)(base + in_kv), -1);
      CF_RETURN_IF_ERROR(DecodeTail(m, base + in_kv));
    } else {
      if (cut > 0) m.last_logits = own->after[cut - 1];
      if (!win.eog) m.carry = CarryPast(*own, cut);
    }
  } else if (c < (int)m.scored.size() && m.scored[c].ok) {
    Scored& sc = m.scored[c];
    if (sc.divergence < (int)base) {
      m.counters.retokenize_changes++;
      m.counters.rollback_tokens += (int64_t)base - sc.divergence;
    }
    lm.SeqRemove(0, sc.start, -1);
    lm.SeqCopy(sc.seq, 0, sc.start, -1);
    std::vector<Token> suffix(sc.tokens.begin() + sc.anchor_tokens, sc.tokens.end() - (win.eog ? 1 : 0));
    m.tokens = sc.tokens;
    m.text = new_text;
    if (win.eog) {
      m.tokens.pop_back();
      lm.SeqRemove(0, (int)m.tokens.size(), -1);
    }
    SetEnds(m, sc.anchor_tokens, suffix, sc.anchor);
    m.last_logits = sc.last;
  } else {
    lm.SeqRemove(0, (int)base, -1);
    Status st = Retokenize(m, new_text);
    if (!st.ok()) {
      if (st.code() != Status::Code::kInvalidArgument) return st;
      m.counters.unencodable++;
      m.failed = true;
    }
  }
  return Status::Ok();
}

void Session::DropDrafts() {
  for (Model& m : m_) {
    if (!m.active) continue;
    for (int s = 1; s < (int)m_.size() + 2; ++s) m.lm->SeqRemove(s, -1, -1);
    m.lm->SeqRemove(0, (int)m.tokens.size() + m.carry.n_decoded, -1);
    m.scored.clear();
    m.pre.assign(m_.size(), Pre());
  }
}

Draft Session::CarryPast(const Draft& d, size_t cut) {
  Draft c;
  c.model = d.model;
  const size_t cut_bytes = cut > 0 ? d.ends[cut - 1] : 0;
  c.tokens.assign(d.tokens.begin() + cut, d.tokens.end());
  for (size_t i = cut; i < d.ends.size(); ++i) c.ends.push_back(d.ends[i] - cut_bytes);
  c.text = d.text.substr(cut_bytes);
  c.after.assign(d.after.begin() + std::min(cut, d.after.size()), d.after.end());
  c.n_decoded = d.n_decoded - (int)cut;
  c.eog = d.eog;
  c.eog_token = d.eog_token;
  return c;
}

Status Session::Truncate(size_t new_len) {
  // Only used when generation ends (stop strings): the models' states are not reused.
  if (new_len < generated_.size()) generated_.resize(new_len);
  return Status::Ok();
}

Counters Session::TotalCounters() const {
  Counters t = counters_;
  for (const Model& m : m_) {
    const Counters& c = m.counters;
    t.scoring_calls += c.scoring_calls;
    t.candidates_scored += c.candidates_scored;
    t.retokenize_changes += c.retokenize_changes;
    t.rollback_tokens += c.rollback_tokens;
    t.unencodable += c.unencodable;
    t.prescored_tokens += c.prescored_tokens;
  }
  return t;
}

std::vector<int> Session::ActiveModels() const {
  std::vector<int> act;
  for (size_t v = 0; v < m_.size(); ++v) {
    if (m_[v].active) act.push_back((int)v);
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
    // The models' threads hand their decodes to this thread, which runs them one at a
    // time: one after the other in time, and on one thread (ggml's CPU thread team is per
    // calling thread; switching teams at every decode costs more than a tiny decode).
    {
      std::lock_guard<std::mutex> lock(exec_mu_);
      exec_running_ = (int)act.size();
    }
    pool_->Run((int)act.size() + 1, [&](int i) {
      if (i == 0) {
        ServeDecodes();
        return;
      }
      st[i - 1] = fn(act[i - 1]);
      std::lock_guard<std::mutex> lock(exec_mu_);
      --exec_running_;
      exec_cv_.notify_all();
    });
  }
  for (const Status& x : st) CF_RETURN_IF_ERROR(x);
  return Status::Ok();
}

void Session::ServeDecodes() {
  std::unique_lock<std::mutex> lock(exec_mu_);
  while (true) {
    exec_cv_.wait(lock, [&] { return exec_job_ != nullptr || exec_running_ == 0; });
    if (exec_job_ == nullptr) return;
    DecodeJob* job = exec_job_;
    exec_job_ = nullptr;
    lock.unlock();
    job->status = job->lm->Decode(*job->batch);
    lock.lock();
    job->done = true;
    exec_cv_.notify_all();
  }
}

Status Session::GatedDecode(Model& m, const std::vector<LlamaModel::BatchItem>& batch) {
  std::unique_lock<std::mutex> lock(exec_mu_);
  if (exec_running_ == 0) {  // no ForEachActiveThreaded serving (e.g. a single model left)
    lock.unlock();
    return m.lm->Decode(batch);
  }
  DecodeJob job{m.lm, &batch};
  exec_cv_.wait(lock, [&] { return exec_job_ == nullptr; });
  exec_job_ = &job;
  exec_cv_.notify_all();
  exec_cv_.wait(lock, [&] { return job.done; });
  return job.status;
}

void Session::TakeStepStats(std::vector<int>* calls, std::vector<int>* tokens) {
  calls->assign(m_.size(), 0);
  tokens->assign(m_.size(), 0);
  for (size_t v = 0; v < m_.size(); ++v) {
    const DecodeStats& s = m_[v].lm->stats();
    (*calls)[v] = (int)(s.calls - m_[v].calls_mark);
    (*tokens)[v] = (int)(s.tokens - m_[v].tokens_mark);
    m_[v].calls_mark = s.calls;
    m_[v].tokens_mark = s.tokens;
  }
}

void Session::TakeScoringCalls(std::vector<int>* calls) {
  calls->assign(m_.size(), 0);
  for (size_t v = 0; v < m_.size(); ++v) {
    (*calls)[v] = m_[v].scoring_calls;
    m_[v].scoring_calls = 0;
  }
}

double Session::DecodeMs() const {
  double ms = 0;
  for (const Model& m : m_) ms += m.lm->stats().ms;
  return ms;
}

}  // namespace coolfusion
