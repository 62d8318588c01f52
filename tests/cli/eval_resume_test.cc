// `coolfusion eval` survives a kill (issue 35): its samples file grows a line per finished
// row, and --resume continues a killed run to the same results as an uninterrupted one,
// refusing a file from another run. The zoo models of models/ on data/arith3.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <sstream>
#include <thread>

#include "eval_samples.h"
#include "support/cli_process.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

using nlohmann::json;
using Args = std::vector<std::string>;

using Ran = testing::CliRun;
using testing::Lines;
using testing::Slurp;

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string Dir() { return testing::OwnTempDir("resume"); }

// Starts `coolfusion args...` with stdout and stderr in Dir()/NAME.out and .err.
pid_t Start(const Args& args, const std::string& name) {
  return testing::StartCli(args, Dir() + "/" + name + ".out", Dir() + "/" + name + ".err");
}

Ran Finish(pid_t pid, const std::string& name) {
  return testing::FinishCli(pid, Dir() + "/" + name + ".out", Dir() + "/" + name + ".err");
}

Ran Cli(const Args& args) { return Finish(Start(args, "cli"), "cli"); }

Args Plus(Args a, const Args& more) {
  a.insert(a.end(), more.begin(), more.end());
  return a;
}

// What must not differ between a resumed and an uninterrupted run: everything but timings.
json WithoutTimings(json doc) {
  for (json& row : doc.at("results")) row.erase("seconds"), row.erase("tokens_per_s");
  return doc;
}
std::vector<json> RowsWithoutTimings(const std::string& samples) {
  std::vector<json> rows;
  for (const std::string& line : Lines(samples)) {
    json j = json::parse(line);
    j.erase("seconds");
    rows.push_back(j);
  }
  return rows;
}
// The table without its tok/s and s/row columns ("%8.1f %6s %8.3f" ends each row).
std::string TableWithoutTimings(const std::string& out) {
  std::istringstream in(out);
  std::string t, line;
  bool table = false;
  while (std::getline(in, line)) {
    if (line.rfind("run ", 0) == 0) table = true;
    if (line.empty()) table = false;
    if (table && line.rfind("run ", 0) != 0) {
      EXPECT_GE(line.size(), 24u) << line;
      line = line.substr(0, line.size() - 24) + line.substr(line.size() - 15, 6);
    }
    t += line + "\n";
  }
  return t;
}

