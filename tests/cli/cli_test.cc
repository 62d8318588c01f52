// The `coolfusion` binary as a user runs it: exit codes, one-line errors, --json shapes.
#include <gtest/gtest.h>
#include <llama.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "base/utf8.h"
#include "support/corpus.h"
#include "support/paths.h"
#include "support/reference.h"

namespace coolfusion {
namespace {

struct Ran {
  int code = -1;
  std::string out, err;
};

std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A folder of this process's own: ctest runs the tests of this file in parallel.
std::string OwnTempDir() {
  static const std::string dir = [] {
    const std::string d = ::testing::TempDir() + "/coolfusion-cli-" + std::to_string(getpid());
    std::system(("mkdir -p " + d).c_str());
    return d;
  }();
  return dir;
}

Ran Cli(const std::vector<std::string>& args) {
  const std::string dir = OwnTempDir();
  std::string cmd = Quote(testing::CliPath());
  for (const auto& a : args) cmd += " " + Quote(a);
  cmd += " >" + dir + "/cli.out 2>" + dir + "/cli.err </dev/null";
  Ran r;
  const int st = std::system(cmd.c_str());
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = Slurp(dir + "/cli.out");
  r.err = Slurp(dir + "/cli.err");
  return r;
}

std::string TempFile(const std::string& name, const std::string& content) {
  const std::string p = OwnTempDir() + "/" + name;
  std::ofstream(p, std::ios::binary) << content;
  return p;
}

// One line on stderr, starting with "error:", and exit status 1.
void ExpectOneLineError(const Ran& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "want \"" << needle << "\" in: " << r.err;
}

const std::string kStories = testing::Shared("stories260K");
const std::string kDreams = testing::Shared("aidreams260K");

TEST(Cli, BadInputGivesOneLineErrorAndExitOne) {
  ExpectOneLineError(Cli({"generate", "-m", "/no/such.gguf", "-p", "hi"}),
                     "not found: /no/such.gguf");
  ExpectOneLineError(Cli({"generate", "-m", TempFile("junk.gguf", "hello"), "-p", "hi"}),
                     "is not a GGUF file");
  ExpectOneLineError(Cli({"generate", "-m", testing::Vocab("gpt-2"), "-p", "hi"}), "vocab-only");
  // Models by their place in -m (from 1) and file name; the CLI adds the flag to change.
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-c", "32", "-p",
                          std::string(400, 'x') + " y"}),
                     "tokens for model 1 (stories260K), longer than its context of 32 tokens "
                     "(-c sets the context size)");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-f", TempFile("bad.txt", "ab\xC3\x28")}),
                     "not valid UTF-8");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--frobnicate"}),
                     "unknown argument: --frobnicate");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "-n", "0"}),
                     "-n must be -1 (no limit) or in 1..16777216, got 0");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "-n", "-2"}),
                     "-n must be -1 (no limit) or in 1..16777216, got -2");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "-n", "lots"}),
                     "-n expects an integer");
  ExpectOneLineError(Cli({"generate", "-p", "hi"}), "no model given");
  ExpectOneLineError(Cli({"generate", "-m", kStories}), "no prompt given");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--method", "magic"}),
                     "unknown --method");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "-c"}), "missing value for -c");
  ExpectOneLineError(Cli({"generate", "-m", kStories + "@speed=9", "-p", "hi"}),
                     "unknown model option");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-f", "/no/prompt.txt"}), "cannot read file");
  ExpectOneLineError(Cli({"frobnicate"}), "unknown command");
  ExpectOneLineError(Cli({"boundaries", "-m", testing::Vocab("gpt-2"), "-p", "a\xFF"}),
                     "not valid UTF-8");
  // Weights and the prompt-weight temperature.
  ExpectOneLineError(Cli({"generate", "-m", kStories + "@weight=-1", "-p", "hi"}),
                     "-m ...@weight out of range");
  ExpectOneLineError(Cli({"generate", "-m", kStories + "@weight=nan", "-p", "hi"}),
                     "-m ...@weight expects a number");
  ExpectOneLineError(Cli({"generate", "-m", kStories + "@weight=heavy", "-p", "hi"}),
                     "expects a number");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--prompt-temp", "0"}),
                     "--prompt-temp must be > 0");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--prompt-temp", "-2"}),
                     "--prompt-temp must be > 0");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--prompt-temp", "warm"}),
                     "expects a number");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--sit-out", "1"}),
                     "--sit-out must be in [0, 1)");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--prompt-weights", "yes"}),
                     "expects on or off");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--score", "best"}),
                     "unknown --score 'best'");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--rpc-timeout", "soon"}),
                     "expects a number");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--rpc-timeout", "-1"}),
                     "--rpc-timeout");
}

// Issue 23: the peer methods' flags. A name not in the engine's list, a gate outside
// (0, 1] (the engine's check) or not a number, a --log-samples file that cannot be written:
// one line, exit 1.
TEST(Cli, PeerMethodFlagsGiveOneLineErrors) {
  const std::string zoo = COOLFUSION_SOURCE_DIR "/data/arith3/test.jsonl";
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--method", "cool,magic"}),
                     "unknown --method 'magic' (single, cool, cool-shortest, rerank, cool+r, "
                     "unite, gac, adafuse, safe)");
  ExpectOneLineError(Cli({"eval", "--data", zoo, "-m", kStories, "--method", "single,magic"}),
                     "unknown --method 'magic'");
  for (const char* gate : {"0", "1.5", "-0.5"})
    ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "hi", "--method",
                            "gac", "--gate", gate}),
                       "--gate must be in (0, 1]");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--gate", "half"}),
                     "--gate expects a number, got 'half'");
  // A number no double holds is a number out of range, not "not a number".
  for (const char* gate : {"1e-310", "1e309"})
    ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "hi", "--gate", gate}),
                       std::string("--gate out of range: ") + gate);
  // A method without a gate refuses one (issue 34: cool's gate); --confidence is on|off.
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "hi", "--method",
                          "rerank", "--gate", "0.5"}),
                     "rerank has no gate (--gate, coolfusion.gate)");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "--confidence", "maybe"}),
                     "--confidence expects on or off, got 'maybe'");
  ExpectOneLineError(Cli({"eval", "--data", zoo, "-m", kStories, "--log-samples",
                          OwnTempDir() + "/no/such/dir/samples.jsonl"}),
                     "--log-samples: cannot write");
}

