// `coolfusion serve`: its options, and RunServer, which puts the pieces together: the
// connection gate (connection_gate.h) owns every connection and hands cpp-httplib
// (httplib_adapter.h) only whole requests; the routes (routes.h) and completions
// (completion.h) answer them; the models load beside (loaded_models.h); concurrency lives
// in SlotPool; JSON in request.h, openai.h and llama_compat.h.
#pragma once

#include <coolfusion/engine.h>

#include <functional>
#include <string>
#include <vector>

#include "server/request.h"

namespace coolfusion::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback by default; while it is a loopback address,
                                   // a request whose Host header names another host is
                                   // refused 403 (DNS rebinding: HostHeaderAllowed)
  int port = 8080;                 // 0: any free port (reported through on_ready)
  int parallel = 1;                // request slots, each with its own contexts
  size_t max_queue = 16;           // requests that may wait for a slot; beyond: 429
  int queue_timeout_s = 120;       // a waiting request gives up after this (429)
  size_t max_body = 1 << 20;       // request body limit in bytes; beyond: 413
  int timeout_s = 30;         // a request's body must arrive within this, and a response may wait
                              // this long in all for its client to read
  int max_connections = 512;  // open connections; beyond: 503
  int max_connections_per_address = 64;  // open connections from one client address; beyond: 429
  Limits limits;                         // max_tokens etc.
  std::string api_key;  // non-empty: /v1/* and llama-server's endpoints (/completion,
                        // /tokenize, /detokenize, /props, /slots) require
                        // "Authorization: Bearer <key>"; /, /health and /metrics do not
  std::vector<std::string> cors_origins;  // web origins whose pages may call the server
                                          // (CORS); "*": any; empty (default): none
  std::string alias;         // the ensemble's model id; empty: "coolfusion" ("coolfusion"
                             // names the ensemble in requests either way)
  bool log_requests = true;  // a line per request on stderr (llama_compat.h RequestLogLine);
                             // not for GET /health and /metrics
};

// Listens, then loads `models` once per slot, and serves until Stop() or SIGINT/SIGTERM.
// While the models load every request but the playground is answered 503 with
// llama-server's {"error": {"code": 503, "message": "Loading model", ...}}.
// `on_listening(port)` is called once listening (before loading), `on_ready(port)` once the
// models are loaded (from another thread). A failed load stops the server and is returned.
Status RunServer(const std::vector<ModelOptions>& models, const ServerOptions& opts,
                 const std::function<void(int)>& on_ready,
                 const std::function<void(int)>& on_listening = nullptr);

// Asks a running RunServer to return (async-signal-safe).
void StopServer();

}  // namespace coolfusion::server
