#include "server/http_server.h"

#include <httplib.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>

#include "server/metrics.h"
#include "server/playground_html.h"
#include "server/slot_pool.h"

namespace coolfusion::server {

namespace {

std::atomic<httplib::Server*> g_server{nullptr};

void OnSignal(int) {
  if (httplib::Server* s = g_server.load()) s->stop();
}

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
      // The JSON comes at the end; while generating, a space (valid leading JSON
      // whitespace) every quarter second finds out whether the client is still there,
      // so that a client that went away cancels its generation and frees its slot.
      res.set_chunked_content_provider(
          "application/json",
          [this, ar, lease, id, created, route = req.path](size_t, httplib::DataSink& sink) {
            return Guarded(sink, route, false, [&] {
              bool gone = false;
              auto last = std::chrono::steady_clock::now();
              GenerationResult g;
              const auto t0 = last;
              Status st = (*lease)->ensemble().Generate(
                  ar->request,
                  [&](const Segment&, std::string_view) {
                    const auto now = std::chrono::steady_clock::now();
                    if (now - last > std::chrono::milliseconds(250)) {
                      last = now;
                      if (!sink.write(" ", 1)) gone = true;
                    }
                    return !gone;
                  },
                  &g);
              lease->reset();
              metrics_.CountGeneration(g.n_new_tokens, (int)g.segments.size(), Seconds(t0), gone);
              if (!gone) {
                const std::string body = st.ok() ? CompletionBody(*ar, g, id, created, ids_).dump()
                                                 : ErrorBody(ErrorFromStatus(st));
                sink.write(body.data(), body.size());
              }
              sink.done();
            });
          });
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
            Status st = (*lease)->ensemble().Generate(
                ar->request,
                [&](const Segment& seg, std::string_view delta) {
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
  httplib::Server svr;
  const size_t threads = (size_t)opts.parallel + opts.max_queue + 8;
  svr.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  svr.set_payload_max_length(opts.max_body);
  svr.set_read_timeout(30, 0);
  svr.set_write_timeout(30, 0);
  Service service(pool, opts, ids, paths);
  service.Register(svr);

  int port = opts.port;
  if (port == 0) {
    port = svr.bind_to_any_port(opts.host.c_str());
    if (port < 0) return Status::Unsupported("cannot bind " + opts.host);
  } else if (!svr.bind_to_port(opts.host.c_str(), port)) {
    return Status::Unsupported("cannot listen on " + opts.host + ":" + std::to_string(port) +
                               " (in use, or not an address of this machine)");
  }
  std::signal(SIGPIPE, SIG_IGN);
  g_server = &svr;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (on_ready) on_ready(port);
  svr.listen_after_bind();
  g_server = nullptr;
  return Status::Ok();
}

}  // namespace coolfusion::server
