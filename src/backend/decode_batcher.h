// DecodeBatcher: one llama.cpp context shared by several lanes (the server's slots, eval's
// concurrent rows), each lane a range of KV sequences, and every lane's decode work issued
// as one batched llama_decode per tick, as llama-server's slot loop does: the weights are
// read once for all the lanes' tokens.
//
// A lane's thread hands in its batch and waits. When no decode is in flight, the first
// waiting thread leads: it takes every batch handed in so far (waiting up to kGather for
// lanes that decoded a moment ago and are about to hand in theirs), decodes them in one
// llama_decode, copies each lane's logits rows to that lane's buffer and wakes them. While
// a decode runs, the next batches gather for the next tick (group commit). A merged
// decode that fails is retried one lane at a time, so that an error (a full KV cache)
// reaches the lane that caused it.
//
// Memory operations and thread changes (Exclusive) run between decodes, under the lock.
//
// Thread-safe. Owned by the model's shared handles (LlamaModel::Load with lanes > 1).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "backend/llama_model.h"
#include "base/mutex.h"

struct llama_context;

namespace coolfusion {

class DecodeBatcher {
 public:
  // `max_tokens`: the context's n_batch (most tokens one llama_decode takes).
  DecodeBatcher(llama_context* ctx, int32_t n_vocab, int lanes, int max_tokens);
  ~DecodeBatcher();
  DecodeBatcher(const DecodeBatcher&) = delete;
  DecodeBatcher& operator=(const DecodeBatcher&) = delete;

  struct Result {
    int rc = 0;            // llama_decode's return code for this lane's tokens
    double wait_ms = 0;    // from handing the batch in to the start of its decode
    int batch_lanes = 0;   // lanes whose tokens were in the same llama_decode
    int batch_tokens = 0;  // tokens in that llama_decode
  };
  // Decodes lane `lane`'s `n` items (sequences already the context's) with whatever other
  // lanes hand in meanwhile; writes the logits rows the items ask for, in order, to
  // `rows` (n_vocab floats each). REQUIRES: n <= max_tokens.
  Result Decode(int lane, const LlamaModel::BatchItem* items, int n, float* rows);
  // Runs fn on the context between decodes (KV memory operations, thread counts).
  void Exclusive(const std::function<void(llama_context*)>& fn);

  struct Stats {
    int64_t decodes = 0;    // llama_decode calls
    int64_t lane_jobs = 0;  // batches handed in (sum over decodes of the lanes in each)
    int64_t tokens = 0;     // tokens decoded
    int max_lanes = 0;      // most lanes in one decode
    double wait_ms = 0;     // summed over lanes: time from handing in to decode start
  };
  Stats stats() const;
  int lanes() const { return lanes_; }

  // How long a leader waits for lanes that decoded within kRecent to hand in their next
  // batch before it decodes without them.
  static constexpr double kGatherMs = 2.0;
  static constexpr double kRecentMs = 50.0;

 private:
  struct Job;
  // Decodes `jobs` in one llama_decode (one at a time when that fails); no lock held.
  void Run(const std::vector<Job*>& jobs);
  int DecodeJobs(const std::vector<Job*>& jobs);

  llama_context* const ctx_;
  const int32_t n_vocab_;
  const int lanes_;
  const int max_tokens_;
  mutable Mutex mu_;
  CondVar cv_;
  bool in_flight_ GUARDED_BY(mu_) = false;
  std::vector<Job*> pending_ GUARDED_BY(mu_);
  std::vector<double> last_done_ms_ GUARDED_BY(mu_);  // per lane, steady-clock ms; <0: never
  Stats stats_ GUARDED_BY(mu_);
  // The leader's batch buffer (touched by the leader only, while in_flight_).
  struct BatchBuffer;
  std::unique_ptr<BatchBuffer> buf_;
};

}  // namespace coolfusion
