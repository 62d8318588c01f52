// Session: the state of one generation over an ensemble, and the operations fusion
// methods (methods/) are written against. It composes the parts:
//   ModelView (model_view.h)        each model's text, tokens, token ends and logits;
//   TokenSampler (backend)          each model's next-token choice (llama.cpp's chain);
//   Constraint (constraint.h)       each model's place in the request's grammar, if any;
//   CandidateScorer (scorer.h)      each model's scoring and pre-scoring of candidates;
//   DecodeGate (lockstep.h)         one-after-the-other decodes on one thread;
//   kv_layout.h                     which KV sequence holds what.
// The session itself starts the prompt, drafts, commits the winner and runs per-model
// phases on the models' threads.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/result.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "backend/llama_model.h"
#include "backend/token_sampler.h"
#include "fusion/constraint.h"
#include "fusion/draft.h"
#include "fusion/lockstep.h"
#include "fusion/model_view.h"
#include "fusion/scorer.h"
#include "fusion/worker_pool.h"

namespace coolfusion {

struct RenderedPrompt;  // prompt.h

// Fills the news for the caller's next batch (may wait for the other models' progress).
using NewsSource = std::function<void(std::vector<DraftNews>*)>;

class Session {
 public:
  Session(std::vector<LlamaModel*> models, std::vector<double> weights,
          const GenerateOptions& opts);

  // Renders each model's prompt, checks it, tokenizes it and decodes it. A model that
  // cannot encode its prompt is left out with a warning; none left is an error. With
  // prompt weights on (UsesPromptWeights), the decode also measures each model's bits
  // per byte of the prompt's content (prompt_bits_per_byte), in chunks of at most
  // kPromptLogitFloats logits. REQUIRES: the request passed CheckRequestText.
  //
  // Prompt cache: cached[v] (when given) is what model v's KV sequence 0 holds from the
  // previous request. The longest common prefix with the new prompt's tokens is kept
  // and only the rest decoded, except the last token (its logits start the generation)
  // and, when measuring, from the first token whose likelihood counts and the cache does
  // not know (KvCache::nll).
  //
  // given[v] (when given and not null): model v's rendering of the prompt, made before
  // (Ensemble::Validate's PreparedPrompt), used instead of rendering it again.
  //
  // heal: token healing at the prompt's end (docs/token-healing.md). Each model whose
  // last prompt token is plain text after the prompt's last special token, spells that
  // text exactly, and is the start of a longer token of its vocabulary gives that token
  // up: its tokens stop before the token's text (the tail), which stays in its text and
  // in the shared text, and the prompt is decoded without it (the logits after the token
  // before it start the generation; the token's likelihood still counts in the prompt's
  // bits per byte). Its first drafted token (MakeDraft) must then start with the tail;
  // the draft's text and token ends leave the tail out. A first token that is the tail
  // itself joins the prompt's tokens, and the draft goes on from there. Only for a raw
  // prompt without a grammar, with a method that drafts through MakeDraft
  // (MethodSpec::token_healing) and never forces a first token.
  Status Start(const Request& request, const std::vector<KvCache>& cached,
               std::vector<std::string>* warnings,
               const std::vector<const RenderedPrompt*>& given = {}, bool heal = false);
  // Tokens of model v's prompt reused from the cache.
  size_t cached_tokens(int v) const { return m_[v].view.n_cached; }
  // After the generation: leaves each model's KV sequence 0 holding exactly its committed
  // tokens (drafts and scoring sequences dropped) and writes them to kv[v], for the next
  // request's Start, with the prompt tokens' likelihoods known (those still committed as
  // they were measured); a model whose memory this session never touched keeps its entry.
  void KeepForCache(std::vector<KvCache>* kv);
  // Model v's bits per byte of the prompt's content and the bytes counted (NaN and 0
  // when not measured).
  double prompt_bits_per_byte(int v) const { return m_[v].view.prompt_bpb; }
  size_t prompt_bytes(int v) const { return m_[v].view.prompt_bytes; }
  double prompt_fit_ms() const;  // time spent on the log-softmax rows, summed over models
  // Most logits one prompt decode asks for while measuring (bounds the output buffer).
  static constexpr size_t kPromptLogitFloats = size_t{8} << 20;
  // Back to the state right after Start (for methods that run several passes).
  void ResetToPrompt();
  // The prompt bytes model v's first drafted token must start with (empty: none).
  const std::string& heal_tail(int v) const { return m_[v].heal_tail; }

