// Routes llama.cpp/ggml log output: silent by default except errors, which are kept so
// that a failed load can say why in one line. COOLFUSION_VERBOSE=1 prints everything.
#pragma once

#include <string>

namespace coolfusion {

void InstallBackendLogger();
void SetBackendVerbose(bool verbose);
void ClearLastBackendError();
std::string LastBackendError();  // the last error line logged by llama.cpp, trimmed
// The first error line llama.cpp logged on the calling thread since this thread's last
// ClearLastBackendError (e.g. why a grammar did not parse), trimmed; empty if none.
std::string FirstBackendErrorOnThisThread();

}  // namespace coolfusion
