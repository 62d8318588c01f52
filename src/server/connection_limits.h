// What the connection gate allows a connection, as plain values it can be tested on
// without sockets or clocks of its own: how many connections may be open from one client
// address and in all (ConnectionCounts), and how long each phase of a connection may last
// and what is answered when one has run out (PhaseDeadlines).
//
// Thread-safety: neither is thread-safe; both belong to the gate thread.
#pragma once

#include <chrono>
#include <string>
#include <unordered_map>

namespace coolfusion::server {

// Where a connection stands, from the gate's side.
enum class ConnPhase {
  kIdle,      // between requests (or new): nothing of a request has arrived
  kHead,      // a request's head is arriving
  kBody,      // its body is arriving
  kBusy,      // a worker is answering it (no deadline of the gate's)
  kFlushing,  // the gate sends the rest of a response its worker left
  kDraining,  // closing: what the client still sends is read and dropped
};

// The open connections, in all and per client address.
class ConnectionCounts {
 public:
  ConnectionCounts(int max_connections, int max_per_address)
      : max_connections_(max_connections), max_per_address_(max_per_address) {}

  // Counts a new connection from `addr`. Returns 0 when it is admitted; else the status
  // of its refusal, with *why, and nothing is counted: 503 while `max_connections` are
  // open, 429 while `max_per_address` are open from `addr`.
  int Admit(const std::string& addr, std::string* why);
  // Uncounts a connection Admit admitted from `addr`.
  void Release(const std::string& addr);

  int open() const { return open_; }
  int open_from(const std::string& addr) const;

 private:
  const int max_connections_;
  const int max_per_address_;
  int open_ = 0;
  std::unordered_map<std::string, int> per_address_;  // addresses with connections open
};

// How long each phase may last (GateOptions' timeouts, in ms) and what happens after.
class PhaseDeadlines {
 public:
  using Clock = std::chrono::steady_clock;

  PhaseDeadlines(int idle_timeout_ms, int head_timeout_ms, int body_timeout_ms)
      : idle_ms_(idle_timeout_ms), head_ms_(head_timeout_ms), body_ms_(body_timeout_ms) {}

  // The deadline of `phase` entered at `now`: idle_timeout for kIdle, head_timeout for
  // kHead (and for a new connection's first request), body_timeout for kBody, 2 s for
  // kDraining. kBusy has none (Clock::time_point::max()); kFlushing's is the response's own
  // write budget, which the gate sets.
  Clock::time_point Of(ConnPhase phase, Clock::time_point now) const;

  // What the gate answers a connection whose deadline passed in `phase`: 408 with *message
  // when a head or body did not arrive in time; 0 when it is closed without an answer
  // (idle, draining, or not reading its response).
  int Expired(ConnPhase phase, std::string* message) const;

 private:
  const int idle_ms_, head_ms_, body_ms_;
};

}  // namespace coolfusion::server
