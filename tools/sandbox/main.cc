// coolfusion-sandbox: compiles one JSON schema or GBNF grammar for coolfusion's server in a
// process of its own, under the limits the server passes (src/backend/grammar_sandbox.h).
#include <unistd.h>

#include <cstdio>

#include "backend/grammar_sandbox.h"

int main(int argc, char** argv) {
  const int rc = coolfusion::RunSandboxChild(argc, argv);
  std::fflush(nullptr);
  // No exit handlers: what the converter left allocated dies with the process (a leak
  // checker's report at exit would read as a failed compile).
  _exit(rc);
}
