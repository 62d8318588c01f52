#include "backend/grammar_sandbox.h"

#include <llama.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <list>
#include <mutex>
#include <new>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "backend/child_process.h"
#include "backend/grammar.h"
#include "backend/grammar_limits.h"
#include "backend/log.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {

using Clock = std::chrono::steady_clock;

constexpr char kSchema = 's';
constexpr char kGrammar = 'g';

const char* FieldOf(char kind) { return kind == kSchema ? "json_schema" : "grammar"; }

// At most max_children children at once; the rest wait until their deadline.
class ChildSlots {
 public:
  bool Acquire(int max, Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_until(lock, deadline, [&] { return running_ < max; })) return false;
    ++running_;
    return true;
  }
  void Release() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      --running_;
    }
    cv_.notify_one();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
};

ChildSlots& Slots() {
  static ChildSlots* s = new ChildSlots;
  return *s;
}

// The answers of recent inputs, most recent first: at most kCacheEntries of them and
// kCacheBytes of keys and answers.
class ResultCache {
 public:
  static constexpr size_t kCacheEntries = 64;
  static constexpr size_t kCacheBytes = 16 << 20;

  bool Find(const std::string& key, Status* st, std::string* gbnf) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it == map_.end()) return false;
    order_.splice(order_.begin(), order_, it->second);
    *st = it->second->st;
    *gbnf = it->second->gbnf;
    return true;
  }
  void Put(const std::string& key, const Status& st, const std::string& gbnf) {
    const size_t size = 2 * key.size() + gbnf.size() + st.message().size();
    if (size > kCacheBytes / 4) return;
    std::lock_guard<std::mutex> lock(mu_);
    if (map_.count(key) != 0) return;
    order_.push_front(Entry{key, st, gbnf, size});
    map_[key] = order_.begin();
    bytes_ += size;
    while (order_.size() > kCacheEntries || bytes_ > kCacheBytes) {
      bytes_ -= order_.back().size;
      map_.erase(order_.back().key);
      order_.pop_back();
    }
  }

 private:
  struct Entry {
    std::string key;
    Status st;
    std::string gbnf;
    size_t size;
  };
  std::mutex mu_;
  std::list<Entry> order_;
  std::unordered_map<std::string, std::list<Entry>::iterator> map_;
  size_t bytes_ = 0;
};

ResultCache& Cache() {
  static ResultCache* c = new ResultCache;
  return *c;
}

std::string Mb(size_t bytes) { return std::to_string(bytes >> 20) + " MB"; }

// Runs the child on `kind` + `text`; its answer (after the status line) in *answer.
Status RunChild(char kind, const std::string& text, const SandboxLimits& limits,
                std::string* answer) {
  const std::string field = FieldOf(kind);
  const std::string exe = SandboxExecutable();
  if (exe.empty()) {
    const std::string expected = SandboxCompiledInPath();
    return Status::Unavailable(
        "the grammar sandbox (coolfusion-sandbox) is missing: it belongs beside the coolfusion "
        "executable" +
        (expected.empty() ? std::string() : " or at " + expected) +
        ", or set COOLFUSION_SANDBOX to its path");
  }
  const auto deadline = Clock::now() + std::chrono::milliseconds(limits.wall_ms);
  if (!Slots().Acquire(limits.max_children, deadline))
    return Status::ResourceExhausted(field + ": the server is busy compiling other grammars; " +
                                     "try again");
  struct Release {
    ~Release() { Slots().Release(); }
  } release;

  const std::string as = std::to_string(limits.address_space_bytes);
  const std::string cpu = std::to_string(limits.cpu_seconds);
  ChildRun run;
  Status st = RunBoundedChild(
      {exe, as, cpu, std::to_string(limits.max_parse_bytes), std::to_string(limits.wall_ms)},
      {std::string_view(&kind, 1), text}, deadline, limits.max_output_bytes + 64, &run);
  if (st.code() == Status::Code::kUnavailable)
    return Status::Unavailable("cannot start the grammar sandbox " + exe + ": " + st.message());
  CF_RETURN_IF_ERROR(st);
  const std::string& got = run.output;
  const int wstatus = run.wait_status;
  if (run.end == ChildRun::End::kTooLarge)
    return Status::InvalidArgument(field + ": its grammar would be larger than " +
                                   std::to_string(limits.max_output_bytes) + " bytes");
  if (run.end == ChildRun::End::kTimedOut)
    return Status::InvalidArgument(field + ": compiling it took more than " +
                                   std::to_string(limits.wall_ms / 1000.0).substr(0, 4) + " s");
  if (WIFSIGNALED(wstatus)) {
    const int sig = WTERMSIG(wstatus);
    if (sig == SIGXCPU || sig == SIGKILL)
      return Status::InvalidArgument(field + ": compiling it took more than " + cpu + " s of CPU");
    return Status::InvalidArgument(field + ": compiling it failed (the compiler crashed: " +
                                   (sig == SIGSEGV ? std::string("it nests or recurses too deeply")
                                                   : std::string(strsignal(sig))) +
                                   ")");
  }
  if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0)
    return Status::InvalidArgument(field + ": compiling it failed (exit code " +
                                   std::to_string(WEXITSTATUS(wstatus)) + ")");
  const size_t nl = got.find('\n');
  const std::string head = got.substr(0, nl == std::string::npos ? got.size() : nl);
  const std::string body = nl == std::string::npos ? "" : got.substr(nl + 1);
  if (head == "ok") {
    *answer = body;
    return Status::Ok();
  }
  // The child's words may quote the input anywhere: cut on a character, and valid UTF-8.
  if (head == "error") return Status::InvalidArgument(Utf8Excerpt(body, 1000));
  return Status::InvalidArgument(field + ": compiling it failed (no answer)");
}

