// Session: the state of one generation over an ensemble. Each model keeps its view of
// the shared text (its own prompt + the committed text), the tokens of that view in
// KV sequence 0 of its context, and the logits after the last token. Fusion methods
// (cool.cc, rerank.cc, ...) are written against this class only.
//
// KV discipline: sequence 0 holds the committed tokens, then (during a step) the model's
// own draft; sequences 1..k hold scoring copies that share sequence 0's prefix cells
// (unified KV cache) and are dropped at commit.
#pragma once

#include <coolfusion/engine.h>

#include <condition_variable>
#include <functional>
#include <limits>
#include <mutex>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "align/token_alignment.h"
#include "backend/llama_model.h"
#include "fusion/worker_pool.h"

namespace coolfusion {

// A model's own continuation of the shared text, sampled token by token.
struct Draft {
  int model = -1;
  std::vector<Token> tokens;               // sampled tokens; the last may be a look-ahead
  std::vector<size_t> ends;                // end of each token's piece in `text`
  std::string text;                        // pieces of all sampled tokens
  std::vector<std::vector<float>> after;   // after[k]: logits after decoding tokens[k]
  int n_decoded = 0;                       // tokens[0..n_decoded) are in the KV cache
  bool eog = false;                        // the model emitted end-of-generation after `text`
  Token eog_token = -1;
  bool context_full = false;               // stopped because the context is full
  // The candidate the draft proposes: tokens[0..cut_tokens), ending the generation when
  // cut_eog.
  size_t cut_tokens = 0;
  bool cut_eog = false;
  bool aligned = true;    // the cut is a common word boundary
  bool start_ok = true;   // the shared text's end stays a common boundary before it

  std::string Candidate() const { return text.substr(0, cut_tokens ? ends[cut_tokens - 1] : 0); }
};

// Another model's draft text so far (or its candidate, once it is done).
struct DraftNews {
  int model = -1;
  std::string text;
};
// Fills the news for the caller's next batch (may wait for the other models' progress).
using NewsSource = std::function<void(std::vector<DraftNews>*)>;

// A distinct candidate of one step.
struct StepCandidate {
  std::string text;
  bool eog = false;
  std::vector<int> writers;
  bool start_ok = true;
};

class Session {
 public:
  Session(std::vector<LlamaModel*> models, std::vector<double> weights, const GenerateOptions& opts);

  // Renders each model's prompt, checks it, tokenizes it and decodes it. A model that
  // cannot encode its prompt is left out with a warning; none left is an error. With
  // prompt weights on (UsesPromptWeights), the decode also measures each model's bits
  // per byte of the prompt's content (prompt_bits_per_byte), in chunks of at most
  // kPromptLogitFloats logits.
  Status Start(const Request& request, std::vector<std::string>* warnings);
  // Model v's bits per byte of the prompt's content and the bytes counted (NaN and 0
  // when not measured).
  double prompt_bits_per_byte(int v) const { return m_[v].prompt_bpb; }
  size_t prompt_bytes(int v) const { return m_[v].prompt_bytes; }
  double prompt_fit_ms() const;  // time spent on the log-softmax rows, summed over models
  // Most logits one prompt decode asks for while measuring (bounds the output buffer).
  static constexpr size_t kPromptLogitFloats = size_t{8} << 20;
  // Back to the state right after Start (for methods that run several passes).
  Status ResetToPrompt();

  size_t n_models() const { return m_.size(); }
  bool active(int v) const { return m_[v].active; }
  int first_active() const;
  const std::string& generated() const { return generated_; }
  // Model v's view: its prompt followed by the generated text.
  const std::string& text(int v) const { return m_[v].text; }
  size_t min_anchor(int v) const { return m_[v].min_anchor; }
  // Model v's committed tokens (= its KV sequence 0 between steps).
  const std::vector<Token>& tokens(int v) const { return m_[v].tokens; }
  const Tokenizer& tokenizer(int v) const { return *m_[v].lm; }
  // New tokens so far, counted with the first active model's tokenizer.
  int NewTokens() const;
  int NumPromptTokens() const;
  bool ContextFull(int v, int more) const;
  // Takes model v out of the ensemble for the rest of this generation.
  void Retire(int v) { m_[v].active = false; }
  int n_active() const;

