// The lock-step of one fusion step's drafts: what each model sees of the others' drafts
// while it writes its own (DraftBoard), and, when the models run one after the other,
// the hand-off of every model's decodes to one thread (DecodeGate).
//
// Which tokens share a batch changes llama.cpp's results in the last bits, so the batches
// must not depend on timing: a model's k-th batch holds every other model's draft as of
// that model's k-th token (waiting for it: the models move in step), or its candidate
// once it is done. The models draft on threads of their own in both modes; one after the
// other (no --parallel-models) only one of them decodes at a time, on the thread that
// started the step. So the text is the same on every run, in both modes, with the models
// local or on RPC workers.
#pragma once

#include <coolfusion/status.h>

#include <functional>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "fusion/draft.h"
#include "fusion/worker_pool.h"

namespace coolfusion {

// What each model has drafted so far. Every model pre-scores the others' drafts as they
// grow, inside the batches of its own draft; side by side, a model done with its draft
// goes on pre-scoring until every draft is done, instead of waiting idle for the longest.
// Thread-safe: each model's thread calls with its own v.
class DraftBoard {
 public:
  // active[v]: model v drafts in this step (the others count as done, with no candidate).
  explicit DraftBoard(const std::vector<bool>& active);
  // Model v sampled a token and goes on drafting.
  void Progress(int v, const Draft& d) EXCLUDES(mu_);
  // Model v's candidate (or "" when its draft failed or has none).
  void Finish(int v, const std::string& candidate) EXCLUDES(mu_);
  // The news for model v's next batch: the others' drafts as of their token
  // `stage + ahead` (waiting for them), or their candidates once done (each taken once).
  void Next(int v, std::vector<DraftNews>* news, size_t ahead = 1) EXCLUDES(mu_);
  // Model v, done drafting: hands the others' drafts to `prescore` until all are done and
  // their candidates taken, in batches of 1, 2, 4, ... more of their tokens each (one
  // batch per token would keep closest to a long draft, but costs a decode per token
  // where decodes run one at a time).
  Status PreScoreOthers(int v, const std::function<Status(const std::vector<DraftNews>&)>& prescore)
      EXCLUDES(mu_);

 private:
  void Take(int v, size_t u, std::vector<DraftNews>* news) REQUIRES(mu_);
  bool Behind(int v, size_t k) const REQUIRES(mu_);
  const size_t n_;
  Mutex mu_;
  CondVar cv_;
  std::vector<std::string> text_ GUARDED_BY(mu_);          // each model's draft text so far
  std::vector<std::vector<size_t>> lens_ GUARDED_BY(mu_);  // its length after each token
  std::vector<char> done_ GUARDED_BY(mu_);
  std::vector<std::string> final_ GUARDED_BY(mu_);        // each model's candidate, once done
  std::vector<size_t> stage_ GUARDED_BY(mu_);             // the others' token each took last
  std::vector<std::vector<char>> taken_ GUARDED_BY(mu_);  // taken_[v][u]: v took u's candidate
};

// One after the other, the models' threads hand their decodes to the thread that runs
// Serve, which runs them one at a time: one after the other in time, and on one thread
// (ggml's CPU thread team is per calling thread; switching teams at every decode costs
// more than a tiny decode).
class DecodeGate {
 public:
  // Runs task(i) for every i in [0, n) on the pool's workers while this thread runs the
  // decodes they hand over; returns when every task has returned.
  // REQUIRES: the pool has at least n workers; one Serve at a time.
  void Serve(WorkerPool& pool, int n, const std::function<void(int)>& task) EXCLUDES(mu_);
  // Runs `decode` on the serving thread and returns its status; runs it right here when
  // no Serve is running (e.g. a single model left).
  Status Decode(const std::function<Status()>& decode) EXCLUDES(mu_);

 private:
  struct Job {
    const std::function<Status()>* decode;
    Status status;
    bool done = false;
  };
  void Loop() EXCLUDES(mu_);
  Mutex mu_;
  CondVar cv_;
  Job* job_ GUARDED_BY(mu_) = nullptr;
  int running_ GUARDED_BY(mu_) = 0;  // tasks not yet returned
};

}  // namespace coolfusion
