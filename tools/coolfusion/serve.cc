#include <algorithm>
#include <cstdio>
#include <tuple>

#include "commands.h"
#include "server/http_server.h"

namespace coolfusion::cli {

int CmdServe(const CommonArgs& a) {
  if (a.models.empty()) return Fail(Status::InvalidArgument("no model given (use -m FILE)"));
  // What a request brings itself is not a flag of serve (it would be ignored).
  for (const auto& [given, flag, field] : {std::tuple<bool, const char*, const char*>{
                                               !a.gen.grammar.empty(), "--grammar/--json-schema",
                                               "grammar, json_schema or response_format"},
                                           {a.prompt_given, "-p/-f", "prompt or messages"},
                                           {!a.system.empty(), "--system", "a system message"},
                                           {!a.tools.empty(), "--tools", "tools"},
                                           {!a.text_file.empty(), "--text-file", "prompt"}}) {
    if (given)
      return Fail(Status::InvalidArgument(
          std::string(flag) + " is not a serve flag: each request sends its own (" + field + ")"));
  }
  // The generation flags are every request's defaults: a combination no request could run
  // (--gate with a method without one, --token-healing on with unite, ...) is refused now.
  if (Status st = CheckGenerateOptions(a.gen, a.models.size()); !st.ok()) return Fail(st);
  server::ServerOptions o;
  o.host = a.host;
  o.port = a.port;
  o.parallel = a.parallel;
  o.max_queue = (size_t)a.max_queue;
  o.queue_timeout_s = a.queue_timeout;
  o.max_body = (size_t)a.max_body;
  o.timeout_s = a.timeout;
  o.max_connections = a.max_connections;
  o.max_connections_per_address = a.max_connections_per_address;
  o.limits.max_tokens = a.max_tokens;
  // A request without max_tokens gets -n's (128 unless given; -n -1: the cap).
  o.limits.default_max_tokens = a.gen.max_new_tokens == kNoTokenLimit
                                    ? a.max_tokens
                                    : std::min(a.gen.max_new_tokens, a.max_tokens);
  // The generation flags (--method, --score, --gate, --temp, --stop, ...) are every
  // request's defaults; a request's own fields override them.
  o.limits.defaults = a.gen;
  o.api_key = a.api_key;
  o.cors_origins = a.cors_origins;
  o.alias = a.alias;
  o.log_requests = !a.log_disable;
  // The slots share one context per model, whose batched decodes run one at a time on
  // the scheduler's thread (Ensemble::OpenLanes): each decode gets every core unless -t
  // says otherwise.
  std::vector<ModelOptions> models = a.models;
  // The server listens first and loads after (llama-server's order): /health answers 503
  // meanwhile. "listening on" is printed once the models are in (scripts wait for it).
  Status st = server::RunServer(
      models, o,
      [&](int port) {
        std::fprintf(stderr, "coolfusion serve: listening on http://%s:%d (%d slot(s)%s)\n",
                     a.host.c_str(), port, a.parallel,
                     a.api_key.empty() ? "" : ", API key required");
        std::fflush(stderr);
      },
      [&](int port) {
        if (a.log_disable) return;
        std::fprintf(stderr,
                     "coolfusion serve: loading %zu model(s) into %d slot(s); "
                     "http://%s:%d/health answers 503 until they are loaded\n",
                     a.models.size(), a.parallel, a.host.c_str(), port);
        std::fflush(stderr);
      });
  if (!st.ok()) return Fail(st);
  std::fprintf(stderr, "coolfusion serve: stopped\n");
  return 0;
}

}  // namespace coolfusion::cli