Status Sandboxed(char kind, const std::string& text, const SandboxLimits& limits,
                 std::string* gbnf) {
  const std::string key = kind + text;
  Status st;
  std::string out;
  if (Cache().Find(key, &st, &out)) {
    if (st.ok() && gbnf != nullptr) *gbnf = std::move(out);
    return st;
  }
  st = RunChild(kind, text, limits, &out);
  // Not cached: failures that depend on the moment rather than the input.
  const bool transient = st.code() == Status::Code::kUnavailable ||
                         st.code() == Status::Code::kResourceExhausted ||
                         st.code() == Status::Code::kInternal ||
                         st.message().find("took more than") != std::string::npos;
  if (!transient) Cache().Put(key, st, kind == kSchema ? out : std::string());
  if (st.ok() && gbnf != nullptr) *gbnf = std::move(out);
  return st;
}

// ---- the child

size_t PeakRssBytes() {
  rusage u;
  ::getrusage(RUSAGE_SELF, &u);
  return (size_t)u.ru_maxrss * 1024;
}

[[maybe_unused]] size_t AddressSpaceBytes() {
  std::FILE* f = std::fopen("/proc/self/statm", "r");
  if (f == nullptr) return 0;
  unsigned long pages = 0;
  if (std::fscanf(f, "%lu", &pages) != 1) pages = 0;
  std::fclose(f);
  return (size_t)pages * (size_t)::sysconf(_SC_PAGESIZE);
}

#if defined(__SANITIZE_ADDRESS__)
#define COOLFUSION_SANDBOX_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define COOLFUSION_SANDBOX_ASAN 1
#endif
#endif

// Under AddressSanitizer (the sanitizer build) an allocation that fails is a report and an
// exit, not std::bad_alloc: there the child's memory is bounded by its CPU time and by the
// measured growth of its parse instead of by its address space.
void LimitAddressSpace(size_t headroom) {
#ifdef COOLFUSION_SANDBOX_ASAN
  (void)headroom;
#else
  const rlimit r{AddressSpaceBytes() + headroom, RLIM_INFINITY};
  ::setrlimit(RLIMIT_AS, &r);
#endif
}

// The child's state for the grammar guard's callback.
struct ChildClock {
  Clock::time_point deadline;
  bool expired = false;
};

bool ChildAbort(void* data) {
  auto* c = static_cast<ChildClock*>(data);
  if (Clock::now() > c->deadline) c->expired = true;
  return c->expired;
}

