#include "server/http_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <random>
#include <string_view>

#include "server/connection_gate.h"
#include "server/metrics.h"
#include "server/playground_html.h"
#include "server/slot_pool.h"

namespace coolfusion::server {

namespace {

std::atomic<ConnectionGate*> g_gate{nullptr};

void OnSignal(int) {
  if (ConnectionGate* g = g_gate.load()) g->Stop();
}

// The routes and the methods each takes; another method on a known route is a 405.
struct Route {
  const char* path;
  const char* methods;  // the Allow header
};
constexpr Route kRoutes[] = {
    {"/", "GET, OPTIONS"},
    {"/health", "GET, OPTIONS"},
    {"/metrics", "GET, OPTIONS"},
    {"/v1/models", "GET, OPTIONS"},
    {"/v1/completions", "POST, OPTIONS"},
    {"/v1/chat/completions", "POST, OPTIONS"},
};

const Route* FindRoute(const std::string& path) {
  for (const Route& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

// httplib reads and answers one request from a Stream; this one is a request the gate
// has already framed, answered on the gate's connection.
class ExchangeStream : public httplib::Stream {
 public:
  explicit ExchangeStream(Exchange& ex) : ex_(ex), in_(ex.request().normalized) {}
  bool is_readable() const override { return pos_ < in_.size(); }
  bool is_writable() const override { return ex_.Writable(); }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return (ssize_t)n;
  }
  ssize_t write(const char* ptr, size_t size) override {
    return ex_.Write(ptr, size) ? (ssize_t)size : -1;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = ex_.remote_addr();
    port = ex_.remote_port();
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = ex_.local_addr();
    port = ex_.local_port();
  }
  // httplib uses the descriptor only to refuse one above FD_SETSIZE (it would select()
  // on it); every read and write here goes through the exchange instead.
  socket_t socket() const override { return -1; }

 private:
  Exchange& ex_;
  const std::string& in_;
  size_t pos_ = 0;
};

// httplib's routing, request parsing and response writing, fed by the gate.
class GatedServer : public httplib::Server {
 public:
  // httplib streams a content provider only while its listening socket is valid (that is
  // its "not shutting down" test). It never listens here: a descriptor on /dev/null
  // stands in, and Shutdown() ends the streams in flight.
  GatedServer() : placeholder_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
    svr_sock_ = placeholder_;
  }
  ~GatedServer() override {
    svr_sock_ = INVALID_SOCKET;
    if (placeholder_ >= 0) ::close(placeholder_);
  }
  GatedServer(const GatedServer&) = delete;
  GatedServer& operator=(const GatedServer&) = delete;
  void Shutdown() { svr_sock_ = INVALID_SOCKET; }

  // Answers ex's request; returns whether the connection may carry another.
  bool Answer(Exchange& ex) {
    ExchangeStream strm(ex);
    bool closed = false;
    const bool ok = process_request(strm, false, closed, [](httplib::Request&) {});
    return ok && !closed;
  }

 private:
  const int placeholder_;
};

class Service {
 public:
  Service(SlotPool& pool, const ServerOptions& opts, std::vector<std::string> ids,
          std::vector<std::string> paths)
      : pool_(pool),
        opts_(opts),
        ids_(std::move(ids)),
        paths_(std::move(paths)),
        rng_(std::random_device{}()) {}

