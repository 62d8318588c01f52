#include "server/slot_pool.h"

#include <cassert>

namespace coolfusion::server {

SlotPool::SlotPool(std::vector<std::unique_ptr<Ensemble>> slots, size_t max_waiting)
    : slots_(std::move(slots)), max_waiting_(max_waiting), in_use_(slots_.size(), false) {
  assert(!slots_.empty());
}

SlotPool::Lease::~Lease() { pool_->Release(index_); }

Ensemble& SlotPool::Lease::ensemble() const { return *pool_->slots_[index_]; }

Status SlotPool::Acquire(const std::function<bool()>& cancelled, std::chrono::milliseconds poll,
                         std::chrono::milliseconds timeout, std::unique_ptr<Lease>* out,
                         const std::function<size_t(const Ensemble&)>& prefer) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(&mu_);
  int i = FreeSlot(prefer);
  if (i < 0) {
    if (waiting_ >= max_waiting_) {
      return Status::ResourceExhausted("server busy: all " + std::to_string(slots_.size()) +
                                       " slots in use and " + std::to_string(waiting_) +
                                       " requests waiting");
    }
    ++waiting_;
    while ((i = FreeSlot(prefer)) < 0) {
      if (cancelled && cancelled()) {
        --waiting_;
        return Status::Cancelled("client went away while waiting for a slot");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        --waiting_;
        return Status::DeadlineExceeded("timed out waiting for a free slot");
      }
      cv_.WaitFor(&mu_, poll);
    }
    --waiting_;
  }
  in_use_[i] = true;
  out->reset(new Lease(this, i));
  return Status::Ok();
}

int SlotPool::FreeSlot(const std::function<size_t(const Ensemble&)>& prefer) const {
  int best = -1;
  size_t best_score = 0;
  for (size_t i = 0; i < in_use_.size(); ++i) {
    if (in_use_[i]) continue;
    if (!prefer) return (int)i;
    const size_t score = prefer(*slots_[i]);
    if (best < 0 || score > best_score) {
      best = (int)i;
      best_score = score;
    }
  }
  return best;
}

void SlotPool::Release(int i) {
  {
    MutexLock lock(&mu_);
    in_use_[i] = false;
  }
  cv_.NotifyAll();
}

bool SlotPool::in_use(size_t i) const {
  MutexLock lock(&mu_);
  return in_use_[i];
}

size_t SlotPool::busy() const {
  MutexLock lock(&mu_);
  size_t n = 0;
  for (bool b : in_use_) n += b;
  return n;
}

size_t SlotPool::waiting() const {
  MutexLock lock(&mu_);
  return waiting_;
}

}  // namespace coolfusion::server
