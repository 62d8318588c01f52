// The extension's hold on one coolfusion::Ensemble: who may use it now, and closing it.
//
// An Ensemble runs one call at a time (engine.h). Python may call from several threads, and
// a stream's generation runs on a thread of its own, so each call first takes the ensemble's
// turn (Turn: waits while another call has it) and gives it back when the engine returns.
// A turn is a flag under a mutex, not a locked mutex, so that the thread that takes it (the
// caller of stream()) and the one that gives it back (the stream's worker) may differ.
// Nothing here touches Python: the bindings release the GIL before they wait for a turn.
#pragma once

#include <coolfusion/engine.h>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>

namespace coolfusion::python {

class EnsembleHandle {
 public:
  explicit EnsembleHandle(std::unique_ptr<Ensemble> ensemble) : ensemble_(std::move(ensemble)) {}
  EnsembleHandle(const EnsembleHandle&) = delete;
  EnsembleHandle& operator=(const EnsembleHandle&) = delete;

  // True from the moment close() is asked: running calls are told to stop (their segment
  // callbacks return false, Request::cancelled says true) and new ones are refused.
  bool closing() const { return closing_.load(std::memory_order_relaxed); }

  // Waits for every call to finish (they were told to stop), then frees the models.
  // Idempotent. REQUIRES: the caller holds no turn.
  void Close() {
    closing_.store(true);
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !busy_; });
    ensemble_.reset();
  }

  // One call's exclusive use of the ensemble, from construction (which waits for it) to
  // destruction. ensemble() is null when the handle is closed or closing: the call must
  // then not run.
  class Turn {
   public:
    explicit Turn(std::shared_ptr<EnsembleHandle> h) : h_(std::move(h)) {
      std::unique_lock<std::mutex> lock(h_->mu_);
      h_->cv_.wait(lock, [&] { return !h_->busy_; });
      h_->busy_ = true;
    }
    ~Turn() { Release(); }
    Turn(const Turn&) = delete;
    Turn& operator=(const Turn&) = delete;

    Ensemble* ensemble() const { return h_ && !h_->closing() ? h_->ensemble_.get() : nullptr; }
    // Gives the turn back early (a stream's worker, before it says it is done).
    void Release() {
      if (!h_) return;
      {
        std::lock_guard<std::mutex> lock(h_->mu_);
        h_->busy_ = false;
      }
      h_->cv_.notify_all();
      h_.reset();
    }

   private:
    std::shared_ptr<EnsembleHandle> h_;
  };

 private:
  std::unique_ptr<Ensemble> ensemble_;
  std::atomic<bool> closing_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;  // guarded by mu_
};

}  // namespace coolfusion::python
