// coolfusion-sandbox: compiles one JSON schema or GBNF grammar for coolfusion's server in a
// process of its own, under the limits the server passes (src/backend/grammar_sandbox.h).
#include "backend/grammar_sandbox.h"

int main(int argc, char** argv) { return coolfusion::RunSandboxChild(argc, argv); }