  size_t n_models() const { return m_.size(); }
  // How messages name model v: "model 2 (aidreams260K)" (LlamaModel::label).
  const std::string& label(int v) const { return m_[v].view.lm->label(); }
  bool active(int v) const { return m_[v].view.active; }
  std::vector<bool> ActiveMask() const;
  int first_active() const;
  const std::string& generated() const { return generated_; }
  // Model v's view: its prompt followed by the generated text.
  const std::string& text(int v) const { return m_[v].view.text; }
  size_t min_anchor(int v) const { return m_[v].view.min_anchor; }
  // Model v's committed tokens (= its KV sequence 0 between steps).
  const std::vector<Token>& tokens(int v) const { return m_[v].view.tokens; }
  const Tokenizer& tokenizer(int v) const { return *m_[v].view.lm; }
  const LlamaModel& model(int v) const { return *m_[v].view.lm; }
  // Model v's logits for the token after its committed text.
  const std::vector<float>& last_logits(int v) const { return m_[v].view.last_logits; }
  // New tokens so far, counted with the first active model's tokenizer.
  int NewTokens() const;
  // The length in bytes of the generated text's first `budget` new tokens (same count),
  // std::string::npos while there are no more than that (or their ends are not known).
  size_t BudgetEnd(int budget) const;
  int NumPromptTokens() const;
  bool ContextFull(int v, int more) const;
  // Takes model v out of the ensemble for the rest of this generation.
  void Retire(int v) { m_[v].view.active = false; }
  int n_active() const;

  // Samples model u's continuation until `done(draft)` returns true, max_tokens are
  // sampled, it emits end-of-generation, its context fills, or the request's grammar
  // needs what u has no token for (grammar_stuck). When u's previous draft
  // won, the part of it past the cut (already decoded) starts this draft: nothing is
  // decoded twice. REQUIRES: no draft of u is pending (call Commit or DropDrafts first).
  // `news`, when set, is asked before each decode for other models' drafts to pre-score
  // in the same batch (see PreScore). `first` >= 0 forces the draft's first token (a
  // branch that starts with another token than the model would pick): u's draft in
  // progress, its KV cells and what its last draft carried over are dropped first;
  // without a grammar only.
  Status MakeDraft(int u, int max_tokens, const std::function<bool(Draft&)>& done, Draft* d,
                   const NewsSource* news = nullptr, Token first = -1);

  // Model v's view, for readings of text it did not write (ModelView::Verify,
  // FirstToken): they leave its committed state as it is. Touch only from v's thread.
  ModelView& view(int v) { return m_[v].view; }
  // The KV sequence such a reading may decode into (dropped at the next Commit or
  // DropDrafts).
  int reading_seq() const;

  // The error for a request whose grammar no active model can follow: model v's draft
  // stopped with grammar_stuck (MakeDraft stops a draft there and leaves the choice to
  // the method: that model leaves the ensemble, unless none is left).
  Status GrammarStuck(int v) const;

  // Every active model scores every candidate: ppl[c][v] (CandidateScorer::Score).
  // `drafts[v]` may be null. With a single candidate written by every active model there
  // is nothing to choose: nothing is computed and every ppl is NaN.
  // The scoring sequences stay for Commit to adopt; with kDrop they are dropped with what
  // the scorers recorded, the drafts kept (a method that scores in several rounds).
  enum class Sequences { kKeep, kDrop };
  // `like` (may be null): each candidate's likelihood under each model (inf: not scored).
  Status Score(const std::vector<StepCandidate>& cands, const std::vector<const Draft*>& drafts,
               std::vector<std::vector<double>>* ppl, Sequences after = Sequences::kKeep,
               std::vector<std::vector<Likelihood>>* like = nullptr);

  // Pre-scoring once model v's draft is done: v decodes the others' drafts, as far as
  // they are written, into their writer sequences (see scorer.h). Touches only model v.
  // A full context is not an error here (Score reports it if it matters).
  Status PreScore(int v, const std::vector<DraftNews>& news, const std::string& own_text);

