// WorkerPool: a fixed set of threads that run one batch of tasks at a time. Threads live
// as long as the pool, so per-thread state (ICU's word iterator, ggml's thread pools)
// survives from one fusion step to the next. Not reentrant: one Run at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <thread>
#include <vector>

#include "base/mutex.h"

namespace coolfusion {

class WorkerPool {
 public:
  explicit WorkerPool(int workers);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Calls fn(i) for every i in [0, n): i = 0 on the calling thread, the others on the
  // workers; returns when all have returned. REQUIRES: 1 <= n <= workers + 1.
  void Run(int n, const std::function<void(int)>& fn);

 private:
  void Loop(int index);

  std::vector<std::thread> threads_;
  Mutex mu_;
  CondVar start_cv_, done_cv_;
  const std::function<void(int)>* fn_ GUARDED_BY(mu_) = nullptr;
  int n_ GUARDED_BY(mu_) = 0;
  uint64_t batch_ GUARDED_BY(mu_) = 0;
  int pending_ GUARDED_BY(mu_) = 0;
  bool stop_ GUARDED_BY(mu_) = false;
};

}  // namespace coolfusion
