#include "server/routes.h"

#include <httplib.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "server/http_framing.h"
#include "server/httplib_adapter.h"
#include "server/llama_compat.h"
#include "server/openai.h"
#include "server/playground_html.h"

namespace coolfusion::server {

namespace {

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
    {"/tokenizer_info", "GET, OPTIONS", true},  // vLLM's (lm-evaluation-harness reads it)
    {"/props", "GET, OPTIONS", true},
    {"/slots", "GET, OPTIONS", true},
};

const Route* FindRoute(const std::string& path) {
  for (const Route& r : kRoutes) {
    if (path == r.path) return &r;
  }
  return nullptr;
}

// httplib's own refusals (404, 413, ...) with OpenAI's error object.
void AnswerHttpError(const httplib::Request& req, httplib::Response& res) {
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
}

// The catch-all: whatever a handler threw is a logged 500 naming the route.
void AnswerException(const httplib::Request& req, httplib::Response& res, std::exception_ptr ep) {
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
}

}  // namespace

Routes::Routes(const ServerOptions& opts)
    : opts_(opts),
      check_host_(IsLoopbackHost(opts.host)),
      completions_(opts.limits, opts.queue_timeout_s, &metrics_) {}

void Routes::Register(httplib::Server& svr) {
  svr.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    return AnsweredFirst(req, res) ? httplib::Server::HandlerResponse::Handled
                                   : httplib::Server::HandlerResponse::Unhandled;
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
    Metrics::Batching batching;
    if (pool.size() > 1) {
      for (size_t i = 0; i < pool.any().size(); ++i)
        batching.models.emplace_back(loaded_->ids[1 + i], pool.any().batching(i));
      for (size_t i = 0; i < pool.size(); ++i)
        batching.slots.push_back(pool.slot(i).lane_batching());
    }
    res.set_content(metrics_.Render(pool.size(), pool.busy(), pool.waiting(), batching),
                    "text/plain; version=0.0.4");
  });
  svr.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completions_.Answer(*loaded_, req, res, CompletionShape::kChat);
  });
  svr.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    completions_.Answer(*loaded_, req, res, CompletionShape::kCompletions);
  });
  for (const char* path : {"/completion", "/completions"}) {
    svr.Post(path, [this](const httplib::Request& req, httplib::Response& res) {
      completions_.Answer(*loaded_, req, res, CompletionShape::kNative);
    });
  }
  svr.Post("/tokenize",
           [this](const httplib::Request& req, httplib::Response& res) { Tokenize(req, res); });
  svr.Post("/detokenize",
           [this](const httplib::Request& req, httplib::Response& res) { Detokenize(req, res); });
  svr.Get("/tokenizer_info", [this](const httplib::Request&, httplib::Response& res) {
    res.set_content(TokenizerInfoBody(loaded_->sources[0]).dump(), "application/json");
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
      nlohmann::json slot =
          SlotBody((int)i, loaded_->sources[0].n_ctx, pool.in_use(i), loaded_->defaults);
      // Its side of the batched decodes (one context per model for every slot).
      const Ensemble::BatchingStats b = pool.slot(i).lane_batching();
      const double d = b.decodes > 0 ? (double)b.decodes : 1.0;
      slot["coolfusion"] = {{"batching",
                             {{"batches", b.decodes},
                              {"mean_slots_per_decode", b.lane_jobs / d},
                              {"mean_tokens_per_decode", b.tokens / d},
                              {"max_slots_per_decode", b.max_lanes},
                              {"wait_ms", b.wait_ms}}}};
      slots.push_back(std::move(slot));
    }
    res.set_content(slots.dump(), "application/json");
  });
  svr.set_error_handler(AnswerHttpError);
  svr.set_exception_handler(AnswerException);
  svr.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) { Log(req, res); });
}

bool Routes::AnsweredFirst(const httplib::Request& req, httplib::Response& res) const {
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
    return true;
  }
  if (req.method == "OPTIONS") {
    if (!allow_origin.empty()) {
      res.set_header("Access-Control-Allow-Headers", "Authorization, Content-Type");
      res.set_header("Access-Control-Allow-Methods", "GET, POST, OPTIONS");
      res.set_header("Access-Control-Max-Age", "600");
    }
    res.status = 204;
    return true;
  }
  const Route* r = FindRoute(req.path);
  if (r != nullptr && std::string_view(r->methods).find(req.method) == std::string_view::npos) {
    res.set_header("Allow", r->methods);
    ApiError e;
    e.status = 405;
    e.message = req.method + " is not allowed on " + req.path + " (allowed: " + r->methods + ")";
    SendError(res, e);
    return true;
  }
  if (!opts_.api_key.empty() && (req.path.rfind("/v1/", 0) == 0 || (r && r->needs_key)) &&
      req.get_header_value("Authorization") != "Bearer " + opts_.api_key) {
    ApiError e;
    e.status = 401;
    e.message = "Incorrect or missing API key: send 'Authorization: Bearer <key>'";
    e.code = "invalid_api_key";
    SendError(res, e);
    return true;
  }
  // llama-server's answer while the models load, on every route but the playground's
  // page (which then shows the server's state).
  if (!ready() && req.path != "/") {
    res.status = 503;
    res.set_content(LoadingBody(), "application/json");
    return true;
  }
  return false;
}

void Routes::Tokenize(const httplib::Request& req, httplib::Response& res) const {
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
}

void Routes::Detokenize(const httplib::Request& req, httplib::Response& res) const {
  DetokenizeRequest d;
  ApiError err;
  if (!ParseDetokenize(req.body, loaded_->ids, loaded_->n_vocab, &d, &err) ||
      !CheckTokensFitContext(d.tokens.size(), loaded_->sources[d.model], "tokens", &err))
    return SendError(res, err);
  res.set_content(DetokenizeBody(d.tokens, loaded_->pieces[d.model]).dump(), "application/json");
}

void Routes::Log(const httplib::Request& req, const httplib::Response& res) {
  const bool known = FindRoute(req.path) != nullptr;
  metrics_.CountRequest(known ? req.path : "other", res.status);
  if (!opts_.log_requests || req.path == "/health" || req.path == "/metrics") return;
  const double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() -
                                                              ThisThreadsRequest().start)
                        .count();
  const std::string line = RequestLogLine(req.method, req.path, req.remote_addr, res.status, ms,
                                          ThisThreadsRequest().tokens) +
                           "\n";
  std::fputs(line.c_str(), stderr);
}

}  // namespace coolfusion::server