  void Register(httplib::Server& svr) {
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Access-Control-Allow-Origin", "*");
      if (req.method == "OPTIONS") {
        res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
        res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
      if (const Route* r = FindRoute(req.path);
          r != nullptr && std::string_view(r->methods).find(req.method) == std::string_view::npos) {
        res.set_header("Allow", r->methods);
        ApiError e;
        e.status = 405;
        e.message =
            req.method + " is not allowed on " + req.path + " (allowed: " + r->methods + ")";
        SendError(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!opts_.api_key.empty() && req.path.rfind("/v1/", 0) == 0 &&
          req.get_header_value("Authorization") != "Bearer " + opts_.api_key) {
        ApiError e;
        e.status = 401;
        e.message = "Incorrect or missing API key: send 'Authorization: Bearer <key>'";
        e.code = "invalid_api_key";
        SendError(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kPlaygroundHtml, "text/html; charset=utf-8");
    });
    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      const nlohmann::json j = {{"status", "ok"},
                                {"slots", pool_.size()},
                                {"slots_busy", pool_.busy()},
                                {"queue_waiting", pool_.waiting()}};
      res.set_content(j.dump(), "application/json");
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(ModelsBody(ids_, paths_).dump(), "application/json");
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(metrics_.Render(pool_.size(), pool_.busy(), pool_.waiting()),
                      "text/plain; version=0.0.4");
    });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      Complete(req, res, true);
    });
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      Complete(req, res, false);
    });
    svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      ApiError e;
      e.status = res.status;
      if (res.status == 413) {
        e.message = "request body too large";
      } else if (res.status == 404) {
        e.message = "unknown endpoint " + req.method + " " + req.path;
      } else {
        e.message = "HTTP error " + std::to_string(res.status);
      }
      SendError(res, e);
    });
    svr.set_exception_handler(
        [](const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
          // The catch-all: whatever a handler threw is a logged 500 naming the route.
          std::string what = "unknown exception";
          try {
            if (ep) std::rethrow_exception(ep);
          } catch (const std::exception& ex) {
            what = ex.what();
          } catch (...) {
          }
          std::fprintf(stderr, "error: %s %s: %s\n", req.method.c_str(), req.path.c_str(),
                       what.c_str());
          ApiError e;
          e.status = 500;
          e.type = "server_error";
          e.message = "internal error in " + req.method + " " + req.path;
          SendError(res, e);
        });
    svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const bool known = req.path == "/" || req.path == "/health" || req.path == "/metrics" ||
                         req.path == "/v1/models" || req.path == "/v1/completions" ||
                         req.path == "/v1/chat/completions";
      metrics_.CountRequest(known ? req.path : "other", res.status);
    });
  }

 private:
  static void SendError(httplib::Response& res, const ApiError& e) {
    res.status = e.status;
    res.set_content(ErrorBody(e), "application/json");
  }

  std::string NewId(bool chat) {
    MutexLock lock(&mu_);
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s-%016llx", chat ? "chatcmpl" : "cmpl",
                  (unsigned long long)rng_());
    return buf;
  }

  void Complete(const httplib::Request& req, httplib::Response& res, bool chat) {
    auto ar = std::make_shared<ApiRequest>();
    ApiError err;
    if (!ParseRequest(req.body, chat, opts_.limits, ids_, ar.get(), &err))
      return SendError(res, err);
    Status st = pool_.any().Validate(ar->request);
    if (!st.ok()) {
      ApiError e = ErrorFromStatus(st);
      if (st.message().rfind("grammar:", 0) == 0) e.param = ar->grammar_param;
      return SendError(res, e);
    }
    auto lease = std::make_shared<std::unique_ptr<SlotPool::Lease>>();
    // Of the free slots, the one whose prompt cache holds most of this prompt.
    const Request& request = ar->request;
    st = pool_.Acquire(nullptr, std::chrono::milliseconds(50),
                       std::chrono::seconds(opts_.queue_timeout_s), lease.get(),
                       [&request](const Ensemble& e) { return e.CachedPrefix(request); });
    if (!st.ok()) return SendError(res, QueueError(st));
    const std::string id = NewId(chat);
    const int64_t created = (int64_t)std::time(nullptr);
    if (!ar->stream) {
      // Generated here, before anything is sent, so that the status tells the outcome.
      // Every quarter second the gate is asked whether the client has gone (without
      // writing to it); one that has cancels its generation and frees its slot.
      Exchange* ex = ConnectionGate::Current();
      bool gone = false;
      auto last = std::chrono::steady_clock::now();
      const auto t0 = last;
      GenerationResult g;
      st = (*lease)->ensemble().Generate(
          ar->request,
          [&](const Segment&, std::string_view) {
            const auto now = std::chrono::steady_clock::now();
            if (now - last > std::chrono::milliseconds(250)) {
              last = now;
              gone = ex != nullptr && ex->ClientGone();
            }
            return !gone;
          },
          &g);
      lease->reset();
      metrics_.CountGeneration(g.n_new_tokens, (int)g.segments.size(), Seconds(t0), gone);
      if (gone) {
        res.status = 499;  // nginx's "client closed request": logged, never read
        return;
      }
      if (!st.ok()) return SendError(res, ErrorFromStatus(st));
      res.set_content(CompletionBody(*ar, g, id, created, ids_).dump(), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream",
        [this, ar, lease, id, created, route = req.path](size_t, httplib::DataSink& sink) {
          return Guarded(sink, route, true, [&] {
            bool gone = false;
            auto send = [&](const nlohmann::json& j) {
              const std::string s = "data: " + j.dump() + "\n\n";
              if (!gone && !sink.write(s.data(), s.size())) gone = true;
              return !gone;
            };
            send(ChunkBody(*ar, id, created, "", true, nullptr, nullptr, ids_));
            GenerationResult g;
            const auto t0 = std::chrono::steady_clock::now();
            auto last = t0;
            Exchange* ex = ConnectionGate::Current();
            Status st = (*lease)->ensemble().Generate(
                ar->request,
                [&](const Segment& seg, std::string_view delta) {
                  // A client that reset, or a server stopping, ends the stream between writes.
                  const auto now = std::chrono::steady_clock::now();
                  if (now - last > std::chrono::milliseconds(250)) {
                    last = now;
                    if (ex != nullptr && ex->ClientGone()) gone = true;
                  }
                  if (gone) return false;
                  if (delta.empty() && !ar->trace) return !gone;
                  return send(ChunkBody(*ar, id, created, delta, false, nullptr, &seg, ids_));
                },
                &g);
            lease->reset();  // the slot is free as soon as generation ends
            metrics_.CountGeneration(g.n_new_tokens, (int)g.segments.size(), Seconds(t0), gone);
            if (!st.ok()) {
              ApiError e = ErrorFromStatus(st);
              send(nlohmann::json::parse(ErrorBody(e)));
            } else if (!gone) {
              nlohmann::json last = ChunkBody(*ar, id, created, "", false,
                                              FinishReason(g.stop_reason), nullptr, ids_);
              if (!g.models.empty()) last["coolfusion"] = ModelWeights(*ar, g, ids_);
              last["timings"] = TimingsBody(g);
              send(last);
              if (ar->include_usage) send(UsageChunk(*ar, id, created, g));
            }
            if (!gone) {
              static const char kDone[] = "data: [DONE]\n\n";
              sink.write(kDone, sizeof kDone - 1);
            }
            sink.done();
          });
        });
  }

  // The catch-all for a response body written after its handler returned (httplib's
  // exception handler covers only handlers): any exception is logged naming the route and
  // ends the body with an error (the status line has gone out already).
  template <class F>
  static bool Guarded(httplib::DataSink& sink, const std::string& route, bool sse, F&& body) {
    try {
      body();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: POST %s: %s\n", route.c_str(), e.what());
      ApiError err;
      err.status = 500;
      err.type = "server_error";
      err.message = "internal error in POST " + route;
      const std::string s = sse ? "data: " + ErrorBody(err) + "\n\n" : ErrorBody(err);
      sink.write(s.data(), s.size());
      sink.done();
    }
    return true;
  }

  static double Seconds(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }

  SlotPool& pool_;
  const ServerOptions& opts_;
  const std::vector<std::string> ids_;
  const std::vector<std::string> paths_;
  Metrics metrics_;
  Mutex mu_;
  std::mt19937_64 rng_ GUARDED_BY(mu_);
};

}  // namespace

