// Server counters, rendered in Prometheus' text format. Thread-safe.
#pragma once

#include <coolfusion/engine.h>

#include <atomic>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "base/mutex.h"

namespace coolfusion::server {

class Metrics {
 public:
  void CountRequest(const std::string& endpoint, int status);
  void CountGeneration(int tokens, int segments, double seconds, bool cancelled);
  // slots_total, slots_busy, queue_waiting are read at render time, and so are the
  // decode batching of each model (named by its id) and each slot's waits.
  struct Batching {
    std::vector<std::pair<std::string, Ensemble::BatchingStats>> models;
    std::vector<Ensemble::BatchingStats> slots;
  };
  std::string Render(size_t slots_total, size_t slots_busy, size_t waiting,
                     const Batching& batching = {}) const;

 private:
  mutable Mutex mu_;
  std::map<std::pair<std::string, int>, long> requests_ GUARDED_BY(mu_);
  long tokens_ GUARDED_BY(mu_) = 0;
  long segments_ GUARDED_BY(mu_) = 0;
  long generations_ GUARDED_BY(mu_) = 0;
  long cancelled_ GUARDED_BY(mu_) = 0;
  double seconds_ GUARDED_BY(mu_) = 0;
};

}  // namespace coolfusion::server