// A flag the command would not read is refused, not ignored: eval's flags elsewhere, a
// generation flag to boundaries, chat's to generate, serve's to chat, a list where one
// value is taken; confidence weights for a method without them; chat refuses what every
// turn would refuse before its first message.
TEST(Cli, FlagsTheCommandDoesNotReadAreRefused) {
  const std::string zoo = COOLFUSION_SOURCE_DIR "/data/arith3/test.jsonl";
  const std::vector<std::string> gen = {"generate", "-m", kStories, "-m", kDreams, "-p", "hi"};
  auto plus = [](std::vector<std::string> a, std::initializer_list<std::string> more) {
    a.insert(a.end(), more);
    return a;
  };
  ExpectOneLineError(Cli(plus(gen, {"--limit", "3"})), "--limit is for eval, not generate");
  ExpectOneLineError(Cli(plus(gen, {"--data", zoo})), "--data is for eval, not generate");
  ExpectOneLineError(Cli(plus(gen, {"--task", "gsm8k"})), "--task is for eval");
  ExpectOneLineError(Cli(plus(gen, {"--system", "be brief"})), "--system is for chat");
  ExpectOneLineError(Cli(plus(gen, {"--port", "9000"})), "--port is for serve, not generate");
  ExpectOneLineError(Cli(plus(gen, {"--score", "mean,geomean"})),
                     "--score takes one rule for generate");
  ExpectOneLineError(Cli(plus(gen, {"--score", "mean,"})), "--score has an empty item");
  ExpectOneLineError(Cli(plus(gen, {"--method", "rerank,cool"})),
                     "--method takes one method for generate");
  ExpectOneLineError(Cli(plus(gen, {"--method", "unite", "--confidence", "on"})),
                     "unite does not weigh the models by their confidence");
  ExpectOneLineError(Cli({"boundaries", "-m", kStories, "-p", "hi there", "--gate", "0.5"}),
                     "--gate is not a boundaries flag");
  ExpectOneLineError(Cli({"chat", "-m", kStories, "-m", kDreams, "--json"}),
                     "--json is for generate, boundaries, bench and eval, not chat");
  ExpectOneLineError(Cli({"chat", "-m", kStories, "-m", kDreams, "--token-healing", "on"}),
                     "token healing (--token-healing on, coolfusion.token_healing) does not "
                     "apply to chat messages");
  ExpectOneLineError(
      Cli({"eval", "--task", "choice", "--data", COOLFUSION_SOURCE_DIR "/data/choice/arith3.jsonl",
           "-m", kStories, "--gate", "0.5"}),
      "--gate is for generation; --task choice scores given answers");
  ExpectOneLineError(
      Cli({"serve", "-m", kStories, "-m", kDreams, "--method", "unite", "--token-healing", "on"}),
      "does not apply to this method");
  // What each command does read still runs.
  EXPECT_EQ(Cli({"boundaries", "-m", kStories, "-t", "1", "-p", "hi there"}).code, 0);
  EXPECT_EQ(Cli(plus(gen, {"-t", "1", "-n", "2", "--score", "mean", "--method", "cool"})).code, 0);
}

// Issue 36: eval --parallel N runs N rows at a time (lanes, their decodes batched); every
// row's output is the one it gets alone (flash attention off, as lanes have it on the
// CPU), in the same order; a multiple-choice task refuses it.
TEST(Cli, EvalParallelGivesEveryRowItsOwnOutput) {
  const std::string zoo = COOLFUSION_SOURCE_DIR "/data/arith3/test.jsonl";
  std::vector<nlohmann::json> docs;
  for (const char* np : {"1", "4"}) {
    const std::string out = OwnTempDir() + "/eval-np" + np + ".json";
    Ran r = Cli({"eval", "--data", zoo, "-m", testing::Zoo("a"), "-m", testing::Zoo("b"), "-t", "1",
                 "-n", "24", "--limit", "24", "-fa", "off", "--parallel", np, "--json", out});
    ASSERT_EQ(r.code, 0) << r.err;
    docs.push_back(nlohmann::json::parse(Slurp(out)));
  }
  const auto& one = docs[0].at("predictions");
  const auto& four = docs[1].at("predictions");
  ASSERT_EQ(one.size(), 72u);  // 2 singles and the default, 24 rows each
  ASSERT_EQ(four.size(), one.size());
  for (size_t i = 0; i < one.size(); ++i) {
    EXPECT_EQ(four[i].at("index"), one[i].at("index"));
    EXPECT_EQ(four[i].at("run"), one[i].at("run"));
    EXPECT_EQ(four[i].at("output"), one[i].at("output")) << one[i].dump();
  }
  for (size_t k = 0; k < docs[0].at("results").size(); ++k)
    EXPECT_EQ(docs[1].at("results")[k].at("correct"), docs[0].at("results")[k].at("correct"));
  ExpectOneLineError(
      Cli({"eval", "--task", "choice", "--data", zoo, "-m", kStories, "--parallel", "2"}),
      "--parallel is for generation tasks");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-p", "hi", "-np", "2"}),
                     "-np/--parallel is for serve (request slots) and eval");
}

// Issue 34: --answer-prefix N ends each prompt with a space and the first N characters of
// the row's worked answer (inside a number where it has more digits), and the answer is
// read from them and the output together: with the whole worked answer given (64
// characters cover the zoo's), every row is right (zoo model a ends its answers there).
TEST(Cli, EvalAnswerPrefixEndsThePromptInsideTheAnswer) {
  const std::string zoo = COOLFUSION_SOURCE_DIR "/data/arith3/test.jsonl";
  for (const char* n : {"1", "64"}) {
    const std::string log = OwnTempDir() + "/prefix" + n + ".jsonl";
    const std::string out = OwnTempDir() + "/prefix" + n + ".json";
    Ran r = Cli({"eval", "--data", zoo, "-m", testing::Zoo("a"), "-t", "1", "-n", "4", "--limit",
                 "4", "--answer-prefix", n, "--json", out, "--log-samples", log});
    ASSERT_EQ(r.code, 0) << r.err;
    std::ifstream f(log);
    std::string line;
    ASSERT_TRUE(std::getline(f, line));  // the header
    EXPECT_EQ(nlohmann::json::parse(line).at("settings").at("--answer-prefix"), std::stoi(n))
        << line;
    ASSERT_TRUE(std::getline(f, line));
    const auto row = nlohmann::json::parse(line);
    const std::string prompt = row.at("prompt");
    // Row 0's worked answer is "9 + 19 = 28\n#### 28".
    EXPECT_EQ(prompt.substr(prompt.size() - (n[0] == '1' ? 10 : 28)),
              n[0] == '1' ? "\nAnswer: 9" : "\nAnswer: 9 + 19 = 28\n#### 28")
        << prompt;
    if (n[0] == '6') {
      EXPECT_EQ(nlohmann::json::parse(Slurp(out)).at("results")[0].at("accuracy"), 1.0)
          << Slurp(out);
    }
  }
  ExpectOneLineError(
      Cli({"eval", "--task", "choice", "--data", zoo, "-m", kStories, "--answer-prefix", "1"}),
      "--answer-prefix is for generation tasks");
  ExpectOneLineError(Cli({"eval", "--data", zoo, "-m", kStories, "--answer-prefix", "-1"}),
                     "--answer-prefix");
}

