// Server counters, rendered in Prometheus' text format. Thread-safe.
#pragma once

#include <atomic>
#include <map>
#include <mutex>
#include <string>

namespace coolfusion::server {

class Metrics {
 public:
  void CountRequest(const std::string& endpoint, int status);
  void CountGeneration(int tokens, int segments, double seconds, bool cancelled);
  // slots_total, slots_busy, queue_waiting are read at render time.
  std::string Render(size_t slots_total, size_t slots_busy, size_t waiting) const;

 private:
  mutable std::mutex mu_;
  std::map<std::pair<std::string, int>, long> requests_;  // GUARDED_BY(mu_)
  long tokens_ = 0, segments_ = 0, generations_ = 0, cancelled_ = 0;  // GUARDED_BY(mu_)
  double seconds_ = 0;                                      // GUARDED_BY(mu_)
};

}  // namespace coolfusion::server
