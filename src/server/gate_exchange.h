// Inside the connection gate (connection_gate.cc): one client connection as the gate holds
// it (Conn), and the exchange a worker answers one of its requests on (GateExchange).
#pragma once

#include <atomic>
#include <chrono>
#include <string>

#include "server/connection_gate.h"
#include "server/connection_limits.h"
#include "server/http_framing.h"

namespace coolfusion::server {

// One client connection. The gate thread owns it while it is sending a request or
// draining; a worker uses its socket (never its buffer) while answering.
struct Conn {
  using Phase = ConnPhase;
  int fd = -1;
  std::string addr, local_addr;
  int port = 0, local_port = 0;
  bool counted = false;  // counts toward its address's limit (ConnectionCounts)
  std::string buf;       // unread bytes (the next request's, or pipelined ones)
  RequestFramer framer;
  Phase phase = Phase::kIdle;
  std::chrono::steady_clock::time_point deadline;
  bool eof = false;  // the client has shut down its sending side
  bool continue_sent = false;
  // kFlushing: the rest of a response its worker left (Exchange::Write), sent by the gate,
  // and whether the connection closes once it is sent.
  std::string out;
  bool close_after_flush = false;
  explicit Conn(FramingLimits limits) : framer(limits) {}
};

// Writes never wait on the client while what it has not read fits in the connection's
// buffer (GateOptions::max_buffered_response): the rest is left in Conn::out for the gate
// to send, so a worker goes on to its next request. Beyond that a write waits, and every
// wait of the response counts against one budget (write_timeout_ms in all). Used by one
// worker thread; `opts` and `stopping` (the gate's) outlive it.
class GateExchange : public Exchange {
 public:
  using Clock = std::chrono::steady_clock;

  GateExchange(Conn* c, FramedRequest r, const GateOptions& opts,
               const std::atomic<bool>& stopping);
  const FramedRequest& request() const override { return req_; }
  const std::string& remote_addr() const override { return c_->addr; }
  int remote_port() const override { return c_->port; }
  const std::string& local_addr() const override { return c_->local_addr; }
  int local_port() const override { return c_->local_port; }
  int fd() const override { return c_->fd; }
  bool failed() const { return failed_; }
  // What is left of the response's budget for waiting on the client.
  Clock::duration wait_left() const { return wait_left_; }

  bool Write(const char* data, size_t size) override;
  bool Writable() override;
  bool ClientGone() override;

 private:
  bool Send(const char* data, size_t size);
  bool SendBuffered();
  // Waits until the socket takes more (at most 250 ms a turn, to notice a stop); false
  // once the response's waiting budget is spent or the server is stopping.
  bool WaitWritable();
  bool Fail();

  Conn* c_;
  FramedRequest req_;
  const GateOptions& opts_;
  const std::atomic<bool>& stopping_;
  Clock::duration wait_left_;
  size_t written_ = 0;
  bool failed_ = false;
  bool probed_ = false;
};

}  // namespace coolfusion::server