// Issue 34: --calibrate FILE weighs each model by its accuracy alone on FILE's solved rows,
// stores the counts beside FILE, runs only what the store does not hold, and refuses what
// it cannot do in one line.
TEST(Cli, CalibrateWeighsEachModelByItsAccuracyOnSolvedRows) {
  std::ifstream val(COOLFUSION_SOURCE_DIR "/data/arith3/val.jsonl");
  std::string rows, line;
  for (int i = 0; i < 8 && std::getline(val, line); ++i) rows += line + "\n";
  const std::string file = TempFile("calibrate.jsonl", rows);
  const std::string store = file + ".weights.json";
  std::remove(store.c_str());
  // Counts from the stderr lines "calibrate: NAME K of 8 right (measured|stored), ...".
  const auto right = [](const std::string& err, const std::string& name, std::string* how) {
    const size_t at = err.find("calibrate: " + name + " ");
    if (at == std::string::npos) return -1;
    const size_t of = err.find(" of 8 right (", at);
    const size_t close = err.find(')', of);
    *how = err.substr(of + 13, close - of - 13);
    return std::stoi(err.substr(at + 12 + name.size(), of - at - 12 - name.size()));
  };
  const std::vector<std::string> gen = {"generate",
                                        "-t",
                                        "1",
                                        "-n",
                                        "2",
                                        "--json",
                                        "-p",
                                        "Question: 2 + 3?\nAnswer:",
                                        "--prompt-weights",
                                        "off",
                                        "--calibrate",
                                        file};
  auto with = [&](std::vector<std::string> models) {
    std::vector<std::string> args = gen;
    for (const auto& m : models) args.insert(args.end(), {"-m", m});
    return Cli(args);
  };
  Ran r = with({testing::Zoo("a"), kStories});
  ASSERT_EQ(r.code, 0) << r.err;
  std::string how;
  const int a_right = right(r.err, "arith3-a.gguf", &how);
  EXPECT_EQ(how, "measured") << r.err;
  EXPECT_GE(a_right, 4) << r.err;  // the zoo model knows these sums; stories260K does not
  EXPECT_EQ(right(r.err, "stories260K.gguf", &how), 0) << r.err;
  // The weight in the request is the calibrated one: (0 + 1) / (a_right + 1) for stories.
  auto weights = nlohmann::json::parse(r.out).at("model_weights");
  EXPECT_DOUBLE_EQ(weights[0].at("weight").get<double>(), 1.0) << r.out;
  EXPECT_NEAR(weights[1].at("weight").get<double>(), 1.0 / (a_right + 1), 1e-9) << r.out;
  EXPECT_NE(Slurp(store).find("\"right\""), std::string::npos);

  // Stored: nothing runs again; a model added is the only one measured; weight= multiplies.
  r = with({testing::Zoo("a"), kStories});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.err.find("alone ("), std::string::npos) << r.err;
  EXPECT_EQ(right(r.err, "arith3-a.gguf", &how), a_right);
  EXPECT_EQ(how, "stored") << r.err;
  // Another context size: measured again (a row cut by a small context counts as wrong).
  r = with({testing::Zoo("a") + "@ctx=2048", kStories});
  ASSERT_EQ(r.code, 0) << r.err;
  right(r.err, "arith3-a.gguf", &how);
  EXPECT_EQ(how, "measured") << r.err;
  right(r.err, "stories260K.gguf", &how);
  EXPECT_EQ(how, "stored") << r.err;
  r = with({testing::Zoo("a"), kStories + "@weight=0.5", testing::Zoo("b")});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("8 rows of " + file + ", 1 model alone"), std::string::npos) << r.err;
  right(r.err, "arith3-b.gguf", &how);
  EXPECT_EQ(how, "measured") << r.err;
  right(r.err, "stories260K.gguf", &how);
  EXPECT_EQ(how, "stored") << r.err;
  weights = nlohmann::json::parse(r.out).at("model_weights");
  const int best = std::max(a_right, right(r.err, "arith3-b.gguf", &how));
  EXPECT_NEAR(weights[1].at("weight").get<double>(), 0.5 / (best + 1), 1e-9) << r.out;

  // Other rows: measured again.
  std::ofstream(file, std::ios::app) << rows.substr(0, rows.find('\n') + 1);
  r = with({testing::Zoo("a"), kStories});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("9 rows of " + file + ", 2 models alone"), std::string::npos) << r.err;

  // A store that cannot be written is a warning; the weights still apply.
  std::remove(store.c_str());
  std::system(("mkdir -p " + Quote(store)).c_str());
  r = with({testing::Zoo("a"), kStories});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("warning: calibrate: the counts are not stored"), std::string::npos)
      << r.err;
  EXPECT_EQ(r.err.find("counts stored in"), std::string::npos) << r.err;
  EXPECT_LT(nlohmann::json::parse(r.out).at("model_weights")[1].at("weight").get<double>(), 0.5);
  std::system(("rmdir " + Quote(store)).c_str());
  // Calibrating on the rows eval scores is allowed, with a warning.
  r = Cli({"eval", "--data", file, "--calibrate", file, "-m", testing::Zoo("a"), "-m", kStories,
           "-t", "1", "-n", "1", "--limit", "1", "--method", "cool"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("is also --data"), std::string::npos) << r.err;

  ExpectOneLineError(with({testing::Zoo("a"), OwnTempDir() + "/none.gguf"}), "none.gguf");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "x", "--calibrate",
                          OwnTempDir() + "/missing.jsonl"}),
                     "missing.jsonl");
  ExpectOneLineError(
      Cli({"boundaries", "-m", kStories, "-m", kDreams, "-p", "x", "--calibrate", file}),
      "--calibrate is not a boundaries flag");
  ExpectOneLineError(Cli({"bench", "-m", kStories, "-m", kDreams, "--calibrate", file}),
                     "--calibrate is for generate, chat, serve and eval, not bench");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "x", "--calibrate", ""}),
                     "--calibrate expects a file of solved rows");
  ExpectOneLineError(Cli({"eval", "--task", "choice", "--data", file, "-m", kStories, "-m", kDreams,
                          "--calibrate", file}),
                     "--calibrate takes rows of a generation task");
  std::string many;
  for (int i = 0; i < 2001; ++i) many += rows.substr(0, rows.find('\n') + 1);
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "x", "--calibrate",
                          TempFile("many.jsonl", many)}),
                     "has 2001 rows, more than 2000");
  ExpectOneLineError(Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "x", "--calibrate",
                          TempFile("bad.jsonl", "{\"question\": 1}\n")}),
                     "bad.jsonl:1");
}

