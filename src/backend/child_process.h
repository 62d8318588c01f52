// RunBoundedChild: runs a program as a child process whose input, output and time are
// bounded, for work that must not be trusted to stop or to stay small (the grammar
// sandbox, grammar_sandbox.h). The child gets `input` on its stdin (an in-memory file,
// the pieces one after the other), its stdout goes to a pipe that the parent reads, its stderr goes
// to /dev/null, and it inherits no other file descriptor. The parent reads until the
// child closes its stdout, the deadline passes or the output grows past `max_output`
// bytes; in the last two cases the child is killed (SIGKILL). The child is always reaped
// before returning: no zombie is left, and a child that closes its stdout but does not
// exit is killed at the deadline.
//
// Limits inside the child (rlimits) are the child's own business: it sets them from its
// arguments. Thread-safe: nothing is shared between calls.
#pragma once

#include <coolfusion/status.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion {

struct ChildRun {
  enum class End {
    kExited,    // the child closed its stdout and was reaped: see wait_status
    kTimedOut,  // the deadline passed (the child was killed)
    kTooLarge,  // the output grew past max_output (the child was killed)
  };
  End end = End::kExited;
  int wait_status = 0;  // waitpid's status: WIFEXITED / WIFSIGNALED (meaningful for kExited)
  std::string output;   // what the child wrote on stdout (kTooLarge: the first max_output
                        // bytes and up to 64 KiB more)
};

// Runs argv[0] (a path; argv the child's arguments, argv[0] included) as described above.
// Returns Unavailable with strerror's text (only) when the program cannot be started, so
// that the caller can say which program; Internal when a pipe or the input file cannot be
// made or the child cannot be waited for; else Ok with *run filled.
// REQUIRES: !argv.empty().
Status RunBoundedChild(const std::vector<std::string>& argv,
                       const std::vector<std::string_view>& input,
                       std::chrono::steady_clock::time_point deadline, size_t max_output,
                       ChildRun* run);

}  // namespace coolfusion