  // Appends cands[c] to every model's state (keeping each model's own tokens where its
  // draft wrote that text, adopting scored sequences, re-tokenizing otherwise) and drops
  // all drafts and scoring sequences. A model that cannot encode the committed text
  // leaves the ensemble; none left is an error.
  // last: the step that spends the token budget (the generation ends after it unless
  // DecodeCommitted is called): a model's own sampled tokens that are not decoded yet
  // stay out of its KV cache (llama-server does not decode its last token either).
  Status Commit(const std::vector<StepCandidate>& cands, int c,
                const std::vector<const Draft*>& drafts, bool last = false);
  // Decodes what a `last` Commit left undecoded, for a generation that goes on.
  Status DecodeCommitted();
  // Whether `text` (then, with eog, the end) may follow the committed text under the
  // request's grammar; always true without one. A candidate that may not cannot win.
  bool GrammarAllows(const std::string& text, bool eog) const;
  // Sets to -inf model v's logits of the tokens the request's grammar does not allow
  // after the committed text (nothing without a grammar).
  void GrammarMask(int v, float* logits) const { m_[v].constraint.Mask(logits); }
  bool has_grammar() const { return !opts_.grammar.empty(); }
  // What the request's grammars may take (grammar.h); null before Start. Once it has
  // failed, the grammars allow nothing and the generation ends with its error.
  const GrammarBudget* grammar_budget() const { return grammar_budget_.get(); }
  // Drops drafts and scoring sequences without committing anything.
  void DropDrafts();
  // The generated text, for the Emitter, which cuts it at a stop string when generation
  // ends there (the models' states are not reused after it).
  std::string& mutable_generated() { return generated_; }

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
  // PreScore) go through the DecodeGate and run one at a time on the calling thread.
  Status ForEachActiveThreaded(const std::function<Status(int)>& fn);
  // Per model: batched scoring decodes since the last call.
  void TakeScoringCalls(std::vector<int>* calls);
  // Per model: decode calls and tokens since the last call.
  void TakeStepStats(std::vector<int>* calls, std::vector<int>* tokens);
  double DecodeMs() const;

 private:
  struct Model {
    Model(LlamaModel* lm, const SamplingOptions& so, uint32_t seed)
        : sampler(lm->n_vocab(), so, seed) {
      view.lm = lm;
    }
    ModelView view;
    TokenSampler sampler;
    Constraint constraint;  // its place in the request's grammar, if any
    CandidateScorer scorer;
    Draft carry;  // the winning draft's tokens past its cut (KV kept)
    // Token healing (Start's heal): the prompt's healed tail, the tokens that may start the
    // first draft (their pieces start with the tail), whether the first draft is still to
    // start with it (until a commit), the prompt's tokens once healed, and how many of the
    // rendered prompt's tokens the committed prompt leaves out (for NumPromptTokens).
    std::string heal_tail;
    std::vector<Token> heal_allowed;
    std::vector<float> heal_logits;  // the first token's logits, masked to heal_allowed
    bool heal_pending = false;
    size_t heal_prompt_tokens = 0;
    size_t healed_tokens = 0;
    bool failed = false;  // set by a parallel phase; applied after it
    int64_t calls_mark = 0, tokens_mark = 0;
  };

  // Decodes `batch` (the model's own tokens) with the news' tokens added.
  Status DecodeWithNews(Model& m, std::vector<LlamaModel::BatchItem> batch, const NewsSource* news,
                        const std::string& own_text);
  // Decodes through the gate (one at a time on ForEachActiveThreaded's thread).
  Status GatedDecode(Model& m, const std::vector<LlamaModel::BatchItem>& batch);
  std::vector<int> ActiveModels() const;
  // Re-encodes the committed text + `more` and decodes what changed into sequence 0.
  Status Retokenize(Model& m, const std::string& more);
  Status CommitModel(int v, const StepCandidate& win, int c, const Draft* own, bool last);
  // Start's token healing for model m, before its prompt is decoded: gives up the last
  // prompt token where healing applies (see Start) and returns it (-1: not healed).
  Token HealModel(Model& m);
  // The first token of a healed draft is the tail itself: it becomes a prompt token
  // (decoded into sequence 0), and healing is over for that model.
  Status AbsorbTail(Model& m, Token t);
  // Moves every model's grammar past the committed text; a model that cannot follow it
  // (a character it has no single token for) leaves the ensemble.
  void FollowGrammar(const StepCandidate& win, const std::vector<const Draft*>& drafts);

  std::vector<Model> m_;
  std::vector<double> weights_;
  GenerateOptions opts_;
  std::shared_ptr<GrammarBudget> grammar_budget_;
  bool word_ends_ = false;
  bool per_word_ = false;
  std::string generated_;
  Counters counters_;
  std::unique_ptr<WorkerPool> pool_;  // null with a single model
  DecodeGate gate_;
};

}  // namespace coolfusion