// Issue 23: every run of `eval` is compared with the default (added when the list does not
// name it), carries its tokens per second and summed counters, lm-evaluation-harness's
// names, and --log-samples writes one line per row and run.
TEST(Cli, EvalComparesWithTheDefaultAndLogsSamples) {
  const std::string zoo = COOLFUSION_SOURCE_DIR "/data/arith3/test.jsonl";
  const std::string out = OwnTempDir() + "/eval.json", log = OwnTempDir() + "/samples.jsonl";
  Ran r =
      Cli({"eval", "--data", zoo, "-m", testing::Zoo("a"), "-m", testing::Zoo("b"), "-t", "1", "-n",
           "32", "--limit", "3", "--method", "single,cool+r", "--json", out, "--log-samples", log});
  ASSERT_EQ(r.code, 0) << r.err;
  // Progress off a terminal (issue 24): no bar redrawn with \r, a line per 10% of the 12
  // rows x runs at most, and the last one at 100%.
  EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
  std::vector<std::string> progress;
  std::istringstream err_lines(r.err);
  for (std::string line; std::getline(err_lines, line);)
    if (line.find(" ETA ") != std::string::npos) progress.push_back(line);
  ASSERT_FALSE(progress.empty()) << r.err;
  EXPECT_LE(progress.size(), 10u) << r.err;
  EXPECT_NE(progress.back().find("100% 12/12"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("vs default (95% CI)"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("cool (default)"), std::string::npos) << r.out;
  const auto doc = nlohmann::json::parse(Slurp(out));
  EXPECT_EQ(doc.at("default"), "cool (default)");
  const auto& results = doc.at("results");
  ASSERT_EQ(results.size(), 4u) << results.dump();  // 2 singles, the default, cool+r
  EXPECT_EQ(results[2].at("label"), "cool (default)");
  EXPECT_EQ(results[2].at("added_as_reference"), true);
  EXPECT_FALSE(results[2].contains("vs_default"));
  for (const auto& row : results) {
    if (row.at("label") != "cool (default)") {
      const auto& vd = row.at("vs_default");
      EXPECT_EQ(vd.at("label"), "cool (default)");
      EXPECT_EQ(vd.at("ci95").size(), 2u);
      EXPECT_NEAR(vd.at("diff").get<double>(),
                  row.at("accuracy").get<double>() - results[2].at("accuracy").get<double>(), 1e-9);
    }
    const auto& c = row.at("counters");
    EXPECT_GT(c.at("new_tokens").get<int>(), 0) << row.dump();
    EXPECT_GE(c.at("decode_calls").get<int>(), c.at("new_tokens").get<int>()) << row.dump();
    EXPECT_GE(c.at("tokens_decoded").get<int>(), c.at("decode_calls").get<int>()) << row.dump();
    EXPECT_TRUE(c.contains("positions") && c.contains("fused_positions"));
    EXPECT_NEAR(row.at("tokens_per_s").get<double>(),
                c.at("new_tokens").get<double>() / row.at("seconds").get<double>(), 1e-6);
    // The zoo writes "#### N": both harness filters read what eval reads.
    const double p = row.at("accuracy");
    EXPECT_EQ(row.at("exact_match,strict-match").get<double>(), p) << row.dump();
    EXPECT_EQ(row.at("exact_match,flexible-extract").get<double>(), p) << row.dump();
    EXPECT_NEAR(row.at("exact_match_stderr,strict-match").get<double>(), std::sqrt(p * (1 - p) / 2),
                1e-12);
  }
  // The header (the run's settings, for --resume), then a line per row and run.
  std::ifstream f(log);
  std::string header;
  ASSERT_TRUE(std::getline(f, header));
  EXPECT_EQ(nlohmann::json::parse(header).at("coolfusion_eval_samples"), 1) << header;
  int lines = 0;
  for (std::string line; std::getline(f, line); ++lines) {
    const auto j = nlohmann::json::parse(line);
    for (const char* k : {"doc_id", "run", "prompt", "output", "target", "correct"})
      EXPECT_TRUE(j.contains(k)) << k << " in " << line;
    EXPECT_EQ(j.at("filtered_resps").at("strict-match"), j.at("predicted")) << line;
    EXPECT_EQ(j.contains("model_weights"), j.at("method") != "single") << line;
  }
  EXPECT_EQ(lines, 12);  // 3 rows x 4 runs
  // Cut before "####" (-n 12 of a character-level model): strict-match finds nothing,
  // flexible-extract still reads the last number.
  Ran cut = Cli({"eval", "--data", zoo, "-m", testing::Zoo("a"), "-t", "1", "-n", "12", "--limit",
                 "3", "--method", "single", "--json", out, "--log-samples", log});
  ASSERT_EQ(cut.code, 0) << cut.err;
  const auto row = nlohmann::json::parse(Slurp(out)).at("results").at(0);
  EXPECT_EQ(row.at("exact_match,strict-match"), 0.0) << row.dump();
  EXPECT_EQ(row.at("exact_match,flexible-extract"), row.at("accuracy")) << row.dump();
  EXPECT_GT(row.at("accuracy").get<double>(), 0) << row.dump();
  std::ifstream g(log);
  std::string first;
  ASSERT_TRUE(std::getline(g, first) && std::getline(g, first));
  EXPECT_EQ(nlohmann::json::parse(first).at("filtered_resps").at("strict-match"), "[invalid]");
}

// Issue 25: with two or more single models, eval reports what their mistakes look like:
// the oracle (rows any single gets right), the vote (their majority answer, ties to the
// more accurate) and the pairwise overlap of their mistakes, each recomputed here from the
// per-row predictions of the same JSON. Every sixth row's gold is made one no model writes,
// so that the oracle is neither every row nor the best single's count.
TEST(Cli, EvalReportsTheOracleVoteAndMistakeOverlapOfTheSingles) {
  std::ifstream in(COOLFUSION_SOURCE_DIR "/data/arith3/test.jsonl");
  std::string rows;
  int n = 0;
  for (std::string line; n < 30 && std::getline(in, line); ++n) {
    if (n % 6 == 5) {
      auto j = nlohmann::json::parse(line);
      j["answer"] = "#### 100000";
      line = j.dump();
    }
    rows += line + "\n";
  }
  const std::string data = TempFile("singles.jsonl", rows), out = OwnTempDir() + "/singles.json";
  const std::vector<std::string> names = {"a", "b-weak", "c"};
  std::vector<std::string> args = {"eval", "--data",   data,     "-t",     "1", "-n",
                                   "32",   "--method", "single", "--json", out};
  for (const auto& m : names) args.insert(args.end(), {"-m", testing::Zoo(m)});
  Ran r = Cli(args);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto doc = nlohmann::json::parse(Slurp(out));
  // Per single (in the command line's order): each row's answer and whether it is right.
  const size_t k = names.size(), rows_n = (size_t)n;
  std::vector<std::string> labels;
  for (const auto& m : names) labels.push_back("single arith3-" + m + ".gguf");
  std::vector<std::vector<std::string>> answer(k, std::vector<std::string>(rows_n));
  std::vector<std::vector<int>> right(k, std::vector<int>(rows_n, -1));
  for (const auto& p : doc.at("predictions")) {
    const size_t m =
        (size_t)(std::find(labels.begin(), labels.end(), p.at("run")) - labels.begin());
    ASSERT_LT(m, k) << p.dump();
    answer[m][p.at("index").get<size_t>()] = p.at("predicted");
    right[m][p.at("index").get<size_t>()] = p.at("correct").get<bool>();
  }
  std::vector<int> correct(k, 0);
  for (size_t m = 0; m < k; ++m)
    for (size_t i = 0; i < rows_n; ++i) {
      ASSERT_GE(right[m][i], 0) << "no prediction of " << labels[m] << " for row " << i;
      correct[m] += right[m][i];
    }
  const size_t best = (size_t)(std::max_element(correct.begin(), correct.end()) - correct.begin());
  // Ties go to the more accurate, then to the earlier on the command line.
  std::vector<size_t> ranked = {0, 1, 2};
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](size_t x, size_t y) { return correct[x] > correct[y]; });
  int oracle = 0, vote = 0;
  std::vector<std::string> voted;
  for (size_t i = 0; i < rows_n; ++i) {
    bool any = false;
    for (size_t m = 0; m < k; ++m) any = any || right[m][i];
    oracle += any;
    std::string chosen;
    int most = 0;
    for (size_t c : ranked) {
      if (answer[c][i].empty()) continue;
      int votes = 0;
      for (size_t m = 0; m < k; ++m) votes += answer[m][i] == answer[c][i];
      if (votes > most) chosen = answer[c][i], most = votes;
    }
    voted.push_back(chosen);
    // The voted answer is right when it is the answer of a single that got the row right.
    bool vote_right = false;
    for (size_t m = 0; m < k; ++m)
      vote_right = vote_right || (right[m][i] && answer[m][i] == chosen);
    vote += vote_right;
  }
  // The case tells the oracle from its neighbours: below every row, above the best single.
  EXPECT_LT(oracle, n);
  EXPECT_GT(oracle, correct[best]);
  const auto& a = doc.at("singles_analysis");
  EXPECT_EQ(a.at("singles"), labels);
  EXPECT_EQ(a.at("best_single"), labels[best]);
  EXPECT_EQ(a.at("n"), n);
  const auto& o = a.at("oracle");
  EXPECT_EQ(o.at("correct"), oracle) << o.dump();
  EXPECT_EQ(o.at("n"), n);
  EXPECT_NEAR(o.at("accuracy").get<double>(), (double)oracle / n, 1e-12);
  EXPECT_LE(o.at("ci95")[0].get<double>(), o.at("accuracy").get<double>());
  EXPECT_GE(o.at("ci95")[1].get<double>(), o.at("accuracy").get<double>());
  EXPECT_NEAR(o.at("vs_best_single").at("diff").get<double>(), (double)(oracle - correct[best]) / n,
              1e-12);
  const auto& v = a.at("vote");
  EXPECT_EQ(v.at("answers"), voted) << v.dump();
  EXPECT_EQ(v.at("correct"), vote) << v.dump();
  EXPECT_NEAR(v.at("accuracy").get<double>(), (double)vote / n, 1e-12);
  EXPECT_EQ(v.at("vs_best_single").at("label"), labels[best]);
  EXPECT_NEAR(v.at("vs_best_single").at("diff").get<double>(), (double)(vote - correct[best]) / n,
              1e-12);
  EXPECT_EQ(v.at("vs_best_single").at("ci95").size(), 2u);
  const auto& overlap = a.at("mistake_overlap");
  ASSERT_EQ(overlap.size(), 3u);  // (a, b-weak), (a, c), (b-weak, c)
  size_t pair = 0;
  for (size_t x = 0; x < k; ++x) {
    for (size_t y = x + 1; y < k; ++y, ++pair) {
      int both = 0;
      for (size_t i = 0; i < rows_n; ++i) both += !right[x][i] && !right[y][i];
      const int aw = n - correct[x], bw = n - correct[y], either = aw + bw - both;
      const auto& p = overlap[pair];
      EXPECT_EQ(p.at("a"), labels[x]);
      EXPECT_EQ(p.at("b"), labels[y]);
      EXPECT_EQ(p.at("a_wrong"), aw) << p.dump();
      EXPECT_EQ(p.at("b_wrong"), bw) << p.dump();
      EXPECT_EQ(p.at("both_wrong"), both) << p.dump();
      EXPECT_EQ(p.at("either_wrong"), either) << p.dump();
      EXPECT_NEAR(p.at("jaccard").get<double>(), (double)both / either, 1e-12) << p.dump();
      EXPECT_NEAR(p.at("independent_both_wrong").get<double>(), (double)aw * bw / n, 1e-12);
    }
  }
  // The printed block, after the main table.
  char want[64];
  std::snprintf(want, sizeof want, "  oracle  %5.1f%%", 100.0 * oracle / n);
  EXPECT_NE(r.out.find(want), std::string::npos) << "want \"" << want << "\" in:\n" << r.out;
  std::snprintf(want, sizeof want, "  vote    %5.1f%%", 100.0 * vote / n);
  EXPECT_NE(r.out.find(want), std::string::npos) << "want \"" << want << "\" in:\n" << r.out;
  EXPECT_NE(r.out.find("mistake overlap"), std::string::npos) << r.out;
  EXPECT_GT(r.out.find("Single models:"), r.out.find("single arith3-c.gguf")) << r.out;
  // One single: nothing to compare (null, no block).
  Ran one = Cli({"eval", "--data", data, "-m", testing::Zoo("a"), "-t", "1", "-n", "32", "--limit",
                 "2", "--method", "single", "--json", out});
  ASSERT_EQ(one.code, 0) << one.err;
  EXPECT_TRUE(nlohmann::json::parse(Slurp(out)).at("singles_analysis").is_null());
  EXPECT_EQ(one.out.find("oracle"), std::string::npos) << one.out;
}

