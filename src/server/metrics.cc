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

std::string Metrics::Render(size_t slots_total, size_t slots_busy, size_t waiting,
                            const Batching& batching) const {
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
  // One context per model for every slot: how its decodes were batched.
  const struct {
    const char* name;
    const char* help;
    const char* type;
  } kBatch[] = {
      {"coolfusion_batch_decodes_total",
       "llama_decode calls, each taking every slot's batch "
       "handed in by then.",
       "counter"},
      {"coolfusion_batch_slot_batches_total",
       "Slots' batches those calls took (divided by "
       "the calls: slots per decode).",
       "counter"},
      {"coolfusion_batch_tokens_total", "Tokens those calls decoded.", "counter"},
      {"coolfusion_batch_max_slots", "Most slots' batches one call took.", "gauge"},
      {"coolfusion_batch_wait_seconds_total",
       "Slots' time from handing a batch in to the "
       "start of the call that took it.",
       "counter"},
  };
  for (int k = 0; k < 5 && !batching.models.empty(); ++k) {
    o << "# HELP " << kBatch[k].name << " " << kBatch[k].help << "\n# TYPE " << kBatch[k].name
      << " " << kBatch[k].type << "\n";
    for (const auto& [id, b] : batching.models) {
      o << kBatch[k].name << "{model=\"" << id << "\"} ";
      switch (k) {
        case 0: o << b.decodes; break;
        case 1: o << b.lane_jobs; break;
        case 2: o << b.tokens; break;
        case 3: o << b.max_lanes; break;
        default: o << b.wait_ms / 1000.0; break;
      }
      o << "\n";
    }
  }
  if (!batching.slots.empty()) {
    o << "# HELP coolfusion_slot_wait_seconds_total A slot's time waiting for the batched "
         "decodes that took its batches (every model).\n"
      << "# TYPE coolfusion_slot_wait_seconds_total counter\n";
    for (size_t i = 0; i < batching.slots.size(); ++i)
      o << "coolfusion_slot_wait_seconds_total{slot=\"" << i << "\"} "
        << batching.slots[i].wait_ms / 1000.0 << "\n";
    o << "# HELP coolfusion_slot_batches_total Batches a slot handed in (every model).\n"
      << "# TYPE coolfusion_slot_batches_total counter\n";
    for (size_t i = 0; i < batching.slots.size(); ++i)
      o << "coolfusion_slot_batches_total{slot=\"" << i << "\"} " << batching.slots[i].decodes
        << "\n";
  }
  return o.str();
}

}  // namespace coolfusion::server
