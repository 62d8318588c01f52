// CandidateScorer: one model's scoring of a step's candidates, and its pre-scoring of the
// other models' drafts while they are being written.
//
// Scoring: the model's perplexity of each candidate after the shared text. For the
// candidate it wrote itself it reuses the logits it sampled from (no decode); the others
// are re-encoded (ModelView::Reencode) and decoded in one batch, each in its own scoring
// sequence (kv_layout.h): the writer's sequence, or the extra one for a candidate no
// single model wrote.
//
// Pre-scoring: while model u drafts, this model decodes u's text so far into u's writer
// sequence (in the batches of its own draft, or on its own once its draft is done), so
// that scoring has little left to decode. Scoring keeps what still matches its own
// tokenization of each candidate and decodes the rest: the same tokens are scored, only
// batched differently (which moves llama.cpp's results in the last bits). News that the
// model's own text starts with is left out (so are, while it drafts, drafts that its text
// starts with): it scores what it wrote itself from its own logits.
//
// With word ends on, a candidate that ends in an ASCII letter or digit adds one more
// event: -log P(the word ends there) = -log(1 - P(a token that goes on with the word)).
//
// One scorer per model; touched only by that model's thread.
#pragma once

#include <coolfusion/status.h>

#include <string>
#include <vector>

#include "backend/llama_model.h"
#include "fusion/draft.h"
#include "fusion/model_view.h"

namespace coolfusion {

class CandidateScorer {
 public:
  // A candidate as this model decoded it into a scoring sequence (kept for Commit).
  struct Scored {
    bool ok = false;
    int seq = 0;
    int start = 0;            // first position decoded in `seq`
    Reencoding enc;           // the model's tokens of text + candidate (+ eos)
    std::vector<float> last;  // logits after the last token
    size_t kept = 0;          // tokens [start, kept) were pre-scored
    const std::vector<std::vector<float>>* pre_rows = nullptr;
  };
  // One pre-scoring job of a batch: writer `model`'s tokens in rows [first_row, +size).
  struct PreJob {
    int model = -1;
    size_t first_row = 0;
    std::vector<Token> tokens;
  };

  // A new step with n models: forgets what was pre-scored and scored.
  void Reset(int n_models);

  // Adds to `batch` the tokens of each news item this model did not write itself that are
  // not yet decoded into the writer's sequence (`own_done`: its own draft is finished).
  void PlanPreScores(ModelView& m, const std::vector<DraftNews>& news, const std::string& own_text,
                     bool own_done, std::vector<LlamaModel::BatchItem>* batch,
                     std::vector<PreJob>* jobs);
  // After the batch decoded: keeps the jobs' logits rows.
  void CollectPreScore(ModelView& m, const std::vector<PreJob>& jobs);
  // After the batch failed: drops the jobs' sequences.
  void DropPreScore(ModelView& m, const std::vector<PreJob>& jobs);

  // Fills ppl[c][v] for every candidate c (inf when the model cannot encode it). `own`:
  // this model's draft (may be null). `like` (may be null): likewise each candidate's
  // negative log-likelihood and the events it counts over.
  Status Score(ModelView& m, int v, const std::vector<StepCandidate>& cands, const Draft* own,
               bool word_ends, bool per_word, std::vector<std::vector<double>>* ppl,
               std::vector<std::vector<Likelihood>>* like = nullptr);
  // Nothing to choose: no candidate is scored.
  void Skip(size_t n_cands) { scored_.assign(n_cands, Scored()); }

  // Candidate c as scored (null when it was not decoded here).
  const Scored* scored(int c) const {
    return c < (int)scored_.size() && scored_[c].ok ? &scored_[c] : nullptr;
  }
  // Batched scoring decodes since the last call.
  int TakeScoringCalls();

 private:
  // Model v's decoded tokens of a writer's draft.
  struct Pre {
    int seq = 0;                           // 0: none
    int start = 0;                         // first position decoded in `seq`
    std::vector<Token> tokens;             // the whole token list; [start, size) decoded
    std::vector<std::vector<float>> rows;  // rows[i - start]: logits after tokens[i]
  };
  void PlanPreScore(ModelView& m, const DraftNews& news, std::vector<LlamaModel::BatchItem>* batch,
                    std::vector<PreJob>* jobs);

  int n_models_ = 0;
  std::vector<Scored> scored_;  // per candidate of the current step
  std::vector<Pre> pre_;        // per writer of the current step
  int scoring_calls_ = 0;
};

// With word ends on (see above) and a candidate ending in an ASCII letter or digit: adds
// -log P(the word ends) under the model whose logits after the candidate's last token are
// `after_last` as one more event.
// The perplexity of a candidate of `nll` nats over `n` scored events: per event (token),
// or per word of the candidate's text (per_word; at least one).
double CandidatePpl(const StepCandidate& cand, double nll, size_t n, bool per_word);

void AddWordEnd(const LlamaModel& lm, const StepCandidate& cand, const float* after_last,
                double* nll, size_t* n);

}  // namespace coolfusion
