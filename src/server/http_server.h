// The HTTP layer of `coolfusion serve`: routes, auth, limits, SSE streaming, metrics,
// and the web playground, on cpp-httplib. Connections are owned by ConnectionGate
// (connection_gate.h), which hands httplib only whole requests; concurrency lives in
// SlotPool; JSON in openai.h.
#pragma once

#include <coolfusion/engine.h>

#include <functional>
#include <string>
#include <vector>

#include "server/openai.h"

namespace coolfusion::server {

struct ServerOptions {
  std::string host = "127.0.0.1";  // loopback by default
  int port = 8080;                 // 0: any free port (reported through on_ready)
  int parallel = 1;                // request slots, each with its own contexts
  size_t max_queue = 16;           // requests that may wait for a slot; beyond: 429
  int queue_timeout_s = 120;       // a waiting request gives up after this (429)
  size_t max_body = 1 << 20;       // request body limit in bytes; beyond: 413
  int timeout_s = 30;         // a request's body must arrive, and each write drain, within this
  int max_connections = 512;  // open connections; beyond: 503
  int max_connections_per_address = 64;  // open connections from one client address; beyond: 429
  Limits limits;                         // max_tokens etc.
  std::string api_key;                   // non-empty: /v1/* require "Authorization: Bearer <key>"
};

// Loads `models` once per slot, listens, and serves until Stop() or SIGINT/SIGTERM.
// `on_ready(port)` is called once listening.
Status RunServer(const std::vector<ModelOptions>& models, const ServerOptions& opts,
                 const std::function<void(int)>& on_ready);

// Asks a running RunServer to return (async-signal-safe).
void StopServer();

}  // namespace coolfusion::server