void ExpectOneLineError(const Ran& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(r.err.rfind("error: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "want \"" << needle << "\" in: " << r.err;
}

const std::string kData = COOLFUSION_SOURCE_DIR "/data/arith3/test.jsonl";

// 12 rows x 3 runs (each model alone, cool).
Args Eval() {
  return {"eval", "--data",          kData, "-m",       testing::Zoo("a"),
          "-m",   testing::Zoo("b"), "-t",  "1",        "-n",
          "32",   "--limit",         "12",  "--method", "single,cool"};
}
constexpr size_t kRows = 36;

// Killed with SIGKILL at a random finished row, resumed: the same table, --json and --svg
// as without the kill, timings aside; the finished rows are read, not run again (the file
// ends with one line per row, and a resumed row's seconds are the file's).
TEST(EvalResume, AKilledRunResumesToTheSameResults) {
  const std::string d = Dir();
  Ran whole = Cli(Plus(Eval(), {"--json", d + "/whole.json", "--svg", d + "/whole.svg",
                                "--log-samples", d + "/whole.jsonl"}));
  ASSERT_EQ(whole.code, 0) << whole.err;

  std::random_device seed;
  const size_t kill_at = 1 + seed() % (kRows - 8);  // rows finished when the kill comes
  SCOPED_TRACE("killed after " + std::to_string(kill_at) + " rows");
  const std::string part = d + "/part.jsonl";
  const Args to_part = {"--json", d + "/part.json", "--svg", d + "/part.svg"};
  const pid_t pid = Start(Plus(Eval(), Plus(to_part, {"--log-samples", part})), "killed");
  int status = 0;
  bool exited = false;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(120);
  while (Lines(Slurp(part)).size() < 1 + kill_at && std::chrono::steady_clock::now() < give_up) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    std::this_thread::sleep_for(std::chrono::microseconds(300));
  }
  ASSERT_FALSE(exited) << "the run ended before the kill: " << Slurp(d + "/killed.err");
  kill(pid, SIGKILL);
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const std::vector<std::string> before = Lines(Slurp(part));
  const size_t finished = before.size() - 1;
  ASSERT_GE(finished, kill_at);
  ASSERT_LT(finished, kRows) << "the kill came after the last row";
  // Mark the first row: a resumed run that ran it again would not carry these seconds.
  json first = json::parse(before[1]);
  first["seconds"] = 1000.0;
  std::string text = Slurp(part);
  text.replace(text.find(before[1]), before[1].size(), first.dump());
  Write(part, text);

  Ran resumed = Cli(Plus(Eval(), Plus(to_part, {"--resume", part})));
  ASSERT_EQ(resumed.code, 0) << resumed.err;
  EXPECT_NE(resumed.err.find("resumed " + std::to_string(finished) + " of 36 rows from " + part),
            std::string::npos)
      << resumed.err;
  EXPECT_NE(resumed.err.find("100% 36/36"), std::string::npos) << resumed.err;
  EXPECT_EQ(TableWithoutTimings(resumed.out), TableWithoutTimings(whole.out));
  const json a = json::parse(Slurp(d + "/whole.json")), b = json::parse(Slurp(d + "/part.json"));
  EXPECT_EQ(WithoutTimings(b), WithoutTimings(a));
  EXPECT_TRUE(Slurp(d + "/part.svg") == Slurp(d + "/whole.svg")) << "the charts differ";
  // One line per row, the finished ones as they were: none ran twice, none is missing.
  const std::vector<std::string> after = Lines(Slurp(part));
  ASSERT_EQ(after.size(), 1 + kRows);
  for (size_t i = 2; i < before.size(); ++i) EXPECT_EQ(after[i], before[i]) << "line " << i + 1;
  EXPECT_EQ(RowsWithoutTimings(Slurp(part)), RowsWithoutTimings(Slurp(d + "/whole.jsonl")));
  EXPECT_GE(b.at("results")[0].at("seconds").get<double>(), 1000.0);
}

// A small run: 2 rows x 3 runs. Flags given after these override them (-m adds a model).
Args Small(const std::string& model_b = testing::Zoo("b"), const std::string& data = kData) {
  return {"eval", "--data", data,      "-m", testing::Zoo("a"), "-m",         model_b, "-t", "1",
          "-n",   "8",      "--limit", "2",  "--method",        "single,cool"};
}
// --resume PATH, writing PATH.json.
Args Resume(const std::string& path, const Args& run) {
  return Plus(run, {"--json", path + ".json", "--resume", path});
}

// A file from another run is refused before anything runs, naming what differs, and is
// left as it was: another model (or the same path with other content, or another weight=),
// -n, --method, --score, the seed, --temp, --gate, --limit, the few-shot setting, other
// data (or the same path changed); a file that is not a samples file; a second writer.
TEST(EvalResume, AnotherRunsFileIsRefusedNamingWhatDiffers) {
  const std::string d = Dir(), path = d + "/small.jsonl", model_b = d + "/b.gguf",
                    data = d + "/data.jsonl";
  Write(model_b, Slurp(testing::Zoo("b")));
  Write(data, Slurp(kData));
  auto changed = [&](const Args& flags) { return Resume(path, Plus(Small(model_b, data), flags)); };
  Ran started = Cli(changed({}));  // --resume on a new file starts the run there
  ASSERT_EQ(started.code, 0) << started.err;
  EXPECT_NE(started.err.find("starting the run there"), std::string::npos) << started.err;
  const std::string written = Slurp(path);
  ASSERT_EQ(Lines(written).size(), 7u);
  Ran same = Cli(changed({}));
  ASSERT_EQ(same.code, 0) << same.err;
  EXPECT_NE(same.err.find("resumed 6 of 6 rows"), std::string::npos) << same.err;
  EXPECT_TRUE(Slurp(path) == written) << "the samples file changed";

  ExpectOneLineError(Cli(Resume(path, Small(testing::Zoo("c"), data))),
                     "is from another run (-m 2: \"" + model_b + "\" in the file, \"" +
                         testing::Zoo("c") + "\" now)");
  ExpectOneLineError(Cli(Resume(path, Small(model_b + "@weight=2", data))),
                     "(-m 2 weight: 1.0 in the file, 2.0 now)");
  ExpectOneLineError(Cli(changed({"-m", testing::Zoo("c")})), "(-m: 2 in the file, 3 now)");
  ExpectOneLineError(Cli(changed({"-n", "16"})), "(-n: 8 in the file, 16 now)");
  ExpectOneLineError(Cli(changed({"--method", "single,cool+r"})),
                     "(--method: single,cool in the file, single,cool+r now)");
  ExpectOneLineError(Cli(changed({"--score", "mean"})), "(--score: auto in the file, mean now)");
  ExpectOneLineError(Cli(changed({"--seed", "7"})), "(--seed: 0 in the file, 7 now)");
  ExpectOneLineError(Cli(changed({"--temp", "0.5"})), "(--temp: 0.0 in the file, 0.5 now)");
  ExpectOneLineError(Cli(changed({"--gate", "0.5"})), "(--gate: null in the file, 0.5 now)");
  ExpectOneLineError(Cli(changed({"--confidence", "off"})),
                     "(--confidence: \"default\" in the file, \"off\" now)");
  ExpectOneLineError(Cli(changed({"--limit", "3"})), "(--limit: 2 in the file, 3 now)");
  ExpectOneLineError(Cli(changed({"--few-shot", "1", "--train", data})),
                     "(--few-shot: 0 in the file, 1 now; --train: null in the file");
  ExpectOneLineError(Cli(Resume(path, Small(model_b, kData))),
                     "(--data: \"" + data + "\" in the file, \"" + kData + "\" now)");
  // The same paths, other content.
  std::string rows = Slurp(kData);
  rows.replace(rows.find("marbles"), 7, "pebbles");
  Write(data, rows);
  ExpectOneLineError(Cli(changed({})), "(--data " + data + ": its content changed since)");
  Write(data, Slurp(kData));
  std::string weights = Slurp(testing::Zoo("b"));
  weights[weights.size() - 100] ^= 1;
  Write(model_b, weights);
  ExpectOneLineError(Cli(changed({})), "(-m 2 " + model_b + ": its content changed since)");
  Write(model_b, Slurp(testing::Zoo("b")));
  EXPECT_TRUE(Slurp(path) == written) << "the samples file changed";

  // Not a samples file (an --json report), left alone; --log-samples naming another file.
  const std::string report = d + "/report.json", report_text = Slurp(path + ".json");
  Write(report, report_text);
  ExpectOneLineError(Cli(Resume(report, Small(model_b, data))), "not a samples file");
  EXPECT_TRUE(Slurp(report) == report_text) << "the report changed";
  ExpectOneLineError(Cli(Plus(changed({}), {"--log-samples", d + "/other.jsonl"})),
                     "--resume " + path + " goes on writing that file");
  // A second eval on a file that one is writing.
  const std::string busy = d + "/busy.jsonl";
  const Args long_run = Resume(busy, Plus(Small(model_b, data), {"--limit", "20"}));
  const pid_t first = Start(long_run, "busy");
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (Lines(Slurp(busy)).size() < 2 && std::chrono::steady_clock::now() < give_up)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  Ran second = Cli(long_run);
  const Ran first_ran = Finish(first, "busy");
  EXPECT_EQ(first_ran.code, 0) << first_ran.err;
  ExpectOneLineError(second, "--resume " + busy + " is being written by another eval");
}

// A kill in the middle of writing a line leaves it without its newline: --resume drops it
// and runs that row again. A line cut anywhere else is no kill's doing: refused. A row that
// failed is run again.
TEST(EvalResume, ATornLastLineIsDroppedAndItsRowRunAgain) {
  const std::string d = Dir(), path = d + "/torn.jsonl";
  Ran first = Cli(Plus(Small(), {"--json", path + ".json", "--log-samples", path}));
  ASSERT_EQ(first.code, 0) << first.err;
  const json whole = json::parse(Slurp(path + ".json"));
  const std::string written = Slurp(path);
  const std::vector<std::string> lines = Lines(written);
  ASSERT_EQ(lines.size(), 7u);
  // The last row cut in its middle.
  const std::string torn = written.substr(0, written.size() - lines.back().size() / 2 - 1);
  Write(path, torn);
  Ran r = Cli(Resume(path, Small()));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("resumed 5 of 6 rows from " + path + " (its torn last line dropped)"),
            std::string::npos)
      << r.err;
  EXPECT_EQ(Lines(Slurp(path)).size(), 7u);
  EXPECT_EQ(Slurp(path).back(), '\n');
  EXPECT_EQ(RowsWithoutTimings(Slurp(path)), RowsWithoutTimings(written));
  EXPECT_EQ(WithoutTimings(json::parse(Slurp(path + ".json"))), WithoutTimings(whole));

  // A line in the middle cut short: refused, the file left alone.
  std::string middle = written;
  middle.erase(middle.find(lines[3]) + lines[3].size() / 2, lines[3].size() / 2);
  Write(path, middle);
  ExpectOneLineError(Cli(Resume(path, Small())), "line 4 is not a row");
  EXPECT_TRUE(Slurp(path) == middle) << "the samples file changed";

  // A row that failed: run again, its new line appended; the results as without the error.
  json failed = json::parse(lines[2]);
  failed["error"] = "an RPC worker went away";
  std::string with_error = written;
  with_error.replace(with_error.find(lines[2]), lines[2].size(), failed.dump());
  Write(path, with_error);
  Ran again = Cli(Resume(path, Small()));
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("resumed 5 of 6 rows"), std::string::npos) << again.err;
  const std::vector<std::string> now = Lines(Slurp(path));
  ASSERT_EQ(now.size(), 8u);
  json rerun = json::parse(now.back()), before = json::parse(lines[2]);
  rerun.erase("seconds"), before.erase("seconds");
  EXPECT_EQ(rerun, before);
  EXPECT_EQ(WithoutTimings(json::parse(Slurp(path + ".json"))), WithoutTimings(whole));
}