void StopServer() { OnSignal(0); }

Status RunServer(const std::vector<ModelOptions>& models, const ServerOptions& opts,
                 const std::function<void(int)>& on_ready) {
  if (opts.parallel < 1 || opts.parallel > 256)
    return Status::InvalidArgument("--parallel must be in 1..256");
  if (opts.port < 0 || opts.port > 65535)
    return Status::InvalidArgument("--port must be in 0..65535");
  std::vector<std::unique_ptr<Ensemble>> slots;
  for (int i = 0; i < opts.parallel; ++i) {
    std::unique_ptr<Ensemble> e;
    CF_RETURN_IF_ERROR(Ensemble::Open(models, &e));
    slots.push_back(std::move(e));
  }
  std::vector<std::string> ids{kEnsembleModelId}, paths;
  for (size_t i = 0; i < slots[0]->size(); ++i) {
    std::string id = std::filesystem::path(slots[0]->info(i).path).stem().string();
    for (const auto& prev : ids) {
      if (prev == id) id.append(1, '#').append(std::to_string(i));
    }
    ids.push_back(id);
    paths.push_back(slots[0]->info(i).path);
  }
  SlotPool pool(std::move(slots), opts.max_queue);
  GatedServer svr;
  svr.set_payload_max_length(opts.max_body);
  Service service(pool, opts, ids, paths);
  service.Register(svr);

  GateOptions g;
  g.host = opts.host;
  g.port = opts.port;
  g.framing.max_body_bytes = opts.max_body;
  g.body_timeout_ms = opts.timeout_s * 1000;
  g.write_timeout_ms = opts.timeout_s * 1000;
  g.max_connections = opts.max_connections;
  g.max_per_address = opts.max_connections_per_address;
  // A worker for every slot and every queue place, as before; more wait in the gate.
  g.workers = opts.parallel + (int)std::min<size_t>(opts.max_queue, 4096) + 8;
  g.error_body = [](int status, const std::string& message) {
    ApiError e;
    e.status = status;
    e.message = message;
    return ErrorBody(e);
  };
  g.is_quick = [](const FramedRequest& r) {
    const std::string path = r.target.substr(0, r.target.find('?'));
    return r.method == "GET" && (path == "/health" || path == "/metrics");
  };
  ConnectionGate gate(std::move(g), [&svr](Exchange& ex) { return svr.Answer(ex); });
  int port = 0;
  CF_RETURN_IF_ERROR(gate.Listen(&port));
  std::signal(SIGPIPE, SIG_IGN);
  g_gate = &gate;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (on_ready) on_ready(port);
  gate.Run();
  svr.Shutdown();
  g_gate = nullptr;
  return Status::Ok();
}

}  // namespace coolfusion::server
