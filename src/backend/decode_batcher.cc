#include "backend/decode_batcher.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace coolfusion {

namespace {
double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct DecodeBatcher::Job {
  int lane;
  const LlamaModel::BatchItem* items;
  int n;
  float* rows;
  double handed_ms;
  Result result;
  bool done = false;
};

struct DecodeBatcher::BatchBuffer {
  llama_batch batch{};
  int capacity = 0;
  ~BatchBuffer() {
    if (capacity > 0) llama_batch_free(batch);
  }
  void Reserve(int n) {
    if (n <= capacity) return;
    if (capacity > 0) llama_batch_free(batch);
    batch = llama_batch_init(n, 0, 1);
    capacity = n;
  }
};

DecodeBatcher::DecodeBatcher(llama_context* ctx, int32_t n_vocab, int lanes, int max_tokens)
    : ctx_(ctx),
      n_vocab_(n_vocab),
      lanes_(lanes),
      max_tokens_(max_tokens),
      buf_(std::make_unique<BatchBuffer>()) {
  MutexLock l(&mu_);
  last_done_ms_.assign(lanes, -1.0);
}

DecodeBatcher::~DecodeBatcher() = default;

DecodeBatcher::Result DecodeBatcher::Decode(int lane, const LlamaModel::BatchItem* items, int n,
                                            float* rows) {
  Job job{lane, items, n, rows, NowMs(), Result{}};
  std::vector<Job*> take;
  {
    MutexLock l(&mu_);
    pending_.push_back(&job);
    cv_.NotifyAll();  // a gathering leader may be waiting for this lane
    while (!job.done && in_flight_) cv_.Wait(&mu_);
    if (job.done) return job.result;
    in_flight_ = true;
    // Lead. Lanes that decoded a moment ago are likely to hand in their next batch within
    // a few milliseconds (their thread is sampling or aligning): wait for them, briefly.
    const double until = NowMs() + kGatherMs;
    for (;;) {
      const double now = NowMs();
      int expected = 0;
      for (int k = 0; k < lanes_; ++k) {
        if (last_done_ms_[k] < 0 || now - last_done_ms_[k] > kRecentMs) continue;
        bool in = false;
        for (const Job* j : pending_) in = in || j->lane == k;
        expected += in ? 0 : 1;
      }
      if (expected == 0 || now >= until) break;
      cv_.WaitFor(&mu_, std::chrono::microseconds((int64_t)((until - now) * 1000) + 1));
    }
    int tokens = 0;
    size_t i = 0;
    for (; i < pending_.size(); ++i) {
      if (!take.empty() && tokens + pending_[i]->n > max_tokens_) break;
      tokens += pending_[i]->n;
      take.push_back(pending_[i]);
    }
    pending_.erase(pending_.begin(), pending_.begin() + (ptrdiff_t)i);
  }
  Run(take);
  {
    MutexLock l(&mu_);
    const double now = NowMs();
    int tokens = 0;
    for (Job* j : take) tokens += j->n;
    stats_.decodes += 1;
    stats_.lane_jobs += (int64_t)take.size();
    stats_.tokens += tokens;
    stats_.max_lanes = std::max(stats_.max_lanes, (int)take.size());
    for (Job* j : take) {
      stats_.wait_ms += j->result.wait_ms;
      last_done_ms_[j->lane] = now;
      j->done = true;
    }
    in_flight_ = false;
    cv_.NotifyAll();
  }
  return job.result;
}

void DecodeBatcher::Run(const std::vector<Job*>& jobs) {
  const double start = NowMs();
  int tokens = 0;
  for (Job* j : jobs) tokens += j->n;
  for (Job* j : jobs) {
    j->result.wait_ms = start - j->handed_ms;
    j->result.batch_lanes = (int)jobs.size();
    j->result.batch_tokens = tokens;
  }
  const int rc = DecodeJobs(jobs);
  if (rc == 0 || jobs.size() == 1) {
    for (Job* j : jobs) j->result.rc = rc;
    return;
  }
  // llama_decode took back what it had stored of the failed batch: decode each lane's
  // tokens alone, so that only the lane that does not fit gets the error.
  for (Job* j : jobs) {
    j->result.rc = DecodeJobs({j});
    j->result.batch_lanes = 1;
    j->result.batch_tokens = j->n;
  }
}

int DecodeBatcher::DecodeJobs(const std::vector<Job*>& jobs) {
  int n = 0;
  for (const Job* j : jobs) n += j->n;
  buf_->Reserve(n);
  llama_batch& b = buf_->batch;
  b.n_tokens = n;
  int at = 0;
  for (const Job* j : jobs) {
    for (int i = 0; i < j->n; ++i, ++at) {
      const LlamaModel::BatchItem& it = j->items[i];
      b.token[at] = it.token;
      b.pos[at] = it.pos;
      b.n_seq_id[at] = 1;
      b.seq_id[at][0] = it.seq;
      b.logits[at] = it.want_logits;
    }
  }
  const int rc = llama_decode(ctx_, b);
  if (rc != 0) return rc;
  llama_synchronize(ctx_);
  at = 0;
  for (const Job* j : jobs) {
    float* out = j->rows;
    for (int i = 0; i < j->n; ++i, ++at) {
      if (!j->items[i].want_logits) continue;
      const float* row = llama_get_logits_ith(ctx_, at);
      if (row != nullptr) std::memcpy(out, row, sizeof(float) * (size_t)n_vocab_);
      out += n_vocab_;
    }
  }
  return 0;
}

void DecodeBatcher::Exclusive(const std::function<void(llama_context*)>& fn) {
  MutexLock l(&mu_);
  while (in_flight_) cv_.Wait(&mu_);
  fn(ctx_);
}

DecodeBatcher::Stats DecodeBatcher::stats() const {
  MutexLock l(&mu_);
  return stats_;
}

}  // namespace coolfusion
