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
                         std::chrono::milliseconds timeout, std::unique_ptr<Lease>* out) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock<std::mutex> lock(mu_);
  auto free_slot = [&]() -> int {
    for (size_t i = 0; i < in_use_.size(); ++i) {
      if (!in_use_[i]) return (int)i;
    }
    return -1;
  };
  int i = free_slot();
  if (i < 0) {
    if (waiting_ >= max_waiting_) {
      return Status::ResourceExhausted("server busy: all " + std::to_string(slots_.size()) + " slots in use and " +
                                       std::to_string(waiting_) + " requests waiting");
    }
    ++waiting_;
    while ((i = free_slot()) < 0) {
      if (cancelled && cancelled()) {
        --waiting_;
        return Status::Cancelled("client went away while waiting for a slot");
      }
      if (std::chrono::steady_clock::now() >= deadline) {
        --waiting_;
        return Status::ResourceExhausted("timed out waiting for a free slot");
      }
      cv_.wait_for(lock, poll);
    }
    --waiting_;
  }
  in_use_[i] = true;
  lock.unlock();
  out->reset(new Lease(this, i));
  return Status::Ok();
}

void SlotPool::Release(int i) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    in_use_[i] = false;
  }
  cv_.notify_all();
}

size_t SlotPool::busy() const {
  std::lock_guard<std::mutex> lock(mu_);
  size_t n = 0;
  for (bool b : in_use_) n += b;
  return n;
}

size_t SlotPool::waiting() const {
  std::lock_guard<std::mutex> lock(mu_);
  return waiting_;
}

}  // namespace coolfusion::server
