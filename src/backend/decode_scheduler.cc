#include "backend/decode_scheduler.h"

#include <llama.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <limits>
#include <thread>

namespace coolfusion {

namespace {
double NowMs() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

struct DecodeScheduler::Job {
  int lane;
  const LlamaModel::BatchItem* items;
  int n;
  float* rows;
  double handed_ms;
  bool first;  // the lane's first batch since it became active (its prompt)
  Result result;
  bool done = false;
};

struct DecodeScheduler::Model {
  llama_context* ctx = nullptr;
  int32_t n_vocab = 0;
  int max_tokens = 0;
  std::vector<Job*> pending;
  bool in_flight = false;
  bool remote = false;  // its layers run on RPC workers: a thread of its own
  int threads = 1;      // what its decodes use when every lane has handed in (the load's)
  Stats stats;
  // The batch buffer, touched only by the thread running this model's tick.
  llama_batch batch{};
  int capacity = 0;
  ~Model() {
    if (capacity > 0) llama_batch_free(batch);
  }
};

DecodeScheduler::DecodeScheduler(int lanes) : lanes_(lanes) {
  MutexLock l(&mu_);
  lane_waiting_.assign(lanes, 0);
  lane_active_.assign(lanes, 0);
  lane_fresh_.assign(lanes, false);
}

DecodeScheduler::~DecodeScheduler() {
  {
    MutexLock l(&mu_);
    stop_ = true;
    cv_.NotifyAll();
  }
  for (std::thread& t : threads_) t.join();
}

int DecodeScheduler::AddModel(llama_context* ctx, int32_t n_vocab, int max_tokens, bool remote) {
  MutexLock l(&mu_);
  auto m = std::make_unique<Model>();
  m->ctx = ctx;
  m->n_vocab = n_vocab;
  m->max_tokens = max_tokens;
  m->threads = llama_n_threads(ctx);
  m->remote = remote;
  models_.push_back(std::move(m));
  const int index = (int)models_.size() - 1;
  if (remote) {
    // A model on RPC workers decodes on a thread of its own: a stalled worker holds back
    // that model's ticks only.
    threads_.emplace_back([this, index] { Loop(index); });
  } else if (!local_started_) {
    // Every local model's llama_decode runs on this one thread (one OpenMP team, as
    // llama-server's one loop).
    local_started_ = true;
    threads_.emplace_back([this] { Loop(-1); });
  }
  return index;
}

void DecodeScheduler::SetActive(int lane, bool active) {
  MutexLock l(&mu_);
  lane_active_[lane] += active ? 1 : -1;
  if (active && lane_active_[lane] == 1) lane_fresh_[lane] = true;
  cv_.NotifyAll();  // a tick may be waiting for this lane
}

int DecodeScheduler::Pick(int only, double now, double* wake, bool* all_in) const {
  int best = -1;
  double oldest = std::numeric_limits<double>::infinity();
  for (int i = 0; i < (int)models_.size(); ++i) {
    const Model& m = *models_[i];
    if (only >= 0 ? i != only : m.remote) continue;  // another thread's model
    if (m.pending.empty()) continue;
    oldest = std::min(oldest, m.pending.front()->handed_ms);
    // The most batches; on ties the model of the last tick, so that lanes in another
    // model's phase catch up and join a later tick of it rather than splitting every
    // tick in two.
    if (best < 0 || m.pending.size() > models_[best]->pending.size() ||
        (m.pending.size() == models_[best]->pending.size() && i == last_model_)) {
      best = i;
    }
  }
  if (best < 0) return -1;
  // Every lane that is generating has handed its batch in: nothing to wait for.
  *all_in = true;
  for (int k = 0; k < lanes_; ++k) {
    if (lane_active_[k] > 0 && lane_waiting_[k] == 0) *all_in = false;
  }
  const double window =
      mean_decode_ms_ > 0 ? std::min(kGatherMs, kGatherShare * mean_decode_ms_) : kGatherMs;
  // The window starts when the lanes the last tick woke start their next batch.
  const double deadline = std::max(oldest, last_tick_end_) + window;
  // Requests that come together (a team sending at once, eval's first rows) reach their
  // lanes a few milliseconds apart: while a tick would hold nothing but prompts and some
  // lane is idle, it waits a start window for them, so that their prompts share a decode
  // instead of the first one's running alone and the rest after it.
  bool starting = false;
  for (const Job* j : models_[best]->pending) starting |= j->first;
  for (const Job* j : models_[best]->pending) starting &= j->first;
  int active = 0;
  for (int k = 0; k < lanes_; ++k) active += lane_active_[k] > 0;
  if (starting && active < lanes_) {
    const double start_window =
        mean_decode_ms_ > 0 ? std::min(kStartMs, kGatherShare * mean_decode_ms_) : kStartMs;
    const double start_deadline = oldest + start_window;
    if (now >= start_deadline) return best;
    *wake = start_deadline;
    return -1;
  }
  if (*all_in || now >= deadline) return best;
  *wake = deadline;
  return -1;
}

DecodeScheduler::Result DecodeScheduler::Decode(int model, int lane,
                                                const LlamaModel::BatchItem* items, int n,
                                                float* rows) {
  MutexLock l(&mu_);
  Job job{lane, items, n, rows, NowMs(), lane_fresh_[lane], Result{}};
  lane_fresh_[lane] = false;
  models_[model]->pending.push_back(&job);
  lane_waiting_[lane] += 1;
  cv_.NotifyAll();  // the scheduler's thread may be waiting for this lane
  while (!job.done) cv_.Wait(&mu_);
  return job.result;
}

void DecodeScheduler::Loop(int only) {
  mu_.Lock();
  while (!stop_) {
    const double now = NowMs();
    double wake = now + 100;
    bool all_in = false;
    const int pick = Pick(only, now, &wake, &all_in);
    if (pick < 0) {
      cv_.WaitFor(&mu_, std::chrono::microseconds((int64_t)((wake - now) * 1000) + 1));
      continue;
    }
    Model& m = *models_[pick];
    std::vector<Job*> take;
    int tokens = 0;
    size_t i = 0;
    for (; i < m.pending.size(); ++i) {
      if (!take.empty() && tokens + m.pending[i]->n > m.max_tokens) break;
      tokens += m.pending[i]->n;
      take.push_back(m.pending[i]);
    }
    m.pending.erase(m.pending.begin(), m.pending.begin() + (ptrdiff_t)i);
    m.in_flight = true;
    last_model_ = pick;
    // A lane still sampling or aligning (the gather window ran out) runs beside this
    // decode: leave it a core, so that it does not stall the decode's threads at their
    // barriers.
    const int threads = all_in || m.threads <= 1 ? m.threads : m.threads - 1;
    mu_.Unlock();
    if (llama_n_threads(m.ctx) != threads) llama_set_n_threads(m.ctx, threads, threads);
    const double t0 = NowMs();
    Run(m, take, tokens);
    const double t1 = NowMs();
    mu_.Lock();
    m.in_flight = false;
    last_tick_end_ = t1;
    mean_decode_ms_ = mean_decode_ms_ > 0 ? 0.8 * mean_decode_ms_ + 0.2 * (t1 - t0) : t1 - t0;
    m.stats.decodes += 1;
    m.stats.lane_jobs += (int64_t)take.size();
    m.stats.tokens += tokens;
    m.stats.max_lanes = std::max(m.stats.max_lanes, (int)take.size());
    for (Job* j : take) {
      m.stats.wait_ms += j->result.wait_ms;
      lane_waiting_[j->lane] -= 1;
      j->done = true;
    }
    cv_.NotifyAll();
  }
  mu_.Unlock();
}

void DecodeScheduler::Run(Model& m, const std::vector<Job*>& jobs, int tokens) {
  const double start = NowMs();
  for (Job* j : jobs) {
    j->result.wait_ms = start - j->handed_ms;
    j->result.batch_lanes = (int)jobs.size();
    j->result.batch_tokens = tokens;
  }
  const int rc = DecodeJobs(m, jobs);
  if (rc == 0 || jobs.size() == 1) {
    for (Job* j : jobs) j->result.rc = rc;
    return;
  }
  // llama_decode took back what it had stored of the failed batch: decode each lane's
  // tokens alone, so that only the lane that does not fit gets the error.
  for (Job* j : jobs) {
    j->result.rc = DecodeJobs(m, {j});
    j->result.batch_lanes = 1;
    j->result.batch_tokens = j->n;
  }
}

int DecodeScheduler::DecodeJobs(Model& m, const std::vector<Job*>& jobs) {
  int n = 0;
  for (const Job* j : jobs) n += j->n;
  if (n > m.capacity) {
    if (m.capacity > 0) llama_batch_free(m.batch);
    m.batch = llama_batch_init(n, 0, 1);
    m.capacity = n;
  }
  llama_batch& b = m.batch;
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
  const int rc = llama_decode(m.ctx, b);
  if (rc != 0) return rc;
  llama_synchronize(m.ctx);
  at = 0;
  for (const Job* j : jobs) {
    float* out = j->rows;
    for (int i = 0; i < j->n; ++i, ++at) {
      if (!j->items[i].want_logits) continue;
      const float* row = llama_get_logits_ith(m.ctx, at);
      if (row != nullptr) std::memcpy(out, row, sizeof(float) * (size_t)m.n_vocab);
      out += m.n_vocab;
    }
  }
  return 0;
}

void DecodeScheduler::Exclusive(int model, const std::function<void(llama_context*)>& fn) {
  MutexLock l(&mu_);
  while (models_[model]->in_flight) cv_.Wait(&mu_);
  fn(models_[model]->ctx);
}

DecodeScheduler::Stats DecodeScheduler::stats(int model) const {
  MutexLock l(&mu_);
  return models_[model]->stats;
}

}  // namespace coolfusion