  // Samples model u's continuation until `stop(draft)` returns true, max_tokens are
  // sampled, it emits end-of-generation or its context fills. When u's previous draft
  // won, the part of it past the cut (already decoded) starts this draft: nothing is
  // decoded twice. REQUIRES: no draft of u is pending (call Commit or DropDrafts first).
  // `news`, when set, is asked before each decode for other models' drafts to pre-score
  // in the same batch (see PreScore).
  Status MakeDraft(int u, int max_tokens, const std::function<Status(Draft&, bool*)>& stop, Draft* d,
                   const NewsSource* news = nullptr);

  // Every active model scores every candidate: ppl[c][v]. A model reuses its own draft's
  // logits for the candidate it wrote (no decode); the others' candidates are scored in
  // one batched decode per model. `drafts[v]` may be null. With a single candidate
  // written by every active model there is nothing to choose: nothing is computed and
  // every ppl is NaN.
  Status Score(const std::vector<StepCandidate>& cands, const std::vector<const Draft*>& drafts,
               std::vector<std::vector<double>>* ppl);

  // Pre-scoring: model v decodes other models' drafts, as far as they are written, into
  // the scoring sequences it will use for their candidates, so that Score has little
  // left to decode. While v drafts, those tokens join the batches of its own draft
  // (MakeDraft's `news`); once its draft is done, PreScore decodes them on their own.
  // Score keeps what still matches its own tokenization of each candidate and decodes
  // the rest: the same tokens are scored, only batched differently (which moves
  // llama.cpp's results in the last bits). Touches only model v.
  // News that v's own draft text `own_text` starts with is left out (so are, while v
  // drafts, drafts that v's text starts with): v scores what it wrote itself from its
  // own logits.
  Status PreScore(int v, const std::vector<DraftNews>& news, const std::string& own_text);

  // Appends cands[c] to every model's state (keeping each model's own tokens where its
  // draft wrote that text, adopting scored sequences, re-tokenizing otherwise) and drops
  // all drafts and scoring sequences.
  Status Commit(const std::vector<StepCandidate>& cands, int c, const std::vector<const Draft*>& drafts);
  // Drops drafts and scoring sequences without committing anything.
  void DropDrafts();
  // Cuts the generated text to new_len bytes when generation ends at a stop string.
  Status Truncate(size_t new_len);

  // Events counted on the calling thread (ChooseCandidate, the methods).
  Counters& counters() { return counters_; }
  // Those plus every model's own events.
  Counters TotalCounters() const;
  // Runs fn(v) for every active model: in parallel threads (one per model) when the
  // options allow, else in order. Returns the first error. fn may touch only model v's
  // state (drafts, KV, its counters).
  Status ForEachActive(const std::function<Status(int)>& fn);
  // Like ForEachActive, but always on threads of their own (for phases where the models
  // wait for each other's progress); without --parallel-models their decodes (MakeDraft,
  // PreScore) are handed to the calling thread and run one at a time.
  Status ForEachActiveThreaded(const std::function<Status(int)>& fn);
  // Per model: batched scoring decodes since the last call.
  void TakeScoringCalls(std::vector<int>* calls);
  // Per model: decode calls and tokens since the last call.
  void TakeStepStats(std::vector<int>* calls, std::vector<int>* tokens);
  double DecodeMs() const;

 private:
  struct Scored {
    bool ok = false;
    int seq = 0;
    int start = 0;            // first position decoded in `seq`
    int divergence = 0;       // first token that differs from the committed tokens
    size_t anchor_tokens = 0; // tokens kept before the anchor
    Anchor anchor;
    std::vector<Token> tokens;  // the model's whole token list for text + candidate
    std::vector<float> last;    // logits after the last token
    size_t kept = 0;            // tokens [start, kept) were pre-scored (PreScore)
    const std::vector<std::vector<float>>* pre_rows = nullptr;
  };
  // Model v's decoded tokens of another model's draft (see PreScore).
  struct Pre {
    int seq = 0;                 // 0: none
    int start = 0;               // first position decoded in `seq`
    std::vector<Token> tokens;   // the whole token list; [start, size) decoded
    std::vector<std::vector<float>> rows;  // rows[i - start]: logits after tokens[i]
  };
  struct Model {
    LlamaModel* lm = nullptr;
    bool active = true;
    std::string text;
    size_t prompt_len = 0;
    size_t min_anchor = 0;      // no anchor before the last special token of the prompt
    size_t n_fixed = 0;         // tokens before min_anchor
    std::vector<Token> tokens;  // committed tokens = KV sequence 0 (when no draft)
    std::vector<size_t> ends;   // end offset in text of each token
    bool ends_ok = true;
    std::vector<float> last_logits;
    size_t n_prompt_tokens = 0;
    std::vector<float> prompt_logits;
    double prompt_bpb = std::numeric_limits<double>::quiet_NaN();
    size_t prompt_bytes = 0;
    double prompt_fit_ms = 0;
    std::mt19937 rng;
    std::vector<Scored> scored;  // per candidate of the current step
    std::vector<Pre> pre;        // per writer of the current step
    Draft carry;                 // the winning draft's tokens past its cut (KV kept)
    Counters counters;           // this model's events (updated only by its own thread)
    bool failed = false;         // set by a parallel phase; applied after it
    int64_t calls_mark = 0, tokens_mark = 0;
    int scoring_calls = 0;
  };