// A line read back gives the row as it was written: the output's exact bytes (not UTF-8
// here), the counters, weights and seconds; a run is told apart by its models too.
TEST(EvalResume, ARowsLineReadsBackAsItWasWritten) {
  cli::RowResult r;
  r.output = "7 \xff\xfe #### 12";
  r.new_tokens = 9;
  r.decode_calls = 11;
  r.tokens_decoded = 40;
  r.positions = 5;
  r.fused_positions = 3;
  r.sat_out = 1;
  r.model_weights = json::array({{{"weight", 0.974541318871036}, {"sat_out", false}}});
  r.seconds = 0.1 + 0.2;
  cli::RowContext c;
  c.doc_id = 7;
  c.run = "single a.gguf";
  c.models = {"one/a.gguf"};
  c.score = "auto";
  const json line = json::parse(cli::SampleLine(c, r).dump());
  cli::RowKey key;
  cli::RowResult back;
  std::string why;
  ASSERT_TRUE(cli::ReadSampleRow(line, &key, &back, &why)) << why;
  EXPECT_EQ(key, cli::RowKey(cli::RunKey("single a.gguf", {"one/a.gguf"}), 7));
  EXPECT_NE(key.first, cli::RunKey("single a.gguf", {"two/a.gguf"}));
  EXPECT_EQ(back.output, r.output);
  EXPECT_EQ(back.error, "");
  EXPECT_EQ(back.new_tokens, 9);
  EXPECT_EQ(back.decode_calls, 11);
  EXPECT_EQ(back.tokens_decoded, 40);
  EXPECT_EQ(back.positions, 5);
  EXPECT_EQ(back.fused_positions, 3);
  EXPECT_EQ(back.sat_out, 1);
  EXPECT_EQ(back.model_weights, r.model_weights);
  EXPECT_EQ(back.seconds, r.seconds);
  EXPECT_FALSE(cli::ReadSampleRow(json{{"doc_id", 7}, {"run", "cool"}}, &key, &back, &why));
}

}  // namespace
}  // namespace coolfusion
