#include "command_flags.h"

#include <algorithm>
#include <initializer_list>

namespace coolfusion::cli {

namespace {

struct FlagRule {
  std::initializer_list<const char*> flags;     // the flag and its aliases
  std::initializer_list<const char*> commands;  // the commands that read it
};

// Flags not listed here are read by every command that runs a model (-m, -c, -t, -ngl,
// --rpc, --verbose, ...), or by every command that generates (the generation flags:
// boundaries has its own list below).
const FlagRule kRules[] = {
    {{"--data", "--train", "--few-shot", "--prompt-suffix", "--answer-prefix", "--limit", "--svg",
      "--log-samples", "--resume"},
     {"eval"}},
    {{"--host", "--port", "--max-queue", "--max-body", "--timeout", "-to", "--max-connections",
      "--max-connections-per-address", "--max-tokens", "--queue-timeout", "--api-key",
      "--cors-origin", "--alias", "-a", "--log-disable"},
     {"serve"}},
    {{"--repeat", "--no-growth", "--big"}, {"bench"}},
    {{"--text-file"}, {"boundaries"}},
    {{"--system", "--tools"}, {"chat"}},
    {{"-p", "--prompt", "-f", "--file"}, {"generate", "boundaries", "bench"}},
    {{"--trace"}, {"generate", "chat"}},
    {{"--json"}, {"generate", "boundaries", "bench", "eval"}},
};

// boundaries runs no generation: it reads the models' tokenizers and nothing else.
const char* const kBoundariesFlags[] = {"-m",
                                        "--model",
                                        "-p",
                                        "--prompt",
                                        "-f",
                                        "--file",
                                        "--text-file",
                                        "--json",
                                        "-c",
                                        "--ctx-size",
                                        "-t",
                                        "--threads",
                                        "-ngl",
                                        "--n-gpu-layers",
                                        "--gpu-layers",
                                        "--rpc",
                                        "--rpc-timeout",
                                        "--no-mmap",
                                        "--mmap",
                                        "-fa",
                                        "--flash-attn",
                                        "-e",
                                        "--escape",
                                        "--no-escape",
                                        "--verbose",
                                        "-v",
                                        "-h",
                                        "--help"};

// serve refuses these itself, saying that each request brings its own (serve.cc).
const std::initializer_list<const char*> kServeSays = {
    "-p", "--prompt", "-f", "--file", "--system", "--tools", "--text-file"};

bool Has(std::initializer_list<const char*> list, const std::string& s) {
  return std::any_of(list.begin(), list.end(), [&](const char* x) { return s == x; });
}

std::string Joined(std::initializer_list<const char*> list) {
  std::string s;
  size_t i = 0;
  for (const char* x : list) {
    s += i == 0 ? "" : (i + 1 == list.size() ? " and " : ", ");
    s += x;
    ++i;
  }
  return s;
}

}  // namespace

Status CheckFlagsFor(const std::string& cmd, const CommonArgs& a) {
  for (const std::string& flag : a.given) {
    if (cmd == "boundaries" && std::find(std::begin(kBoundariesFlags), std::end(kBoundariesFlags),
                                         flag) == std::end(kBoundariesFlags))
      return Status::InvalidArgument(
          flag +
          " is not a boundaries flag: boundaries generates nothing (it takes -m, -p/-f "
          "or --text-file, --json and the model flags)");
    if (cmd == "serve" && Has(kServeSays, flag)) continue;
    for (const FlagRule& r : kRules) {
      if (Has(r.flags, flag) && !Has(r.commands, cmd))
        return Status::InvalidArgument(flag + " is for " + Joined(r.commands) + ", not " + cmd);
    }
    // --task names how eval reads its rows, and how --calibrate reads its file.
    if (flag == "--task" && cmd != "eval" && a.calibrate.empty())
      return Status::InvalidArgument("--task is for eval, and for --calibrate's rows; not " + cmd +
                                     " without --calibrate");
  }
  if (a.methods.size() > 1 && cmd != "eval" && cmd != "bench")
    return Status::InvalidArgument("--method takes one method for " + cmd +
                                   " (a list is for eval and bench)");
  if (a.scores.size() > 1 && cmd != "eval")
    return Status::InvalidArgument("--score takes one rule for " + cmd + " (a list is for eval)");
  return Status::Ok();
}

}  // namespace coolfusion::cli
