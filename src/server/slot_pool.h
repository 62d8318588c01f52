// SlotPool: the server's concurrency, apart from HTTP and JSON. N slots, each an
// Ensemble of its own (a lane of Ensemble::OpenLanes: its own KV sequences in every
// model's one shared context, its decodes batched with the other slots'), and a bounded
// wait queue.
//
// Thread-safe. A Lease gives one thread exclusive use of one slot until destroyed.
#pragma once

#include <coolfusion/engine.h>

#include <chrono>
#include <functional>
#include <memory>
#include <vector>
#include "base/mutex.h"

namespace coolfusion::server {

class SlotPool {
 public:
  // REQUIRES: slots non-empty.
  SlotPool(std::vector<std::unique_ptr<Ensemble>> slots, size_t max_waiting);

  // Exclusive use of one slot; the slot is free again when the Lease is destroyed.
  class Lease {
   public:
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    Ensemble& ensemble() const;
    int index() const { return index_; }

   private:
    friend class SlotPool;
    Lease(SlotPool* p, int i) : pool_(p), index_(i) {}
    SlotPool* pool_;
    int index_;
  };

  // Waits for a free slot. Returns ResourceExhausted at once when max_waiting requests
  // are already waiting; Cancelled when `cancelled()` turns true while waiting (polled
  // every `poll`); DeadlineExceeded after `timeout`. When several slots are free, the one
  // with the largest `prefer(ensemble)` is taken (the first on ties; e.g. the prompt
  // cache's common prefix with the request). `prefer` runs with the pool locked, on free
  // slots only.
  Status Acquire(const std::function<bool()>& cancelled, std::chrono::milliseconds poll,
                 std::chrono::milliseconds timeout, std::unique_ptr<Lease>* out,
                 const std::function<size_t(const Ensemble&)>& prefer = nullptr);

  size_t size() const { return slots_.size(); }
  size_t busy() const;
  // Whether slot i is leased now (REQUIRES: i < size()).
  bool in_use(size_t i) const;
  size_t waiting() const;
  // Any slot's ensemble, for read-only model information. Thread-safe: ModelInfo is
  // immutable after Open.
  const Ensemble& any() const { return *slots_[0]; }
  // Slot i's ensemble, for what may be read while it generates (Ensemble::lane_batching).
  const Ensemble& slot(size_t i) const { return *slots_[i]; }

 private:
  void Release(int i);
  // The free slot `prefer` likes best; -1: none.
  int FreeSlot(const std::function<size_t(const Ensemble&)>& prefer) const REQUIRES(mu_);

  std::vector<std::unique_ptr<Ensemble>> slots_;
  const size_t max_waiting_;
  mutable Mutex mu_;
  CondVar cv_;
  std::vector<bool> in_use_ GUARDED_BY(mu_);
  size_t waiting_ GUARDED_BY(mu_) = 0;
};

}  // namespace coolfusion::server
