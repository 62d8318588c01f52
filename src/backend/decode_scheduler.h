// DecodeScheduler: the decodes of a set of lanes (the server's slots, eval's concurrent
// rows) over a set of models, each model one llama.cpp context shared by every lane (a
// range of KV sequences per lane), issued as one batched llama_decode per model per tick,
// as llama-server's slot loop does: the weights are read once for all the lanes' tokens.
//
// A lane's thread hands in its batch for one model and waits. The scheduler's own thread
// runs the ticks, one at a time, every local model's llama_decode on that one thread (one
// OpenMP team, every core for each decode, as llama-server's loop); a model on RPC
// workers has a thread of its own, so that a stalled worker holds back only its ticks. A tick
// starts when every lane that is generating has handed in its next batch (SetActive), or a gather
// window after the last tick ended (or the oldest batch came) (a fraction of a decode's recent
// time, at most kGatherMs: a lane sampling or aligning between its decodes joins a later tick
// instead, and the tick leaves it a core). A tick of nothing but lanes' first batches (their
// prompts) while some lane is idle waits a start window (kStartMs at most) instead, so that
// requests sent together share their prompts' decode. It decodes, in one llama_decode, every batch
// handed in for the model with the most of them (on ties the model of the last tick, so that lanes
// in different phases regroup), copies each lane's logits rows to that lane's buffer and wakes the
// lanes. A merged decode that fails is retried one lane at a time, so that an error (a full KV
// cache) reaches the lane that caused it.
//
// Memory operations (Exclusive) run between a model's decodes, on the caller's thread.
//
// Thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "backend/llama_model.h"
#include "base/mutex.h"

struct llama_context;

namespace coolfusion {

class DecodeScheduler {
 public:
  explicit DecodeScheduler(int lanes);
  ~DecodeScheduler();
  DecodeScheduler(const DecodeScheduler&) = delete;
  DecodeScheduler& operator=(const DecodeScheduler&) = delete;

  // Adds a model's context (`max_tokens`: its n_batch, the most tokens one llama_decode
  // takes); returns its index. A `remote` model (layers on RPC workers) gets a thread of
  // its own. REQUIRES: before any Decode.
  int AddModel(llama_context* ctx, int32_t n_vocab, int max_tokens, bool remote = false);

  struct Result {
    int rc = 0;            // llama_decode's return code for this lane's tokens
    double wait_ms = 0;    // from handing the batch in to the start of its decode
    int batch_lanes = 0;   // lanes whose tokens were in the same llama_decode
    int batch_tokens = 0;  // tokens in that llama_decode
  };
  // Decodes lane `lane`'s `n` items for model `model` (sequences already the context's)
  // with whatever other lanes hand in for it meanwhile; writes the logits rows the items
  // ask for, in order, to `rows` (n_vocab floats each). REQUIRES: n <= max_tokens.
  Result Decode(int model, int lane, const LlamaModel::BatchItem* items, int n, float* rows);
  // Runs fn on model `model`'s context between its decodes (KV memory operations).
  void Exclusive(int model, const std::function<void(llama_context*)>& fn);
  // Model `model`'s decodes so far: the llama_decode calls, the batches they took, their
  // tokens, the most batches in one call, and the batches' waits for them.
  using Stats = BatchingTotals;
  Stats stats(int model) const;

  // A lane generates between SetActive(lane, true) and SetActive(lane, false) (counted:
  // each model of the lane may say so); a tick waits for the generating lanes only.
  void SetActive(int lane, bool active);

  static constexpr double kGatherMs = 30.0;    // the longest gather window
  static constexpr double kGatherShare = 0.5;  // of the recent mean decode time
  // How long a tick of prompts alone waits for idle lanes' requests (at most, and at most
  // kGatherShare of the recent mean decode time).
  static constexpr double kStartMs = 10.0;

 private:
  struct Job;
  struct Model;
  // The model whose batches the next tick decodes, -1 while none may start yet; *wake:
  // when to look again (steady-clock ms) if nothing wakes the thread before; *all_in:
  // whether every generating lane has handed in.
  // `only`: the model of a remote model's thread; -1: the local models (the shared thread).
  int Pick(int only, double now, double* wake, bool* all_in) const REQUIRES(mu_);
  void Loop(int only);  // a scheduler thread (see Pick)
  // Decodes `jobs` of model m in one llama_decode (one at a time when that fails); no
  // lock held.
  void Run(Model& m, const std::vector<Job*>& jobs, int tokens);
  int DecodeJobs(Model& m, const std::vector<Job*>& jobs);

  const int lanes_;
  std::vector<std::unique_ptr<Model>> models_;  // the vector only grows before any Decode
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  int last_model_ GUARDED_BY(mu_) = -1;
  std::vector<int> lane_waiting_ GUARDED_BY(mu_);  // per lane: batches handed in, not done
  std::vector<int> lane_active_ GUARDED_BY(mu_);   // per lane: SetActive count
  std::vector<bool> lane_fresh_ GUARDED_BY(mu_);   // per lane: active, nothing handed in yet
  double mean_decode_ms_ GUARDED_BY(mu_) = 0;      // moving average
  double last_tick_end_ GUARDED_BY(mu_) = 0;       // steady-clock ms
  bool local_started_ GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;  // started by AddModel, joined by the destructor
};

}  // namespace coolfusion