  // One pre-scoring job of a batch: model `model`'s tokens in rows [first_row, +size).
  struct PreJob {
    int model = -1;
    size_t first_row = 0;
    std::vector<Token> tokens;
  };
  void PlanPreScore(Model& m, const DraftNews& news, std::vector<LlamaModel::BatchItem>* batch,
                    std::vector<PreJob>* jobs);
  // PlanPreScore for each news item the model did not write itself (see PreScore).
  void PlanPreScores(Model& m, const std::vector<DraftNews>& news, const std::string& own_text, bool own_done,
                     std::vector<LlamaModel::BatchItem>* batch, std::vector<PreJob>* jobs);
  void CollectPreScore(Model& m, const std::vector<PreJob>& jobs);
  void DropPreScore(Model& m, const std::vector<PreJob>& jobs);
  // Decodes `batch` (the model's own tokens) with the news' tokens added.
  Status DecodeWithNews(Model& m, std::vector<LlamaModel::BatchItem> batch, const NewsSource* news,
                        const std::string& own_text);
  // Decodes; one after the other, on ForEachActiveThreaded's calling thread.
  Status GatedDecode(Model& m, const std::vector<LlamaModel::BatchItem>& batch);
  std::vector<int> ActiveModels() const;
  Token Sample(Model& m, const float* logits);
  Status DecodeTail(Model& m, size_t from);  // decodes tokens[from..] into seq 0
  // Decodes the prompt into seq 0 and measures the log-likelihood of the tokens that
  // counted[i] > 0 bytes say count (CountedTokenBytes), in chunks.
  Status DecodeMeasuredPrompt(Model& m, const std::vector<size_t>& counted);
  // The nearest anchor below `limit` that starts a token of m's committed tokens.
  Anchor TokenAnchor(const Model& m, size_t limit, size_t* k) const;
  Status Retokenize(Model& m, const std::string& new_text);
  Status ScoreModel(int v, const std::vector<StepCandidate>& cands, const Draft* own,
                    std::vector<std::vector<double>>* ppl);
  Status CommitModel(int v, const StepCandidate& win, int c, const Draft* own);
  // With word ends on and a candidate ending in an ASCII letter or digit: adds
  // -log P(the word ends) under m (1 - its probability of a token that goes on with the
  // word, from the logits after the candidate's last token) as one more event.
  void WordEnd(const Model& m, const StepCandidate& cand, const float* after_last, double* nll, size_t* n) const;
  void SetEnds(Model& m, size_t k, const std::vector<Token>& suffix, Anchor a);
  static Draft CarryPast(const Draft& d, size_t cut);

  std::vector<Model> m_;
  std::vector<double> weights_;
  GenerateOptions opts_;
  bool word_ends_ = false;
  std::string generated_;
  Counters counters_;
  std::unique_ptr<WorkerPool> pool_;  // null with a single model
  // One after the other, ForEachActiveThreaded's calling thread runs the models' decodes
  // (GatedDecode hands them over, one at a time).
  struct DecodeJob {
    LlamaModel* lm;
    const std::vector<LlamaModel::BatchItem>* batch;
    Status status;
    bool done = false;
  };
  void ServeDecodes();
  std::mutex exec_mu_;
  std::condition_variable exec_cv_;
  DecodeJob* exec_job_ = nullptr;  // GUARDED_BY(exec_mu_)
  int exec_running_ = 0;           // GUARDED_BY(exec_mu_): model tasks not yet returned
};

// Exact -log softmax(logits)[t] over n entries.
double NegLogProb(const float* logits, int n, Token t);

}  // namespace coolfusion
