// The server's routes on cpp-httplib: which paths take which methods, the checks every
// request meets first (Host, CORS, API key, 405, 503 while loading), the small endpoints
// (/, /health, /metrics, /v1/models, /tokenize, /detokenize, /props, /slots), the
// completions (completion.h), error answers, metrics and the request log.
#pragma once

#include <atomic>

#include "server/completion.h"
#include "server/http_server.h"
#include "server/loaded_models.h"
#include "server/metrics.h"

namespace httplib {
class Server;
struct Request;
struct Response;
}  // namespace httplib

namespace coolfusion::server {

// Thread-safe once registered: the handlers run on every gate worker at once.
class Routes {
 public:
  explicit Routes(const ServerOptions& opts);  // `opts` outlives this

  // Registers every route and handler on `svr`.
  void Register(httplib::Server& svr);

  // Publishes the loaded models; every route but the playground answers 503 until then.
  // `loaded` must outlive the serving.
  void SetReady(const LoadedModels* loaded) {
    loaded_ = loaded;
    ready_.store(true, std::memory_order_release);
  }

 private:
  bool ready() const { return ready_.load(std::memory_order_acquire); }
  // The checks every request meets before its route (Host, CORS and OPTIONS, 405, API
  // key, 503 while loading); true when one of them answered it.
  bool AnsweredFirst(const httplib::Request& req, httplib::Response& res) const;
  void Tokenize(const httplib::Request& req, httplib::Response& res) const;
  void Detokenize(const httplib::Request& req, httplib::Response& res) const;
  // Counts every answered request and logs it (but /health and /metrics): called once the
  // response is written, a streamed body included.
  void Log(const httplib::Request& req, const httplib::Response& res);

  const ServerOptions& opts_;
  const bool check_host_;  // bound to loopback: the Host header must name it
  std::atomic<bool> ready_{false};
  const LoadedModels* loaded_ = nullptr;  // set before ready_ turns true; read only after
  Metrics metrics_;
  Completions completions_;
};

}  // namespace coolfusion::server
