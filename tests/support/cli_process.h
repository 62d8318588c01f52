// Running the coolfusion CLI (or another of the project's programs) from a test as a child
// process: stdin empty, stdout and stderr in files, so that a test may also kill it mid-run
// (eval --resume) and read what it wrote. Header-only, for the CLI and tool tests.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "support/paths.h"

namespace coolfusion::testing {

struct CliRun {
  int code = -1;  // the exit status, or 128 + the signal that ended it
  std::string out, err;
};

// A folder of this process's own, gtest's TempDir() + "/coolfusion-" + name + "-" + its
// pid, made if missing: ctest runs a file's tests in parallel processes.
inline std::string OwnTempDir(const std::string& name) {
  const std::string d =
      ::testing::TempDir() + "/coolfusion-" + name + "-" + std::to_string(getpid());
  std::error_code ec;
  std::filesystem::create_directories(d, ec);
  return d;
}

// The whole content of a file ("" when it cannot be read).
inline std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The text's whole lines (a torn last one left out).
inline std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  for (size_t at = 0, end; (end = text.find('\n', at)) != std::string::npos; at = end + 1)
    out.push_back(text.substr(at, end - at));
  return out;
}

// Starts `PROGRAM ARGS...` (a path: no PATH search) writing to the files `out` and `err`.
inline pid_t StartProgram(const std::string& program, const std::vector<std::string>& args,
                          const std::string& out, const std::string& err) {
  const pid_t pid = fork();
  if (pid == 0) {
    if (!freopen("/dev/null", "r", stdin) || !freopen(out.c_str(), "w", stdout) ||
        !freopen(err.c_str(), "w", stderr))
      _exit(127);
    std::vector<char*> argv;
    argv.push_back(const_cast<char*>(program.c_str()));
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    execv(program.c_str(), argv.data());
    _exit(127);
  }
  return pid;
}

// Starts `coolfusion ARGS...` writing to the files `out` and `err`.
inline pid_t StartCli(const std::vector<std::string>& args, const std::string& out,
                      const std::string& err) {
  return StartProgram(CliPath(), args, out, err);
}

// Waits for a StartCli child and reads what it wrote.
inline CliRun FinishCli(pid_t pid, const std::string& out, const std::string& err) {
  int st = 0;
  waitpid(pid, &st, 0);
  return {WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), Slurp(out), Slurp(err)};
}

inline CliRun RunCli(const std::vector<std::string>& args, const std::string& out,
                     const std::string& err) {
  return FinishCli(StartCli(args, out, err), out, err);
}

// Runs `PROGRAM ARGS...` to its end (a project tool: coolfusion-make-model, ...).
inline CliRun RunProgram(const std::string& program, const std::vector<std::string>& args,
                         const std::string& out, const std::string& err) {
  return FinishCli(StartProgram(program, args, out, err), out, err);
}

}  // namespace coolfusion::testing