// Parses gbnf (no vocabulary) and builds its start state, as Grammar::Create does in the
// server, with the same limits; then how much memory it took.
Status ParseInChild(const std::string& gbnf, size_t max_parse_bytes, int wall_ms) {
  CF_RETURN_IF_ERROR(CheckGrammarLimits(gbnf));
  LimitAddressSpace(max_parse_bytes + (16 << 20));
  const size_t peak0 = PeakRssBytes();
  ChildClock clock{Clock::now() + std::chrono::milliseconds(wall_ms / 2)};
  llama_grammar_set_thread_guard(kMaxGrammarStacks, ChildAbort, &clock);
  ClearLastBackendError();
  llama_sampler* s = nullptr;
  try {
    s = llama_sampler_init_grammar(nullptr, gbnf.c_str(), "root");
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted("");
  }
  llama_grammar_set_thread_guard(0, nullptr, nullptr);
  if (s == nullptr) {
    std::string why = FirstBackendErrorOnThisThread();
    if (clock.expired)
      return Status::InvalidArgument("grammar: building its start state took more than " +
                                     std::to_string(wall_ms / 2000.0).substr(0, 4) + " s");
    if (why.find("bad_alloc") != std::string::npos) return Status::ResourceExhausted("");
    if (why.find("no vocab to parse token") != std::string::npos)
      return Status::InvalidArgument(
          "grammar: token references by text (<...>) are not supported: they name one vocabulary's "
          "tokens, and the fused models' vocabularies differ");
    const std::string prefix = "parse: error parsing grammar: ";
    if (const size_t at = why.find(prefix); at != std::string::npos)
      why = why.substr(at + prefix.size());
    if (why.empty()) why = "it does not parse";
    return Status::InvalidArgument("grammar: " + Utf8Excerpt(why, 300));
  }
  llama_sampler_free(s);
  const size_t used = PeakRssBytes() - std::min(PeakRssBytes(), peak0);
  if (used > max_parse_bytes) return Status::ResourceExhausted("");
  return Status::Ok();
}

int Answer(const Status& st, const std::string& gbnf) {
  const std::string out = st.ok() ? "ok\n" + gbnf : "error\n" + st.message();
  const bool written =
      std::fwrite(out.data(), 1, out.size(), stdout) == out.size() && std::fflush(stdout) == 0;
  return written ? 0 : 3;
}

}  // namespace

Status SandboxedJsonSchemaToGrammar(const std::string& schema_json, std::string* gbnf,
                                    const SandboxLimits& limits) {
  return Sandboxed(kSchema, schema_json, limits, gbnf);
}

Status SandboxedCheckGrammar(const std::string& gbnf, const SandboxLimits& limits) {
  return Sandboxed(kGrammar, gbnf, limits, nullptr);
}

int RunSandboxChild(int argc, char** argv) {
  if (argc != 5) {
    std::fprintf(stderr,
                 "coolfusion-sandbox: compiles one JSON schema or GBNF grammar for coolfusion's "
                 "server; not for use by hand\n");
    return 2;
  }
  const size_t headroom = std::strtoull(argv[1], nullptr, 10);
  const rlim_t cpu = std::strtoull(argv[2], nullptr, 10);
  const size_t max_parse = std::strtoull(argv[3], nullptr, 10);
  const int wall_ms = std::atoi(argv[4]);
  const rlimit cpu_limit{cpu, cpu + 1};
  ::setrlimit(RLIMIT_CPU, &cpu_limit);
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  std::string in;
  char buf[1 << 16];
  for (;;) {
    const ssize_t r = ::read(0, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    in.append(buf, (size_t)r);
  }
  if (in.empty()) return 2;
  const char kind = in[0];
  const std::string text = in.substr(1);
  in.clear();
  in.shrink_to_fit();
  LimitAddressSpace(headroom);
  InstallBackendLogger();
  const std::string field = FieldOf(kind);
  std::string gbnf;
  Status st;
  try {
    if (kind == kSchema) {
      st = ConvertJsonSchema(text, &gbnf);
    } else {
      gbnf = text;
    }
    if (st.ok()) {
      st = ParseInChild(gbnf, max_parse, wall_ms);
      // What a schema converts to is the schema's problem: named by its field.
      const std::string g = "grammar: ";
      if (kind == kSchema && st.code() == Status::Code::kInvalidArgument &&
          st.message().rfind(g, 0) == 0)
        st = Status::InvalidArgument("json_schema: the grammar it converts to: " +
                                     st.message().substr(g.size()));
    }
  } catch (const std::bad_alloc&) {
    st = Status::ResourceExhausted("");
  }
  if (st.code() == Status::Code::kResourceExhausted) {
    st = Status::InvalidArgument(
        field + (kind == kSchema && gbnf.empty()
                     ? ": converting it needs more than " + Mb(headroom) + " of memory"
                     : ": its grammar expands to more than " + Mb(max_parse) +
                           " of rules and parse states"));
  }
  return Answer(st, kind == kSchema ? gbnf : std::string());
}

}  // namespace coolfusion
