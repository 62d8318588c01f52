// HTTP/1.1 request framing: where one request in a connection's bytes ends, decided from
// its head alone, before anything else reads it. The server's connection gate
// (connection_gate.h) buffers bytes until a RequestFramer says the request is complete,
// and refuses it as soon as a limit is known to be crossed: a Content-Length above the
// body limit is a 413 when the head arrives, not after the body; a chunked body is a 413
// the moment its decoded size passes the limit.
//
// What it accepts is deliberately narrow, so that what it frames and what the HTTP layer
// later parses cannot disagree (request smuggling): one Content-Length value (repeats
// must be equal), or `Transfer-Encoding: chunked` alone; no Content-Encoding (a
// compressed body's decoded size is unknown until decoded: 415); no obsolete line
// folding; HTTP/1.0 or 1.1. The request it hands on is normalized: the same request line
// and headers, less Content-Length, Transfer-Encoding, Content-Encoding and Expect, plus
// one Content-Length and the decoded body.
//
// Pure code: no sockets, no clocks. Tested in tests/server/http_framing_test.cc and
// fuzzed by fuzz_framing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion::server {

struct FramingLimits {
  size_t max_head_bytes = 16 << 10;  // request line + headers; beyond: 431
  size_t max_body_bytes = 1 << 20;   // decoded body; beyond: 413
};

// A refusal: the HTTP status to answer with and a one-line reason.
struct FramingError {
  int status = 0;
  std::string message;
};

// One complete request.
struct FramedRequest {
  std::string method;      // as sent ("POST")
  std::string target;      // as sent ("/v1/completions?x=1")
  bool http11 = true;      // HTTP/1.1 (else 1.0)
  bool keep_alive = true;  // the connection may carry another request after this one
  size_t consumed = 0;     // bytes of the connection's buffer this request took
  std::string normalized;  // the request as the HTTP layer should read it (see above)
};

class RequestFramer {
 public:
  enum class State { kNeedMore, kComplete, kError };

  explicit RequestFramer(FramingLimits limits) : limits_(limits) {}

  // Looks at `buf`: the connection's unread bytes, from the first byte of this request.
  // Between calls `buf` may only grow at its end (the framer remembers how far it has
  // read). kComplete: Take() the request. kError: `*err` says what to answer.
  State Scan(std::string_view buf, FramingError* err);

  // True once the head is complete and accepted (Scan returned kNeedMore for the body,
  // or kComplete): a client that sent "Expect: 100-continue" may now be told to go on.
  bool head_done() const { return head_done_; }
  bool expects_continue() const { return expect_continue_; }
  // True once any byte of the request (not just blank lines before it) has been seen.
  bool started() const { return started_; }

  // After Scan returned kComplete: the request, built from `buf` (the same bytes). The
  // framer is reset for the connection's next request.
  FramedRequest Take(std::string_view buf);

 private:
  State ScanHead(std::string_view buf, FramingError* err);
  State ScanChunked(std::string_view buf, FramingError* err);
  State Fail(FramingError* err, int status, std::string message);

  FramingLimits limits_;
  // Head.
  bool started_ = false;
  bool head_done_ = false;
  size_t skip_ = 0;      // blank lines before the request line
  size_t head_end_ = 0;  // offset just past the blank line ending the head
  size_t scanned_ = 0;   // how far the search for the head's end has looked
  bool expect_continue_ = false;
  bool chunked_ = false;
  bool had_length_ = false;
  uint64_t length_ = 0;  // Content-Length
  FramedRequest req_;    // method, target, version, keep_alive; head lines kept
  std::string kept_head_;
  // Chunked body, decoded as it arrives.
  enum class Chunk { kSize, kData, kDataEnd, kTrailer, kDone };
  Chunk chunk_state_ = Chunk::kSize;
  size_t chunk_pos_ = 0;  // offset in buf where the chunked decoder stands
  uint64_t chunk_left_ = 0;
  size_t trailer_bytes_ = 0;
  std::string body_;  // the decoded chunked body
  size_t end_ = 0;    // offset just past the whole request, once complete
};

// Text from a request as a log may show it: every byte outside printable ASCII, and the
// backslash, as \xNN, so that a client cannot forge a log line (CR, LF), cut one (NUL) or
// drive a terminal (ESC). Bytes in 0x20..0x7e other than '\' are kept.
std::string EscapeForLog(std::string_view text);

// Whether `host` (an address or name, without port) names this machine's loopback
// interface: "localhost", 127.0.0.0/8, "::1" (brackets allowed).
bool IsLoopbackHost(std::string_view host);

// Against DNS rebinding, for a server bound to a loopback address: whether a request's
// Host header (name or address, optional ":port") names the server as a local client
// would: "localhost", a loopback address, or `bound_host` itself. A missing Host (an
// HTTP/1.0 client) is allowed.
bool HostHeaderAllowed(std::string_view host_header, std::string_view bound_host);

// CORS: the Access-Control-Allow-Origin value for a request's Origin header given the
// --cors-origin list ("*" allows any origin and is answered as "*"; else an exact,
// case-insensitive match is answered with the origin itself), or "" (no CORS headers).
std::string CorsAllowOrigin(std::string_view origin, const std::vector<std::string>& allowed);

}  // namespace coolfusion::server
