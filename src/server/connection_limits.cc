#include "server/connection_limits.h"

namespace coolfusion::server {

int ConnectionCounts::Admit(const std::string& addr, std::string* why) {
  if (open_ >= max_connections_) {
    *why = "the server has " + std::to_string(open_) + " connections open; try again later";
    return 503;
  }
  if (open_from(addr) >= max_per_address_) {
    *why = "too many connections from " + addr + " (the limit is " +
           std::to_string(max_per_address_) + ")";
    return 429;
  }
  ++per_address_[addr];
  ++open_;
  return 0;
}

void ConnectionCounts::Release(const std::string& addr) {
  auto it = per_address_.find(addr);
  if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
  --open_;
}

int ConnectionCounts::open_from(const std::string& addr) const {
  const auto it = per_address_.find(addr);
  return it == per_address_.end() ? 0 : it->second;
}

PhaseDeadlines::Clock::time_point PhaseDeadlines::Of(ConnPhase phase, Clock::time_point now) const {
  switch (phase) {
    case ConnPhase::kIdle: return now + std::chrono::milliseconds(idle_ms_);
    case ConnPhase::kHead: return now + std::chrono::milliseconds(head_ms_);
    case ConnPhase::kBody: return now + std::chrono::milliseconds(body_ms_);
    case ConnPhase::kDraining: return now + std::chrono::seconds(2);
    case ConnPhase::kBusy:
    case ConnPhase::kFlushing: break;
  }
  return Clock::time_point::max();
}

int PhaseDeadlines::Expired(ConnPhase phase, std::string* message) const {
  switch (phase) {
    case ConnPhase::kHead:
      *message = "the request head did not arrive within " + std::to_string(head_ms_ / 1000) + " s";
      return 408;
    case ConnPhase::kBody:
      *message = "the request body did not arrive within " + std::to_string(body_ms_ / 1000) + " s";
      return 408;
    default: return 0;
  }
}

}  // namespace coolfusion::server
