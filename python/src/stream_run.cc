#include "stream_run.h"

#include <chrono>
#include <exception>
#include <utility>

namespace coolfusion::python {

StreamRun::StreamRun(std::unique_ptr<EnsembleHandle::Turn> turn, Request request) {
  worker_ = std::thread(&StreamRun::Run, this, std::move(turn), std::move(request));
}

StreamRun::~StreamRun() { Abandon(); }

void StreamRun::Run(std::unique_ptr<EnsembleHandle::Turn> turn, Request request) {
  Status st;
  GenerationResult result;
  try {
    Ensemble* e = turn->ensemble();
    if (e == nullptr) {
      st = Status::Cancelled("the Ensemble was closed");
    } else {
      // Abandoned, or the Ensemble is closing.
      auto stop = [this, t = turn.get()] { return abandoned_.load() || t->ensemble() == nullptr; };
      request.cancelled = stop;
      st = e->Generate(
          request,
          [&](const Segment& segment, std::string_view delta) {
            {
              std::lock_guard<std::mutex> lock(mu_);
              items_.push_back(Item{segment, std::string(delta)});
            }
            cv_.notify_all();
            return !stop();
          },
          &result);
    }
  } catch (const std::exception& ex) {  // bad_alloc copying a segment
    st = Status::Internal(std::string("streaming: ") + ex.what());
  } catch (...) {
    st = Status::Internal("streaming: unknown exception");
  }
  turn.reset();  // the ensemble is free before anyone hears that the stream is done
  {
    std::lock_guard<std::mutex> lock(mu_);
    status_ = std::move(st);
    result_ = std::move(result);
    done_ = true;
  }
  cv_.notify_all();
}

StreamRun::Wait StreamRun::Next(double timeout_s, Item* out) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool ready = cv_.wait_for(lock, std::chrono::duration<double>(timeout_s),
                                  [&] { return !items_.empty() || done_; });
  if (!ready) return Wait::kTimeout;
  if (items_.empty()) return Wait::kDone;
  *out = std::move(items_.front());
  items_.pop_front();
  return Wait::kItem;
}

void StreamRun::Abandon() {
  abandoned_.store(true);
  if (worker_.joinable()) worker_.join();
}

bool StreamRun::running() const {
  std::lock_guard<std::mutex> lock(mu_);
  return !done_;
}

}  // namespace coolfusion::python
