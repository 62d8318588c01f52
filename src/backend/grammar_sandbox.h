// GrammarSandbox: compiles an untrusted JSON schema or GBNF grammar in a child process
// under hard limits, so that no failure of llama.cpp's schema converter or GBNF parser,
// known or not (a stack overflow, a runaway loop, an allocation of gigabytes), can reach
// the process that asked. The child is the `coolfusion-sandbox` executable (built beside
// `coolfusion`); it converts the schema (ConvertJsonSchema, with every check of
// grammar_limits.h), parses the grammar and builds its start state under the grammar
// guard (grammar.h), and reports the GBNF and the memory that parsing took.
//
// What a caller gets: the GBNF (for a schema) or Ok (for a grammar), or InvalidArgument
// naming the field ("json_schema: ..." / "grammar: ...") when the input breaks a limit,
// the converter refuses it, or the child crashed, ran out of time or memory, or wrote more
// than the limit; Unavailable when the sandbox executable cannot be started. Results are
// cached by input (the same schema, as agents send with every request, is compiled once).
//
// Thread-safe. At most `max_children` children run at once; a caller waits for one within
// its wall-clock limit.
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <string>

namespace coolfusion {

struct SandboxLimits {
  size_t address_space_bytes = size_t{1} << 30;  // RLIMIT_AS: this much above the child's start
  int cpu_seconds = 5;                           // the child's RLIMIT_CPU
  int wall_ms = 8000;                            // the child is killed after this
  size_t max_output_bytes = 1 << 20;             // a longer GBNF is refused
  // Memory that parsing the GBNF and building its start state may take, measured in the
  // child (growth of its peak RSS): the same parse runs again in the server, once per
  // model and slot, so what a grammar expands to is bounded here, whatever its text.
  size_t max_parse_bytes = 32 << 20;
  int max_children = 4;  // children running at once
};

// Converts `schema_json` (a JSON object's text) to GBNF in the sandbox; see above.
Status SandboxedJsonSchemaToGrammar(const std::string& schema_json, std::string* gbnf,
                                    const SandboxLimits& limits = SandboxLimits());
// Parses `gbnf` and builds its start state in the sandbox; see above. Token references by
// text (<think>) are refused: they name one vocabulary's tokens, and the sandbox has none
// (references by id, <[123]>, parse without one).
Status SandboxedCheckGrammar(const std::string& gbnf,
                             const SandboxLimits& limits = SandboxLimits());

// The sandbox executable's path: $COOLFUSION_SANDBOX when set, else `coolfusion-sandbox`
// beside the running executable, else the one where this library expects it: this build's
// tree (build/bin/) for the libraries the build uses, the installed bin/ for the installed
// library (docs/install.md). Empty if none exists.
std::string SandboxExecutable();
// That last place: where this library expects the sandbox (a path fixed when it was
// compiled), or "" if it has none.
const char* SandboxCompiledInPath();

// The child's side: `coolfusion-sandbox`'s main. Sets its own limits from argv, reads the
// request on stdin, writes the answer on stdout; returns the exit code.
int RunSandboxChild(int argc, char** argv);

}  // namespace coolfusion
