#include "fusion/worker_pool.h"

#include <cassert>

namespace coolfusion {

WorkerPool::WorkerPool(int workers) {
  for (int i = 1; i <= workers; ++i) threads_.emplace_back([this, i] { Loop(i); });
}

WorkerPool::~WorkerPool() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  start_cv_.NotifyAll();
  for (auto& t : threads_) t.join();
}

void WorkerPool::Run(int n, const std::function<void(int)>& fn) {
  assert(n >= 1 && n <= (int)threads_.size() + 1);
  {
    MutexLock lock(&mu_);
    fn_ = &fn;
    n_ = n;
    pending_ = n - 1;
    ++batch_;
  }
  start_cv_.NotifyAll();
  fn(0);
  MutexLock lock(&mu_);
  while (pending_ != 0) done_cv_.Wait(&mu_);
  fn_ = nullptr;
}

void WorkerPool::Loop(int index) {
  uint64_t seen = 0;
  while (true) {
    const std::function<void(int)>* fn = nullptr;
    {
      MutexLock lock(&mu_);
      while (!stop_ && batch_ == seen) start_cv_.Wait(&mu_);
      if (stop_) return;
      seen = batch_;
      if (index < n_) fn = fn_;
    }
    if (fn == nullptr) continue;
    (*fn)(index);
    {
      MutexLock lock(&mu_);
      --pending_;
    }
    done_cv_.NotifyOne();
  }
}

}  // namespace coolfusion
