// ConnectionGate: owns the listening socket and every connection until a whole request
// has arrived, so that slow or hostile clients cost a file descriptor and a buffer, never
// a thread. One thread polls every connection that is sending; only complete, framed
// requests (http_framing.h) go to a worker, and the worker gives the connection back
// when it has answered.
//
// What a client meets:
// - A request's head must be complete within `head_timeout_ms` of its first byte and its
//   body within `body_timeout_ms` of its head, as a whole, not per byte: else 408.
//   A connection that sends nothing is closed after `idle_timeout_ms` (nothing to answer).
// - At most `max_per_address` open connections per client address (429), and
//   `max_connections` in all (503); the refusal is sent at once and the connection closed.
// - Framing refusals (413 body too large, 415 compressed, 431 head too large, 400
//   ambiguous lengths, ...) are answered as soon as they are known, before the body.
// - Requests whose route `is_quick` says is cheap (health, metrics) have workers of their
//   own, so they are answered while every ordinary worker is busy generating.
// - Pipelined requests are answered in order; a request followed by the client's half
//   close is answered. They are read at most `max_read_ahead` bytes ahead of the one being
//   answered, and none while a response is being sent: the rest waits in the socket,
//   where TCP holds the client back (memory per connection is bounded).
// - A client that does not read cannot hold a worker: a response the socket does not take
//   at once is buffered (up to `max_buffered_response` bytes) and sent by the gate thread
//   while the worker goes on; only a larger response (a long stream) makes its worker wait.
//   All the waits of one response, the gate's included, are bounded together by
//   `write_timeout_ms`, not per write: past it the connection is closed.
//
// The counts and deadlines are connection_limits.h's (tested without sockets), the
// socket calls socket_io.h's, and the exchange a worker writes on gate_exchange.h's.
//
// Thread-safety: Run() on one thread; Stop() from any thread or a signal handler.
#pragma once

#include <coolfusion/status.h>

#include <atomic>
#include <functional>
#include <memory>
#include <string>

#include "server/http_framing.h"

namespace coolfusion::server {

struct GateOptions {
  std::string host = "127.0.0.1";
  int port = 8080;               // 0: any free port
  FramingLimits framing;         // head and body size limits
  int idle_timeout_ms = 5000;    // a connection silent this long before a request: closed
  int head_timeout_ms = 10000;   // first byte to end of head; else 408
  int body_timeout_ms = 30000;   // end of head to end of body; else 408
  int write_timeout_ms = 30000;  // a response may wait this long in all for its client to
                                 // read; past it the connection is closed
  size_t max_buffered_response = 256 << 10;  // bytes of a response held for a slow reader
  size_t max_read_ahead = 64 << 10;          // pipelined bytes read ahead of the answer
  int max_connections = 512;                 // open connections in all; beyond: 503
  int max_per_address = 64;                  // open connections from one address; beyond: 429
  int workers = 8;                           // threads for ordinary requests
  int quick_workers = 2;                     // threads for requests is_quick accepts
  // The body of a refusal the gate answers itself (status, one-line reason).
  std::function<std::string(int status, const std::string& message)> error_body;
  // Whether a request goes to the quick workers.
  std::function<bool(const FramedRequest&)> is_quick;
};

// One request being answered by a worker: the framed request and the way back.
class Exchange {
 public:
  virtual ~Exchange() = default;
  virtual const FramedRequest& request() const = 0;
  virtual const std::string& remote_addr() const = 0;
  virtual int remote_port() const = 0;
  virtual const std::string& local_addr() const = 0;
  virtual int local_port() const = 0;
  virtual int fd() const = 0;
  // Writes all of `data`, or buffers what the client has not yet read (the gate sends it
  // after the worker is done); waits only when the buffer is full. False when the client
  // is gone or the response's waits have passed the write timeout (the exchange has then
  // failed and the connection will be closed).
  virtual bool Write(const char* data, size_t size) = 0;
  // Whether writing can go on (false once a write failed or the client is known gone).
  virtual bool Writable() = 0;
  // Whether the client has gone away, without writing anything the response would
  // include: a reset or error, or a close noticed after the server began stopping. A
  // client that shuts down only its sending side is not gone: when its close is seen
  // before the response has begun, the gate sends an interim "100 Continue" (which every
  // HTTP/1.1 client reads past) and a client that has gone answers it with a reset.
  virtual bool ClientGone() = 0;
};

class ConnectionGate {
 public:
  // `serve` answers one request; it returns whether the connection may carry another.
  using Serve = std::function<bool(Exchange&)>;

  ConnectionGate(GateOptions options, Serve serve);
  ~ConnectionGate();
  ConnectionGate(const ConnectionGate&) = delete;
  ConnectionGate& operator=(const ConnectionGate&) = delete;

  // Binds and listens; `*port` is the bound port. Unsupported: the address is in use or
  // not this machine's.
  Status Listen(int* port);
  // Serves until Stop(); then closes the connections waiting and waits for the workers.
  void Run();
  // Makes Run return (async-signal-safe).
  void Stop();

  // The exchange the calling thread is answering (a worker inside `serve`), else null.
  static Exchange* Current();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace coolfusion::server
