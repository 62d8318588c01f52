// Where the grammar sandbox's executable is (SandboxExecutable, grammar_sandbox.h). A file
// of its own because the last place looked at is compiled in: the build tree's bin/ for
// the libraries the build uses (src/CMakeLists.txt), the installed bin/ for the installed
// library, which compiles this file again (cmake/install.cmake).
#include "backend/grammar_sandbox.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

namespace coolfusion {

namespace {

bool IsExecutable(const std::string& path) {
  struct stat st;
  return !path.empty() && ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode) &&
         ::access(path.c_str(), X_OK) == 0;
}

}  // namespace

std::string SandboxExecutable() {
  if (const char* env = std::getenv("COOLFUSION_SANDBOX"); env != nullptr && *env != '\0')
    return IsExecutable(env) ? std::string(env) : std::string();
  char self[4096];
  const ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, (size_t)n);
    dir.resize(dir.rfind('/') + 1);
    if (IsExecutable(dir + "coolfusion-sandbox")) return dir + "coolfusion-sandbox";
  }
  if (IsExecutable(SandboxCompiledInPath())) return SandboxCompiledInPath();
  return "";
}

const char* SandboxCompiledInPath() {
#ifdef COOLFUSION_SANDBOX_PATH
  return COOLFUSION_SANDBOX_PATH;
#else
  return "";
#endif
}

}  // namespace coolfusion