// Issue 23: `bench --method` measures each method beside the singles, and the cost model.
TEST(Cli, BenchMeasuresEveryMethodOfTheList) {
  const std::string a = testing::Tiny("llama-spm"), b = testing::Tiny("gpt-2");
  // A --gate is for the fused runs: the singles beside them run without it.
  Ran r = Cli({"bench", "-m", a, "-m", b, "-n", "4", "--repeat", "1", "--no-growth", "--method",
               "cool,cool+r", "--gate", "0.5", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("(5) methods side by side"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("ms per decode call"), std::string::npos) << r.out;
  // Measurements, not the project's goals (issue 24); models numbered from 1, as -m.
  EXPECT_EQ(r.out.find("goal"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("model 1: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("single model 2 "), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(" m0"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find("\n{") + 1));
  const auto& set = j.at("bench").at(0);
  ASSERT_EQ(set.at("methods").size(), 2u) << set.dump();
  for (const auto& m : set.at("methods")) {
    EXPECT_GT(m.at("R").get<double>(), 0) << m.dump();
    EXPECT_GT(m.at("ms_per_new_token").get<double>(), 0) << m.dump();
    EXPECT_GE(m.at("decode_calls_per_new_token").get<double>(), 1) << m.dump();
    EXPECT_GE(m.at("tokens_decoded_per_new_token").get<double>(),
              m.at("decode_calls_per_new_token").get<double>())
        << m.dump();
  }
  EXPECT_EQ(set.at("methods")[1].at("method"), "cool+r");
  ASSERT_EQ(set.at("singles").size(), 2u) << set.dump();
  EXPECT_TRUE(set.at("cost_model").at("ms_per_decode_call").is_number()) << set.dump();
}

// The default: each model's fit to the prompt is reported and decides who takes part.
TEST(Cli, JsonAndTraceReportPromptWeights) {
  const std::string a = testing::Zoo("a"), c = testing::Zoo("c");
  const std::string q =
      "Question: Ann has 23 shells. Ann gives 8 shells to Ben. How many shells does Ann have "
      "now?\nAnswer:";
  Ran js = Cli({"generate", "-m", a, "-m", c, "-p", q, "-n", "16", "--json"});
  ASSERT_EQ(js.code, 0) << js.err;
  const auto j = nlohmann::json::parse(js.out);
  EXPECT_EQ(j.at("score"), "auto");
  EXPECT_EQ(j.at("prompt_weights"), true);
  const auto& w = j.at("model_weights");
  ASSERT_EQ(w.size(), 2u);
  EXPECT_LT(w[0].at("prompt_bits_per_byte").get<double>(),
            w[1].at("prompt_bits_per_byte").get<double>());
  EXPECT_EQ(w[0].at("weight"), 1.0);
  EXPECT_EQ(w[1].at("sat_out"), true);
  EXPECT_EQ(j.at("counters").at("sat_out"), 1);
  Ran tr = Cli({"generate", "-m", a, "-m", c, "-p", q, "-n", "16", "--trace"});
  ASSERT_EQ(tr.code, 0) << tr.err;
  EXPECT_NE(tr.err.find("[weights] m1 arith3-a: "), std::string::npos) << tr.err;
  EXPECT_NE(tr.err.find("sat out"), std::string::npos) << tr.err;
  // --score mean: the paper's rule, nothing measured, both take part.
  Ran mean = Cli({"generate", "-m", a, "-m", c, "-p", q, "-n", "16", "--json", "--score", "mean"});
  ASSERT_EQ(mean.code, 0) << mean.err;
  const auto m = nlohmann::json::parse(mean.out);
  EXPECT_EQ(m.at("prompt_weights"), false);
  EXPECT_TRUE(m.at("model_weights")[1].at("prompt_bits_per_byte").is_null());
  EXPECT_EQ(m.at("model_weights")[1].at("sat_out"), false);
}

// Issue 14: `bench` ends with the cost-growth table, as text and in --json, and its
// alignment column measures something on every row.
TEST(Cli, BenchPrintsTheCostGrowthTable) {
  const std::string a = testing::Tiny("llama-spm"), b = testing::Tiny("gpt-2");
  Ran r = Cli({"bench", "-m", a, "-m", b, "-n", "4", "--repeat", "1", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("== cost as work grows"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("CJK-only 4000 vs 100 characters"), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find("goal"), std::string::npos) << r.out;
  const auto j = nlohmann::json::parse(r.out.substr(r.out.find("\n{") + 1));
  const auto& rows = j.at("growth");
  ASSERT_EQ(rows.size(), 10u) << rows.dump();  // (a) 3, (b) 1 with two models, (c) 4, (d) 2
  for (const auto& row : rows) {
    EXPECT_GT(row.at("new_tokens").get<int>(), 0) << row.dump();
    EXPECT_GT(row.at("align_ms_per_step").get<double>(), 0) << row.dump();
  }
}

TEST(Cli, HelpTellsEveryCommandAndFlag) {
  Ran r = Cli({"--help"});
  EXPECT_EQ(r.code, 0);
  for (const char* s : {"generate",
                        "chat",
                        "boundaries",
                        "bench",
                        "-m",
                        "-p",
                        "-f",
                        "-n",
                        "-c",
                        "-t",
                        "-ngl",
                        "--method",
                        "--temp",
                        "--seed",
                        "--stop",
                        "--json",
                        "--score",
                        "--text-file",
                        "--prompt-weights",
                        "--prompt-temp",
                        "--sit-out",
                        "--word-end",
                        "--confidence",
                        "--gate",
                        "--log-samples",
                        "--resume",
                        "unite, gac, adafuse, safe",
                        "auto (default)"}) {
    EXPECT_NE(r.out.find(s), std::string::npos) << s;
  }
  EXPECT_EQ(Cli({"generate", "--help"}).code, 0);
}

TEST(Cli, GenerateStreamsTextAndJsonHasTheDocumentedShape) {
  Ran plain =
      Cli({"generate", "-m", kStories, "-m", kDreams, "-p", "Once upon a time", "-n", "20"});
  ASSERT_EQ(plain.code, 0) << plain.err;
  Ran js = Cli(
      {"generate", "-m", kStories, "-m", kDreams, "-p", "Once upon a time", "-n", "20", "--json"});
  ASSERT_EQ(js.code, 0) << js.err;
  const auto j = nlohmann::json::parse(js.out);
  const std::string text = j.at("text");
  EXPECT_EQ(plain.out, text + "\n");  // streamed text is the same text
  EXPECT_EQ(j.at("stop_reason"), "length");
  std::string concat;
  for (const auto& s : j.at("segments")) {
    concat += s.at("text").get<std::string>();
    const int winner = s.at("winner");
    EXPECT_TRUE(winner == 0 || winner == 1);
    ASSERT_FALSE(s.at("candidates").empty());
    for (const auto& c : s.at("candidates")) {
      EXPECT_TRUE(c.contains("model") && c.contains("text") && c.contains("mean_ppl"));
      EXPECT_EQ(c.at("ppl").size(), 2u);
    }
  }
  EXPECT_EQ(concat, text);
  EXPECT_TRUE(j.at("timings").contains("total_ms"));
  EXPECT_TRUE(j.at("counters").contains("retokenize_changes"));
}

TEST(Cli, OneModelIsPlainGreedyGeneration) {
  Ran r = Cli({"generate", "-m", kStories, "-p", "Once upon a time", "-n", "16", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j.at("method"), "single");
  EXPECT_EQ(j.at("text"), ", there was a little girl named Lily. She loved to play");
}

TEST(Cli, BoundariesJsonEqualsTheDefinition) {
  std::vector<std::string> args = {"boundaries", "--json"};
  std::vector<const llama_vocab*> vocabs;
  std::vector<llama_model*> models;
  for (const auto& v : testing::BoundaryVocabs()) {
    args.push_back("-m");
    args.push_back(testing::Vocab(v));
    llama_model_params mp = llama_model_default_params();
    mp.vocab_only = true;
    models.push_back(llama_model_load_from_file(testing::Vocab(v).c_str(), mp));
    vocabs.push_back(llama_model_get_vocab(models.back()));
  }
  const auto corpus = testing::MakeCorpus(20, 99);
  for (size_t i = 0; i < corpus.size(); ++i) {
    auto a = args;
    a.push_back("--text-file");
    a.push_back(TempFile("text" + std::to_string(i) + ".txt", corpus[i]));
    Ran r = Cli(a);
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    std::vector<size_t> want;
    ASSERT_TRUE(testing::ReferenceBoundaries(vocabs, corpus[i], &want));
    EXPECT_EQ(j.at("boundaries").get<std::vector<size_t>>(), want) << corpus[i];
    EXPECT_EQ(j.at("models").size(), 7u);
    EXPECT_EQ(j.at("vocab_overlap").size(), 21u);
  }
  for (auto* m : models) llama_model_free(m);
}

// Runs the CLI with stdout and stderr into one file, as on a terminal: what a person sees.
Ran CliOneStream(const std::vector<std::string>& args) {
  const std::string dir = OwnTempDir();
  std::string cmd = Quote(testing::CliPath());
  for (const auto& a : args) cmd += " " + Quote(a);
  cmd += " >" + dir + "/cli.both 2>&1 </dev/null";
  Ran r;
  const int st = std::system(cmd.c_str());
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
  r.out = Slurp(dir + "/cli.both");
  return r;
}

// Issue 24: -n -1 is llama.cpp's "no limit": generation goes on until the models end the
// text or a context is full, past the default 128 tokens.
TEST(Cli, NoTokenLimitGeneratesUntilTheEndOrAFullContext) {
  // -t 1 here and below: ctest runs two tests at once on 2 cores, and ggml's threads spin
  // while they wait for each other; with every core asked for beside another test, this
  // took 78 s under the sanitizers instead of 1 s.
  Ran r = Cli({"generate", "-m", kStories, "-m", kDreams, "-c", "200", "-t", "1", "-p",
               "Once upon a time", "-n", "-1", "--json"});
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  const std::string reason = j.at("stop_reason");
  EXPECT_TRUE(reason == "eog" || reason == "context") << reason;
  if (reason == "context") {
    EXPECT_GT(j.at("n_new_tokens").get<int>(), 128) << r.out;
  }
  // chat takes it too.
  const std::string dir = OwnTempDir();
  const std::string cmd = "printf 'Hello\\n/exit\\n' | " + Quote(testing::CliPath()) + " chat -m " +
                          kStories + " -c 200 -t 1 -n -1 >" + dir + "/chat.out 2>" + dir +
                          "/chat.err";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << Slurp(dir + "/chat.err");
  EXPECT_FALSE(Slurp(dir + "/chat.out").empty());
}

bool BuildHasGpu() {
  for (size_t i = 0; i < ggml_backend_dev_count(); ++i) {
    const enum ggml_backend_dev_type t = ggml_backend_dev_type(ggml_backend_dev_get(i));
    if (t == GGML_BACKEND_DEVICE_TYPE_GPU || t == GGML_BACKEND_DEVICE_TYPE_IGPU) return true;
  }
  return false;
}

// Issue 24: -ngl on a build without a GPU backend is said, once, and generation goes on.
TEST(Cli, GpuLayersWithoutAGpuBackendWarnOnceAndGenerateOnTheCpu) {
  const std::vector<std::string> args = {"generate",         "-m", kStories, "-m", kDreams, "-p",
                                         "Once upon a time", "-n", "8"};
  auto with = args;
  with.insert(with.end(), {"-ngl", "99"});
  Ran r = Cli(with);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(r.out.empty());
  const std::string warning =
      "warning: -ngl 99: this build has no GPU backend; the layers stay on the CPU";
  size_t n = 0;
  for (size_t p = r.err.find("no GPU backend"); p != std::string::npos;
       p = r.err.find("no GPU backend", p + 1))
    ++n;
  if (BuildHasGpu()) {
    EXPECT_EQ(n, 0u) << r.err;
  } else {
    EXPECT_EQ(n, 1u) << r.err;
    EXPECT_EQ(r.err.rfind(warning, 0), 0u) << r.err;  // the first line
  }
  Ran none = Cli(args);  // no -ngl: nothing to say
  ASSERT_EQ(none.code, 0) << none.err;
  EXPECT_EQ(none.err.find("GPU"), std::string::npos) << none.err;
  EXPECT_EQ(none.out, r.out);  // the same text either way
}

// Issue 24: on a terminal the streamed text and --trace share the screen: each trace line
// starts on a line of its own; a step with one candidate says so instead of NaN
// perplexities; models are m1, m2 as in -m.
TEST(Cli, TraceLinesStartOnAFreshLineAndSayWhenAllAgreed) {
  // --score mean: both models take part (no prompt weights to make one sit out).
  const std::vector<std::string> args = {
      "generate", "-m",   kStories, "-m",  kDreams, "-p", "Once upon a time", "-n", "40", "--trace",
      "--score",  "mean", "-c",     "256", "-t",    "1"};
  Ran both = CliOneStream(args);
  ASSERT_EQ(both.code, 0) << both.out;
  size_t steps = 0;
  for (const char* tag : {"[step ", "[weights] "}) {
    for (size_t p = both.out.find(tag); p != std::string::npos; p = both.out.find(tag, p + 1)) {
      EXPECT_TRUE(p == 0 || both.out[p - 1] == '\n') << "mid-line at " << p << ":\n" << both.out;
      steps += tag[1] == 's';
    }
  }
  EXPECT_GT(steps, 3u) << both.out;
  EXPECT_EQ(both.out.find("nan"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("| all agreed (m1 m2)"), std::string::npos) << both.out;
  EXPECT_NE(both.out.find("[weights] m1 stories260K: prompt not measured weight 1 | m2 "
                          "aidreams260K: "),
            std::string::npos)
      << both.out;
  EXPECT_EQ(both.out.find(" m0"), std::string::npos) << both.out;
  // Apart (a file each), stderr gets no extra newlines and stdout is the text alone.
  Ran apart = Cli(args);
  ASSERT_EQ(apart.code, 0) << apart.err;
  EXPECT_EQ(apart.err.find("\n\n[step"), std::string::npos) << apart.err;
  EXPECT_EQ(apart.err.rfind("[weights] ", 0), 0u) << apart.err;
  EXPECT_EQ(apart.out.find("[step"), std::string::npos) << apart.out;
}

// Issue 24: human-readable lines number models from 1, in -m order, with their file names.
TEST(Cli, ModelsAreNumberedFromOneWithTheirFileNames) {
  Ran b = Cli({"boundaries", "-m", testing::Vocab("gpt-2"), "-m", testing::Vocab("llama-spm"), "-p",
               "Hello world"});
  ASSERT_EQ(b.code, 0) << b.err;
  EXPECT_NE(b.out.find("model 1 (ggml-vocab-gpt-2) and model 2 (ggml-vocab-llama-spm) share"),
            std::string::npos)
      << b.out;
  const std::string dir = OwnTempDir();
  const std::string cmd = "printf '/exit\\n' | " + Quote(testing::CliPath()) + " chat -m " +
                          kStories + " -m " + testing::Tiny("qwen2-chat") + " 2>" + dir +
                          "/chat-names.err >/dev/null";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string err = Slurp(dir + "/chat-names.err");
  EXPECT_NE(err.find("model 1 (stories260K): no GGUF template"), std::string::npos) << err;
  EXPECT_NE(err.find("model 2 (rand-qwen2-chat): its own GGUF chat template"), std::string::npos)
      << err;
}

// Issue 24: escapes in -p are processed by default (-e, llama.cpp's), kept with --no-escape.
TEST(Cli, EscapesInThePromptAreProcessedByDefault) {
  for (const auto& [flags, bytes] : std::vector<std::pair<std::vector<std::string>, int>>{
           {{}, 3}, {{"-e"}, 3}, {{"--no-escape"}, 4}}) {
    std::vector<std::string> args = {"boundaries", "-m",    testing::Vocab("gpt-2"),
                                     "-p",         "a\\nb", "--json"};
    args.insert(args.end(), flags.begin(), flags.end());
    Ran r = Cli(args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(nlohmann::json::parse(r.out).at("text_bytes"), bytes) << r.out;
  }
}

// An answer cut inside a character (rand-r1-think's first, at -n 12) does not break the
// next turn: the history keeps it repaired.
TEST(Cli, ChatGoesOnAfterAnAnswerCutInsideACharacter) {
  const std::string dir = OwnTempDir();
  const std::string cmd = "printf 'Hello there\\nAnd again\\n/exit\\n' | " +
                          Quote(testing::CliPath()) + " chat -m " + testing::Tiny("r1-think") +
                          " -n 12 --system 'Be brief.' >" + dir + "/cut.out 2>" + dir + "/cut.err";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  const std::string out = Slurp(dir + "/cut.out"), err = Slurp(dir + "/cut.err");
  EXPECT_EQ(err.find("error:"), std::string::npos) << err;
  EXPECT_FALSE(IsValidUtf8(out)) << "no answer was cut inside a character: " << out;
}

TEST(Cli, ChatReadsTurnsFromStdin) {
  const std::string dir = OwnTempDir();
  const std::string cmd = "printf 'Hello there\\n/exit\\n' | " + Quote(testing::CliPath()) +
                          " chat -m " + kStories + " -m " + kDreams + " -n 12 >" + dir +
                          "/chat.out 2>" + dir + "/chat.err";
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  EXPECT_FALSE(Slurp(dir + "/chat.out").empty());
  EXPECT_NE(Slurp(dir + "/chat.err").find("plain 'Role: text' lines"), std::string::npos);
}

// Issue 33: chat --tools FILE shows a call (tool_choice required in the file) and reads its
// result, then answers again; a tools file that is not one is an error naming it.
TEST(Cli, ChatCallsAToolAndTakesTheResultBack) {
  const std::string dir = OwnTempDir();
  const std::string tools = testing::SourceDir() + "/data/tools/weather.json";
  const std::string cmd = "printf 'Weather in Paris?\\nsunny, 21 C\\n/exit\\n' | " +
                          Quote(testing::CliPath()) + " chat -m " + testing::Tiny("qwen2-chat") +
                          " -m " + testing::Tiny("llama-spm") + " --tools " + Quote(tools) +
                          " -n 60 >" + dir + "/tools.out 2>" + dir + "/tools.err";
  ASSERT_EQ(std::system(cmd.c_str()), 0) << Slurp(dir + "/tools.err");
  const std::string err = Slurp(dir + "/tools.err"), out = Slurp(dir + "/tools.out");
  EXPECT_NE(err.find("1 tools from"), std::string::npos) << err;
  EXPECT_NE(err.find("[tool call call_"), std::string::npos) << err;
  EXPECT_NE(err.find(": get_weather({\"city\":"), std::string::npos) << err;
  EXPECT_NE(err.find("result of get_weather> "), std::string::npos) << err;
  // The answer with the call, then one after its result.
  size_t answers = 0;
  for (size_t at = 0; (at = err.find("[models: ", at)) != std::string::npos; ++at) ++answers;
  EXPECT_GE(answers, 2u) << err;
  EXPECT_NE(out.find("<tool_call>"), std::string::npos) << out;

  std::ofstream(dir + "/not-tools.json") << "{\"tools\": 5}";
  Ran bad = Cli({"chat", "-m", testing::Tiny("llama-spm"), "--tools", dir + "/not-tools.json"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(
      bad.err.find("error: --tools " + dir + "/not-tools.json: expected a non-empty JSON array"),
      std::string::npos)
      << bad.err;
  bad = Cli({"chat", "-m", testing::Tiny("llama-spm"), "--tools", dir + "/missing.json"});
  EXPECT_EQ(bad.code, 1);
  EXPECT_NE(bad.err.find("error: "), std::string::npos);
}

}  // namespace
}  // namespace coolfusion
