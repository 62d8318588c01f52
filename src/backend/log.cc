#include "backend/log.h"

#include <llama.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>

#include "base/mutex.h"

namespace coolfusion {

namespace {
std::atomic<bool> g_verbose{false};
Mutex g_mu;
std::string g_last_error GUARDED_BY(g_mu);
thread_local std::string t_first_error;

void Log(ggml_log_level level, const char* text, void*) {
  if (g_verbose) std::fputs(text, stderr);
  if (level == GGML_LOG_LEVEL_ERROR) {
    std::string s(text);
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    if (t_first_error.empty()) t_first_error = s;
    MutexLock lock(&g_mu);
    g_last_error = s;
  }
}
}  // namespace

void InstallBackendLogger() {
  const char* v = std::getenv("COOLFUSION_VERBOSE");
  if (v != nullptr && v[0] != '\0' && v[0] != '0') g_verbose = true;
  llama_log_set(Log, nullptr);
}

void SetBackendVerbose(bool verbose) { g_verbose = verbose; }

void ClearLastBackendError() {
  t_first_error.clear();
  MutexLock lock(&g_mu);
  g_last_error.clear();
}

std::string LastBackendError() {
  MutexLock lock(&g_mu);
  return g_last_error;
}

std::string FirstBackendErrorOnThisThread() { return t_first_error; }

}  // namespace coolfusion
