#include "server/http_server.h"

#include <malloc.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <thread>

#include "server/connection_gate.h"
#include "server/httplib_adapter.h"
#include "server/loaded_models.h"
#include "server/openai.h"
#include "server/routes.h"

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

}  // namespace

void StopServer() { OnSignal(0); }

Status RunServer(const std::vector<ModelOptions>& models, const ServerOptions& opts,
                 const std::function<void(int)>& on_ready,
                 const std::function<void(int)>& on_listening) {
  if (opts.parallel < 1 || opts.parallel > 256)
    return Status::InvalidArgument("--parallel must be in 1..256");
  if (opts.port < 0 || opts.port > 65535)
    return Status::InvalidArgument("--port must be in 0..65535");
  LoadedModels loaded;  // outlives the server below
  GatedServer svr;
  svr.set_payload_max_length(opts.max_body);
  Routes routes(opts);
  routes.Register(svr);

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
    routes.SetReady(&loaded);
    if (on_ready) on_ready(port);
  });
  gate.Run();
  loader.join();
  svr.Shutdown();
  g_gate = nullptr;
  return load_status;
}

}  // namespace coolfusion::server
