#include "server/metrics.h"

#include <sstream>

namespace coolfusion::server {

void Metrics::CountRequest(const std::string& endpoint, int status) {
  MutexLock lock(&mu_);
  requests_[{endpoint, status}]++;
}

void Metrics::CountGeneration(int tokens, int segments, double seconds, bool cancelled) {
  MutexLock lock(&mu_);
  tokens_ += tokens;
  segments_ += segments;
  seconds_ += seconds;
  generations_ += 1;
  cancelled_ += cancelled;
}

std::string Metrics::Render(size_t slots_total, size_t slots_busy, size_t waiting) const {
  MutexLock lock(&mu_);
  std::ostringstream o;
  o << "# HELP coolfusion_requests_total HTTP requests by endpoint and status.\n"
    << "# TYPE coolfusion_requests_total counter\n";
  for (const auto& [k, v] : requests_) {
    o << "coolfusion_requests_total{endpoint=\"" << k.first << "\",status=\"" << k.second << "\"} "
      << v << "\n";
  }
  o << "# HELP coolfusion_generated_tokens_total New tokens generated (model 0's tokenizer).\n"
    << "# TYPE coolfusion_generated_tokens_total counter\ncoolfusion_generated_tokens_total "
    << tokens_ << "\n"
    << "# HELP coolfusion_segments_total Committed segments.\n"
    << "# TYPE coolfusion_segments_total counter\ncoolfusion_segments_total " << segments_ << "\n"
    << "# HELP coolfusion_generations_total Generations run (finished or cancelled).\n"
    << "# TYPE coolfusion_generations_total counter\ncoolfusion_generations_total " << generations_
    << "\n"
    << "# HELP coolfusion_cancelled_total Generations cancelled because the client went away.\n"
    << "# TYPE coolfusion_cancelled_total counter\ncoolfusion_cancelled_total " << cancelled_
    << "\n"
    << "# HELP coolfusion_generation_seconds_total Wall time spent generating.\n"
    << "# TYPE coolfusion_generation_seconds_total counter\ncoolfusion_generation_seconds_total "
    << seconds_ << "\n"
    << "# HELP coolfusion_slots Request slots.\n# TYPE coolfusion_slots gauge\ncoolfusion_slots "
    << slots_total << "\n"
    << "# HELP coolfusion_slots_busy Slots generating now.\n# TYPE coolfusion_slots_busy "
       "gauge\ncoolfusion_slots_busy "
    << slots_busy << "\n"
    << "# HELP coolfusion_queue_waiting Requests waiting for a slot.\n# TYPE "
       "coolfusion_queue_waiting gauge\n"
    << "coolfusion_queue_waiting " << waiting << "\n";
  return o.str();
}

}  // namespace coolfusion::server
