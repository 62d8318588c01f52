// cpp-httplib on the connection gate: httplib parses, routes and writes each request the
// gate has framed, on the gate's connection (GatedServer); the record of the request a
// worker is answering, for its log line (ThisThreadsRequest); and an ApiError as an
// answer (SendError). Routes are routes.h's; connections connection_gate.h's.
#pragma once

#include <httplib.h>

#include <chrono>

#include "server/connection_gate.h"
#include "server/json_fields.h"  // ApiError

namespace coolfusion::server {

// The request being answered on this thread (a gate worker answers one at a time): when
// it started (set by GatedServer::Answer) and the tokens it generated (-1: none; set by
// completion.cc), for the request log line (routes.cc).
struct RequestRecord {
  std::chrono::steady_clock::time_point start;
  int tokens = -1;
};
RequestRecord& ThisThreadsRequest();

// httplib's routing, request parsing and response writing, fed by the gate. Answer() is
// called from the gate's workers, several at a time.
class GatedServer : public httplib::Server {
 public:
  GatedServer();
  ~GatedServer() override;
  GatedServer(const GatedServer&) = delete;
  GatedServer& operator=(const GatedServer&) = delete;
  // Ends the response bodies being streamed (after the gate has stopped).
  void Shutdown();

  // Answers ex's request; returns whether the connection may carry another.
  bool Answer(Exchange& ex);

 private:
  const int placeholder_;
};

// Answers with `e`: its status and OpenAI's error object (openai.h ErrorBody).
void SendError(httplib::Response& res, const ApiError& e);

}  // namespace coolfusion::server
