// A generation on a thread of its own, whose segments a Python iterator takes one at a
// time (coolfusion.Stream). Nothing here touches Python, so that the worker never needs
// the GIL: a consumer that holds it while it waits for the worker (closing from a
// finalizer) cannot deadlock.
//
// The worker holds the ensemble's turn for as long as the engine runs, and gives it back
// before it reports the end: once Next() says kDone, the ensemble is free. Abandon() makes
// the segment callback return false and Request::cancelled say true, then joins the worker:
// the generation stops within one segment (or 50 ms inside a grammar step).
#pragma once

#include <coolfusion/engine.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "ensemble_handle.h"

namespace coolfusion::python {

class StreamRun {
 public:
  struct Item {
    Segment segment;
    std::string delta;  // the text this segment made safe to show
  };
  enum class Wait { kItem, kDone, kTimeout };

  // Starts generating `request` with the turn given (which must hold an open ensemble).
  StreamRun(std::unique_ptr<EnsembleHandle::Turn> turn, Request request);
  ~StreamRun();  // Abandon()
  StreamRun(const StreamRun&) = delete;
  StreamRun& operator=(const StreamRun&) = delete;

  // The next item, in order, waiting up to timeout_s for it; kDone once the generation is
  // over and every item was taken.
  Wait Next(double timeout_s, Item* out);
  // Stops the generation (if it still runs) and waits for the worker. Idempotent.
  void Abandon();
  bool running() const;

  // REQUIRES: Next() returned kDone, or Abandon() returned.
  const Status& status() const { return status_; }
  const GenerationResult& result() const { return result_; }

 private:
  void Run(std::unique_ptr<EnsembleHandle::Turn> turn, Request request);

  std::atomic<bool> abandoned_{false};
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item> items_;  // guarded by mu_
  bool done_ = false;       // guarded by mu_
  // Written by the worker before done_ is set, read after.
  Status status_;
  GenerationResult result_;
  std::thread worker_;
};

}  // namespace coolfusion::python
