#include "fusion/scorer.h"

#include <algorithm>
#include <cmath>

#include "fusion/kv_layout.h"
#include "fusion/logits.h"

namespace coolfusion {

void CandidateScorer::Reset(int n_models) {
  n_models_ = n_models;
  scored_.clear();
  pre_.assign(n_models, Pre());
}

int CandidateScorer::TakeScoringCalls() {
  const int n = scoring_calls_;
  scoring_calls_ = 0;
  return n;
}

void CandidateScorer::PlanPreScore(ModelView& m, const DraftNews& news,
                                   std::vector<LlamaModel::BatchItem>* batch,
                                   std::vector<PreJob>* jobs) {
  LlamaModel& lm = *m.lm;
  Pre& p = pre_[news.model];
  Reencoding enc;
  if (news.text.empty() || !m.Reencode(m.ReencodeStart(), news.text, -1, &enc).ok()) return;
  const std::vector<Token>& toks = enc.tokens;
  if (enc.divergence == toks.size()) return;
  const int start = enc.ScoringStart(m.tokens.size());
  const int seq = kv::WriterSeq(news.model);
  if (p.seq == 0 || p.start != start) {
    lm.SeqRemove(seq, -1, -1);
    lm.SeqCopy(kv::kCommitted, seq, 0, start);
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

void CandidateScorer::PlanPreScores(ModelView& m, const std::vector<DraftNews>& news,
                                    const std::string& own_text, bool own_done,
                                    std::vector<LlamaModel::BatchItem>* batch,
                                    std::vector<PreJob>* jobs) {
  for (const DraftNews& n : news) {
    // What the model wrote itself it scores from its own logits: news that its text
    // starts with is left out, and while it still drafts, so is news that starts with
    // its text (it may yet write the same candidate).
    const size_t common = own_done ? n.text.size() : std::min(n.text.size(), own_text.size());
    if (n.text.compare(0, common, own_text, 0, common) != 0) PlanPreScore(m, n, batch, jobs);
  }
}

void CandidateScorer::CollectPreScore(ModelView& m, const std::vector<PreJob>& jobs) {
  const int n_vocab = m.lm->n_vocab();
  for (const PreJob& job : jobs) {
    Pre& p = pre_[job.model];
    for (size_t j = 0; j < job.tokens.size(); ++j) {
      const float* row = m.lm->Logits((int)(job.first_row + j));
      p.rows.emplace_back(row, row + n_vocab);
      p.tokens.push_back(job.tokens[j]);
    }
    m.counters.prescored_tokens += (int64_t)job.tokens.size();
  }
}

void CandidateScorer::DropPreScore(ModelView& m, const std::vector<PreJob>& jobs) {
  for (const PreJob& job : jobs) {
    m.lm->SeqRemove(kv::WriterSeq(job.model), -1, -1);
    pre_[job.model] = Pre();
  }
}

Status CandidateScorer::Score(ModelView& m, int v, const std::vector<StepCandidate>& cands,
                              const Draft* own, bool word_ends, bool per_word,
                              std::vector<std::vector<double>>* ppl,
                              std::vector<std::vector<Likelihood>>* like) {
  LlamaModel& lm = *m.lm;
  scored_.assign(cands.size(), Scored());
  const std::string own_text = own ? own->Candidate() : std::string();
  const ModelView::Start at = m.ReencodeStart();
  const int nv = lm.n_vocab();
  std::vector<LlamaModel::BatchItem> batch;
  std::vector<size_t> order;        // candidates decoded, in batch order
  std::vector<size_t> batch_begin;  // first batch row of each
  std::vector<size_t> no_decode;    // candidates pre-scored whole
  for (size_t c = 0; c < cands.size(); ++c) {
    if (own && own->cut_eog == cands[c].eog && own_text == cands[c].text) {
      // The model wrote this candidate: the logits it sampled from score it.
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
      if (word_ends && !cands[c].eog && cut > 0 && cut <= (size_t)own->n_decoded)
        AddWordEnd(lm, cands[c], row(cut), &sum, &n);
      (*ppl)[c][v] = CandidatePpl(cands[c], sum, n, per_word);
      if (like != nullptr) (*like)[c][v] = Likelihood{sum, n};
      continue;
    }
    Scored& sc = scored_[c];
    if (!m.Reencode(at, cands[c].text, cands[c].eog ? lm.eos() : -1, &sc.enc).ok()) {
      m.counters.unencodable++;
      continue;  // ppl stays inf
    }
    const std::vector<Token>& toks = sc.enc.tokens;
    if (sc.enc.divergence == toks.size()) {
      // The candidate adds no token (only possible for an empty text): nothing to score.
      (*ppl)[c][v] = 1.0;
      if (like != nullptr) (*like)[c][v] = Likelihood{0, 0};
      continue;
    }
    sc.start = sc.enc.ScoringStart(m.tokens.size());
    // The sequence of one of the candidate's writers (the extra one when none wrote it):
    // what was pre-scored there and still matches is kept.
    Pre* p = nullptr;
    sc.seq = kv::ExtraSeq(n_models_);
    for (int u : cands[c].writers) {
      Pre& q = pre_[u];
      if (p == nullptr ||
          (q.seq != 0 && q.start == sc.start && q.tokens.size() > p->tokens.size())) {
        p = &q;
        sc.seq = kv::WriterSeq(u);
      }
    }
    sc.ok = true;
    sc.kept = sc.start;
    if (p != nullptr && p->seq == sc.seq && p->start == sc.start) {
      sc.kept = std::min(CommonPrefix(p->tokens, toks), toks.size());
      sc.kept = std::max(sc.kept, (size_t)sc.start);
      lm.SeqRemove(sc.seq, (int)sc.kept, -1);
      sc.pre_rows = &p->rows;
    } else {
      lm.SeqRemove(sc.seq, -1, -1);
      lm.SeqCopy(kv::kCommitted, sc.seq, 0, sc.start);
    }
    if (sc.kept == toks.size()) {
      no_decode.push_back(c);
      continue;
    }
    batch_begin.push_back(batch.size());
    order.push_back(c);
    for (size_t i = sc.kept; i < toks.size(); ++i) batch.push_back({toks[i], (int)i, sc.seq, true});
  }
  if (!batch.empty()) {
    Status st = lm.Decode(batch);
    if (!st.ok())
      return st.code() == Status::Code::kResourceExhausted
                 ? Status::ResourceExhausted("context full while scoring candidates")
                 : st;
    m.counters.scoring_calls++;
    scoring_calls_++;
  }
  auto finish = [&](size_t c, size_t first_row) {
    Scored& sc = scored_[c];
    const std::vector<Token>& toks = sc.enc.tokens;
    // Logits after token i: the last committed token's, pre-scored, or from the batch.
    auto after = [&](size_t i) -> const float* {
      if ((int)i < sc.start) return m.last_logits.data();
      if (i < sc.kept) return (*sc.pre_rows)[i - sc.start].data();
      return lm.Logits((int)(first_row + (i - sc.kept)));
    };
    double sum = 0;
    size_t n = 0;
    for (size_t i = sc.enc.divergence; i < toks.size(); ++i) {
      if (i == 0) continue;  // no context to predict the very first token
      sum += NegLogProb(after(i - 1), nv, toks[i]);
      ++n;
    }
    const float* last = after(toks.size() - 1);
    if (word_ends && n > 0) AddWordEnd(lm, cands[c], last, &sum, &n);
    (*ppl)[c][v] = CandidatePpl(cands[c], sum, n, per_word);
    if (like != nullptr) (*like)[c][v] = Likelihood{sum, n};
    sc.last.assign(last, last + nv);
    m.counters.candidates_scored++;
  };
  for (size_t j = 0; j < order.size(); ++j) finish(order[j], batch_begin[j]);
  for (size_t c : no_decode) finish(c, 0);
  return Status::Ok();
}

double CandidatePpl(const StepCandidate& cand, double nll, size_t n, bool per_word) {
  if (n == 0) return 1.0;
  if (!per_word) return std::exp(nll / (double)n);
  size_t words = cand.eog ? 1 : 0;
  bool in_word = false;
  for (unsigned char ch : cand.text) {
    const bool space = ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r';
    if (!space && !in_word) ++words;
    in_word = !space;
  }
  return std::exp(nll / (double)std::max<size_t>(words, 1));
}

void AddWordEnd(const LlamaModel& lm, const StepCandidate& cand, const float* after_last,
                double* nll, size_t* n) {
  if (cand.eog || cand.text.empty() || !IsAsciiAlnum((unsigned char)cand.text.back())) return;
  const double goes_on =
      MaskedProbability(after_last, lm.word_continuations().data(), lm.n_vocab());
  *nll += -std::log(std::max(1.0 - goes_on, 1e-30));
  ++*n;
}

}  // namespace coolfusion
