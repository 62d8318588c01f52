#include "server/http_server.h"

#include <fcntl.h>
#include <httplib.h>
#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <mutex>
#include <random>
#include <string_view>
#include <thread>

#include "server/connection_gate.h"
#include "server/llama_compat.h"
#include "server/metrics.h"
#include "server/playground_html.h"
#include "server/slot_pool.h"

namespace coolfusion::server {

namespace {

std::atomic<ConnectionGate*> g_gate{nullptr};

void OnSignal(int) {
  if (ConnectionGate* g = g_gate.load()) g->Stop();
}

// Gives freed memory back to the system after heavy requests. glibc keeps what a thread
// frees in that thread's arena (there are up to 8 per core, and every worker may use its
// own), so resident memory ratcheted up with each heavy request a new worker answered:
// ten identical heavy requests took the server from 349 MB to 1.33 GB. After each request,
// when the resident set stands `kStep` above its lowest point since the last trim,
// malloc_trim(0) returns the free pages of every arena. Costs a read of /proc/self/statm
// per request; a trim takes milliseconds and holds each arena's lock only while it walks it.
// Thread-safe.
class MemoryTrimmer {
 public:
  static constexpr size_t kStep = 64 << 20;

  void AfterRequest() {
    const size_t rss = ResidentBytes();
    size_t low = low_.load(std::memory_order_relaxed);
    while (rss < low && !low_.compare_exchange_weak(low, rss)) {
    }
    if (rss < low + kStep || trimming_.exchange(true)) return;
    ::malloc_trim(0);
    low_.store(ResidentBytes());
    trimming_.store(false);
  }

 private:
  static size_t ResidentBytes() {
    FILE* f = std::fopen("/proc/self/statm", "r");
    if (f == nullptr) return 0;
    unsigned long size = 0, resident = 0;
    const int n = std::fscanf(f, "%lu %lu", &size, &resident);
    std::fclose(f);
    return n == 2 ? (size_t)resident * (size_t)::sysconf(_SC_PAGESIZE) : 0;
  }

  std::atomic<size_t> low_{SIZE_MAX};
  std::atomic<bool> trimming_{false};
};

// The request being answered on this thread (a gate worker answers one at a time): when
// it started and the tokens it generated (-1: none), for the request log.
thread_local std::chrono::steady_clock::time_point t_request_start;
thread_local int t_request_tokens = -1;

// The routes and the methods each takes; another method on a known route is a 405.
struct Route {
  const char* path;
  const char* methods;  // the Allow header
  bool needs_key;       // with --api-key (every /v1/ path needs it besides)
};
constexpr Route kRoutes[] = {
    {"/", "GET, OPTIONS", false},
    {"/health", "GET, OPTIONS", false},
    {"/metrics", "GET, OPTIONS", false},
    {"/v1/models", "GET, OPTIONS", true},
    {"/v1/completions", "POST, OPTIONS", true},
    {"/v1/chat/completions", "POST, OPTIONS", true},
    // llama-server's own (llama_compat.h)
    {"/completion", "POST, OPTIONS", true},
    {"/completions", "POST, OPTIONS", true},
    {"/tokenize", "POST, OPTIONS", true},
    {"/detokenize", "POST, OPTIONS", true},
    {"/props", "GET, OPTIONS", true},
    {"/slots", "GET, OPTIONS", true},
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
    t_request_start = std::chrono::steady_clock::now();
    t_request_tokens = -1;
    ExchangeStream strm(ex);
    bool closed = false;
    const bool ok = process_request(strm, false, closed, [](httplib::Request&) {});
    return ok && !closed;
  }

 private:
  const int placeholder_;
};

// What the server knows once its models are loaded.
struct Loaded {
  std::unique_ptr<SlotPool> pool;
  std::vector<std::string> ids;    // ids[0]: the ensemble; ids[1 + i]: source model i
  std::vector<std::string> files;  // per source model: its file name (no directory)
  std::vector<SourceModel> sources;
  std::vector<std::vector<std::string>> pieces;  // per source model: its vocabulary's text
  std::vector<int32_t> n_vocab;
  std::vector<size_t> max_piece_bytes;  // per source model: its longest token's text
  ApiRequest defaults;                  // a request that sets nothing (/props, /slots)
};

class Service {
 public:
  explicit Service(const ServerOptions& opts)
      : opts_(opts), check_host_(IsLoopbackHost(opts.host)), rng_(std::random_device{}()) {}

  // Publishes the loaded models; every route but the playground answers 503 until then.
  // `loaded` must outlive the serving.
  void SetReady(const Loaded* loaded) {
    loaded_ = loaded;
    ready_.store(true, std::memory_order_release);
  }

  void Register(httplib::Server& svr) {
    svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      // CORS only for the origins --cors-origin names (none by default): a web page the
      // user visits elsewhere cannot read this server's answers.
      const std::string allow_origin =
          CorsAllowOrigin(req.get_header_value("Origin"), opts_.cors_origins);
      if (!opts_.cors_origins.empty()) res.set_header("Vary", "Origin");
      if (!allow_origin.empty()) res.set_header("Access-Control-Allow-Origin", allow_origin);
      if (check_host_ && !HostHeaderAllowed(req.get_header_value("Host"), opts_.host)) {
        ApiError e;
        e.status = 403;
        e.message = "the Host header '" + req.get_header_value("Host") +
                    "' does not name this server (it listens on " + opts_.host +
                    "; bind another --host to be reached by other names)";
        e.code = "host_not_allowed";
        SendError(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (req.method == "OPTIONS") {
        if (!allow_origin.empty()) {
          res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
          res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
          res.set_header("Access-Control-Max-Age", "600");
        }
        res.status = 204;
        return httplib::Server::HandlerResponse::Handled;
      }
      const Route* r = FindRoute(req.path);
      if (r != nullptr && std::string_view(r->methods).find(req.method) == std::string_view::npos) {
        res.set_header("Allow", r->methods);
        ApiError e;
        e.status = 405;
        e.message =
            req.method + " is not allowed on " + req.path + " (allowed: " + r->methods + ")";
        SendError(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }
      if (!opts_.api_key.empty() && (req.path.rfind("/v1/", 0) == 0 || (r && r->needs_key)) &&
          req.get_header_value("Authorization") != "Bearer " + opts_.api_key) {
        ApiError e;
        e.status = 401;
        e.message = "Incorrect or missing API key: send 'Authorization: Bearer <key>'";
        e.code = "invalid_api_key";
        SendError(res, e);
        return httplib::Server::HandlerResponse::Handled;
      }
      // llama-server's answer while the models load, on every route but the playground's
      // page (which then shows the server's state).
      if (!ready() && req.path != "/") {
        res.status = 503;
        res.set_content(LoadingBody(), "application/json");
        return httplib::Server::HandlerResponse::Handled;
      }
      return httplib::Server::HandlerResponse::Unhandled;
    });
    svr.Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_content(kPlaygroundHtml, "text/html; charset=utf-8");
    });
    svr.Get("/health", [this](const httplib::Request&, httplib::Response& res) {
      const SlotPool& pool = *loaded_->pool;
      const nlohmann::json j = {{"status", "ok"},
                                {"slots", pool.size()},
                                {"slots_busy", pool.busy()},
                                {"queue_waiting", pool.waiting()}};
      res.set_content(j.dump(), "application/json");
    });
    svr.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
      res.set_content(ModelsBody(loaded_->ids, loaded_->files).dump(), "application/json");
    });
    svr.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
      const SlotPool& pool = *loaded_->pool;
      res.set_content(metrics_.Render(pool.size(), pool.busy(), pool.waiting()),
                      "text/plain; version=0.0.4");
    });
    svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
      Complete(req, res, Shape::kChat);
    });
    svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
      Complete(req, res, Shape::kCompletions);
    });
    for (const char* path : {"/completion", "/completions"}) {
      svr.Post(path, [this](const httplib::Request& req, httplib::Response& res) {
        Complete(req, res, Shape::kNative);
      });
    }
    svr.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
      TokenizeRequest t;
      ApiError err;
      if (!ParseTokenize(req.body, loaded_->ids, &t, &err)) return SendError(res, err);
      const SourceModel& m = loaded_->sources[t.model];
      // Bounded as a prompt is: a text the context cannot hold is refused before it is
      // tokenized (300,000 CJK characters took 15 s on a byte-fallback vocabulary), and
      // the answer has at most n_ctx tokens.
      if (!CheckTextFitsContext(t.content.size(), m, loaded_->max_piece_bytes[t.model], "content",
                                &err))
        return SendError(res, err);
      std::vector<int32_t> tokens;
      Status st = loaded_->pool->any().Tokenize(t.model, t.content, &tokens);
      if (!st.ok()) {
        err = ErrorFromStatus(st);
        err.param = "content";
        return SendError(res, err);
      }
      if (!CheckTokensFitContext(tokens.size(), m, "content", &err)) return SendError(res, err);
      res.set_content(TokenizeBody(tokens, t.with_pieces, loaded_->pieces[t.model]).dump(),
                      "application/json");
    });
    svr.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
      DetokenizeRequest d;
      ApiError err;
      if (!ParseDetokenize(req.body, loaded_->ids, loaded_->n_vocab, &d, &err) ||
          !CheckTokensFitContext(d.tokens.size(), loaded_->sources[d.model], "tokens", &err))
        return SendError(res, err);
      res.set_content(DetokenizeBody(d.tokens, loaded_->pieces[d.model]).dump(),
                      "application/json");
    });
    svr.Get("/props", [this](const httplib::Request&, httplib::Response& res) {
      PropsInfo p;
      p.models = loaded_->sources;
      p.alias = loaded_->ids[0];
      p.total_slots = (int)loaded_->pool->size();
      p.defaults = loaded_->defaults;
      res.set_content(PropsBody(p).dump(), "application/json");
    });
    svr.Get("/slots", [this](const httplib::Request&, httplib::Response& res) {
      nlohmann::json slots = nlohmann::json::array();
      const SlotPool& pool = *loaded_->pool;
      for (size_t i = 0; i < pool.size(); ++i) {
        slots.push_back(
            SlotBody((int)i, loaded_->sources[0].n_ctx, pool.in_use(i), loaded_->defaults));
      }
      res.set_content(slots.dump(), "application/json");
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
          std::fprintf(stderr, "error: %s %s: %s\n", EscapeForLog(req.method).c_str(),
                       EscapeForLog(req.path).c_str(), EscapeForLog(what).c_str());
          ApiError e;
          e.status = 500;
          e.type = "server_error";
          e.message = "internal error in " + req.method + " " + req.path;
          SendError(res, e);
        });
    // Called once the response is written, a streamed body included.
    svr.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
      const bool known = FindRoute(req.path) != nullptr;
      metrics_.CountRequest(known ? req.path : "other", res.status);
      if (!opts_.log_requests || req.path == "/health" || req.path == "/metrics") return;
      const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                                  t_request_start)
                            .count();
      const std::string line =
          RequestLogLine(req.method, req.path, req.remote_addr, res.status, ms, t_request_tokens) +
          "\n";
      std::fputs(line.c_str(), stderr);
    });
  }

 private:
  // The three completion endpoints: OpenAI's chat and text completions, llama-server's
  // native /completion.
  enum class Shape { kChat, kCompletions, kNative };

  bool ready() const { return ready_.load(std::memory_order_acquire); }

  // Whether the client of `ex` has gone (or the server is stopping): the segment callback
  // and the engine's grammar calls ask, from any thread, one at a time.
  static std::function<bool()> GoneCheck(Exchange* ex) {
    auto asking = std::make_shared<std::mutex>();
    return [ex, asking] {
      std::lock_guard<std::mutex> lock(*asking);
      return ex != nullptr && ex->ClientGone();
    };
  }

  // A failed generation's error; one about the request's grammar names its field.
  static ApiError GenerationError(const ApiRequest& ar, const Status& st) {
    ApiError e = ErrorFromStatus(st);
    if (st.message().rfind("grammar:", 0) == 0) e.param = ar.grammar_param;
    return e;
  }

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

  void Complete(const httplib::Request& req, httplib::Response& res, Shape shape) {
    const bool chat = shape == Shape::kChat;
    const bool native = shape == Shape::kNative;
    const std::vector<std::string>& ids = loaded_->ids;
    SlotPool& pool = *loaded_->pool;
    auto ar = std::make_shared<ApiRequest>();
    ApiError err;
    if (!ParseRequest(req.body, chat, opts_.limits, ids, ar.get(), &err))
      return SendError(res, err);
    Status st = pool.any().Validate(ar->request);
    if (!st.ok()) {
      ApiError e = ErrorFromStatus(st);
      if (st.message().rfind("grammar:", 0) == 0) e.param = ar->grammar_param;
      return SendError(res, e);
    }
    auto lease = std::make_shared<std::unique_ptr<SlotPool::Lease>>();
    // Of the free slots, the one whose prompt cache holds most of this prompt.
    const Request& request = ar->request;
    st = pool.Acquire(nullptr, std::chrono::milliseconds(50),
                      std::chrono::seconds(opts_.queue_timeout_s), lease.get(),
                      [&request](const Ensemble& e) { return e.CachedPrefix(request); });
    if (!st.ok()) return SendError(res, QueueError(st));
    const std::string id = NewId(chat);
    const int64_t created = (int64_t)std::time(nullptr);
    const int slot = (*lease)->index();
    const int n_ctx = loaded_->sources[0].n_ctx;
    if (!ar->stream) {
      // Generated here, before anything is sent, so that the status tells the outcome.
      // Every quarter second the gate is asked whether the client has gone (without
      // writing to it); one that has cancels its generation and frees its slot.
      Exchange* ex = ConnectionGate::Current();
      bool gone = false;
      auto last = std::chrono::steady_clock::now();
      const auto t0 = last;
      GenerationResult g;
      // Inside a long grammar step the engine asks too (at most every 50 ms).
      ar->request.cancelled = GoneCheck(ex);
      st = (*lease)->ensemble().Generate(
          ar->request,
          [&](const Segment&, std::string_view) {
            const auto now = std::chrono::steady_clock::now();
            if (now - last > std::chrono::milliseconds(250)) {
              last = now;
              gone = ar->request.cancelled();
            }
            return !gone;
          },
          &g);
      gone = gone || g.stop_reason == StopReason::kCancelled;
      lease->reset();
      t_request_tokens = g.n_new_tokens;
      metrics_.CountGeneration(g.n_new_tokens, (int)g.segments.size(), Seconds(t0), gone);
      if (gone) {
        res.status = 499;  // nginx's "client closed request": logged, never read
        return;
      }
      if (!st.ok()) return SendError(res, GenerationError(*ar, st));
      const nlohmann::json body = native ? NativeCompletionBody(*ar, g, g.text, slot, n_ctx, ids)
                                         : CompletionBody(*ar, g, id, created, ids);
      res.set_content(body.dump(), "application/json");
      return;
    }
    res.set_header("Cache-Control", "no-cache");
    res.set_header("X-Accel-Buffering", "no");
    res.set_chunked_content_provider(
        "text/event-stream", [this, ar, lease, id, created, slot, n_ctx, native, route = req.path](
                                 size_t, httplib::DataSink& sink) {
          return Guarded(sink, route, true, [&] {
            const std::vector<std::string>& ids = loaded_->ids;
            bool gone = false;
            auto send = [&](const nlohmann::json& j) {
              const std::string s = "data: " + j.dump() + "\n\n";
              if (!gone && !sink.write(s.data(), s.size())) gone = true;
              return !gone;
            };
            if (!native) send(ChunkBody(*ar, id, created, "", true, nullptr, nullptr, ids));
            GenerationResult g;
            const auto t0 = std::chrono::steady_clock::now();
            auto last = t0;
            Exchange* ex = ConnectionGate::Current();
            ar->request.cancelled = GoneCheck(ex);
            Status st = (*lease)->ensemble().Generate(
                ar->request,
                [&](const Segment& seg, std::string_view delta) {
                  // A client that reset, or a server stopping, ends the stream between writes.
                  const auto now = std::chrono::steady_clock::now();
                  if (now - last > std::chrono::milliseconds(250)) {
                    last = now;
                    if (ar->request.cancelled()) gone = true;
                  }
                  if (gone) return false;
                  if (native) return delta.empty() || send(NativeChunk(delta, slot));
                  if (delta.empty() && !ar->trace) return !gone;
                  return send(ChunkBody(*ar, id, created, delta, false, nullptr, &seg, ids));
                },
                &g);
            lease->reset();  // the slot is free as soon as generation ends
            t_request_tokens = g.n_new_tokens;
            metrics_.CountGeneration(g.n_new_tokens, (int)g.segments.size(), Seconds(t0), gone);
            gone = gone || g.stop_reason == StopReason::kCancelled;
            if (!st.ok()) {
              send(nlohmann::json::parse(ErrorBody(GenerationError(*ar, st))));
            } else if (!gone && native) {
              // llama-server's last event: stop true with the totals; no [DONE] follows.
              send(NativeCompletionBody(*ar, g, "", slot, n_ctx, ids));
            } else if (!gone) {
              nlohmann::json last =
                  ChunkBody(*ar, id, created, "", false, FinishReason(g.stop_reason), nullptr, ids);
              if (!g.models.empty()) last["coolfusion"] = ModelWeights(*ar, g, ids);
              last["timings"] = TimingsBody(g);
              send(last);
              if (ar->include_usage) send(UsageChunk(*ar, id, created, g));
            }
            if (!gone && !native) {
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
      std::fprintf(stderr, "error: POST %s: %s\n", EscapeForLog(route).c_str(),
                   EscapeForLog(e.what()).c_str());
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

  const ServerOptions& opts_;
  const bool check_host_;  // bound to loopback: the Host header must name it
  std::atomic<bool> ready_{false};
  const Loaded* loaded_ = nullptr;  // set before ready_ turns true; read only after
  Metrics metrics_;
  Mutex mu_;
  std::mt19937_64 rng_ GUARDED_BY(mu_);
};

// Opens one ensemble per slot and describes the models; fills *out.
Status LoadModels(const std::vector<ModelOptions>& models, const ServerOptions& opts, Loaded* out) {
  std::vector<std::unique_ptr<Ensemble>> slots;
  for (int i = 0; i < opts.parallel; ++i) {
    std::unique_ptr<Ensemble> e;
    CF_RETURN_IF_ERROR(Ensemble::Open(models, &e));
    slots.push_back(std::move(e));
  }
  const Ensemble& first = *slots[0];
  // What was asked and cannot be done here (-ngl without a GPU), once for all slots.
  for (const std::string& w : first.LoadWarnings())
    std::fprintf(stderr, "warning: %s\n", w.c_str());
  out->ids = {opts.alias.empty() ? std::string(kEnsembleModelId) : opts.alias};
  for (size_t i = 0; i < first.size(); ++i) {
    const ModelInfo& info = first.info(i);
    std::string id = std::filesystem::path(info.path).stem().string();
    for (const auto& prev : out->ids) {
      if (prev == id) id.append(1, '#').append(std::to_string(i));
    }
    out->ids.push_back(id);
    out->files.push_back(info.name);
    SourceModel m;
    m.id = id;
    m.path = info.path;
    m.tokenizer = info.tokenizer;
    m.n_vocab = info.n_vocab;
    m.n_ctx = info.n_ctx;
    m.has_chat_template = info.has_chat_template;
    m.chat_template = i < models.size() ? models[i].chat_template : "";
    out->sources.push_back(m);
    out->n_vocab.push_back(info.n_vocab);
    out->pieces.emplace_back();
    CF_RETURN_IF_ERROR(first.VocabPieces(i, &out->pieces.back()));
    size_t longest = 1;
    for (const std::string& p : out->pieces.back()) longest = std::max(longest, p.size());
    out->max_piece_bytes.push_back(longest);
  }
  ApiError unused;
  if (!ParseRequest("{\"prompt\": \"\"}", false, opts.limits, out->ids, &out->defaults, &unused))
    return Status::Internal("the default request does not parse: " + unused.message);
  out->pool = std::make_unique<SlotPool>(std::move(slots), opts.max_queue);
  return Status::Ok();
}

}  // namespace

void StopServer() { OnSignal(0); }

Status RunServer(const std::vector<ModelOptions>& models, const ServerOptions& opts,
                 const std::function<void(int)>& on_ready,
                 const std::function<void(int)>& on_listening) {
  if (opts.parallel < 1 || opts.parallel > 256)
    return Status::InvalidArgument("--parallel must be in 1..256");
  if (opts.port < 0 || opts.port > 65535)
    return Status::InvalidArgument("--port must be in 0..65535");
  Loaded loaded;  // outlives the server below
  GatedServer svr;
  svr.set_payload_max_length(opts.max_body);
  Service service(opts);
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
  MemoryTrimmer trimmer;
  ConnectionGate gate(std::move(g), [&svr, &trimmer](Exchange& ex) {
    const bool keep = svr.Answer(ex);
    trimmer.AfterRequest();
    return keep;
  });
  int port = 0;
  CF_RETURN_IF_ERROR(gate.Listen(&port));
  std::signal(SIGPIPE, SIG_IGN);
  g_gate = &gate;
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (on_listening) on_listening(port);
  // The models load while the gate answers (503 until they are in); a failed load stops it.
  Status load_status;
  std::thread loader([&] {
    load_status = LoadModels(models, opts, &loaded);
    if (!load_status.ok()) {
      gate.Stop();
      return;
    }
    service.SetReady(&loaded);
    if (on_ready) on_ready(port);
  });
  gate.Run();
  loader.join();
  svr.Shutdown();
  g_gate = nullptr;
  return load_status;
}

}  // namespace coolfusion::server
