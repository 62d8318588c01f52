// `coolfusion eval` on multiple choice (issue 35): the CLI's acc, acc_norm and acc_rule
// against the same rows scored here through the library (Ensemble::Score) and picked by this
// file's own arithmetic (the fused nll recomputed from each model's nll and weight), its
// samples file's scores, --resume, and the refusals. The zoo of models/.
#include <coolfusion/engine.h>

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "support/cli_process.h"
#include "support/open.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

using nlohmann::json;
using Args = std::vector<std::string>;

using Ran = testing::CliRun;
using testing::Lines;
using testing::Slurp;

std::string Dir() { return testing::OwnTempDir("choice"); }

Ran Cli(const Args& args) { return testing::RunCli(args, Dir() + "/cli.out", Dir() + "/cli.err"); }

void ExpectOneLineError(const Ran& r, const std::string& needle) {
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(needle), std::string::npos) << "want \"" << needle << "\" in: " << r.err;
}

// 8 arith3 rows and 8 facts3 rows of data/choice, 4 facts3 rows whose wrong choices are
// long and 4 whose are short (so that the total, the per-character and a per-byte-with-the-
// space likelihood disagree somewhere).
std::string Data() {
  static const std::string path = [] {
    const std::string p = Dir() + "/mc.jsonl", src = testing::SourceDir() + "/data/choice/";
    const std::vector<std::string> arith = Lines(Slurp(src + "arith3.jsonl")),
                                   facts = Lines(Slurp(src + "facts3.jsonl"));
    std::string text;
    for (size_t i = 0; i < 8; ++i) text += arith[i * 37] + "\n" + facts[i * 7] + "\n";
    for (size_t i = 0; i < 4; ++i) {
      json row = json::parse(facts[i * 7 + 3]);
      for (size_t c = 0; c < row["choices"].size(); ++c)
        if ((int)c != row["answer"].get<int>())
          row["choices"][c] = row["choices"][c].get<std::string>() + " and " +
                              row["choices"][(c + 1) % 4].get<std::string>() + " stripes";
      text += row.dump() + "\n";
      row = json::parse(facts[i * 7 + 5]);
      const std::vector<std::string> shorter = {"g", "bl", "x", "re", "w", "pi"};
      for (size_t c = 0, k = i; c < row["choices"].size(); ++c)
        if ((int)c != row["answer"].get<int>()) row["choices"][c] = shorter[k++ % shorter.size()];
      text += row.dump() + "\n";
    }
    std::ofstream(p, std::ios::binary) << text;
    return p;
  }();
  return path;
}
constexpr size_t kRows = 24;

Args Eval() {
  return {"eval",
          "--task",
          "choice",
          "--data",
          Data(),
          "-m",
          testing::Zoo("a"),
          "-m",
          testing::Zoo("b") + "@weight=3",
          "-m",
          testing::Zoo("c"),
          "-t",
          "1",
          "--score",
          "auto,mean"};
}

int ArgMin(const std::vector<double>& v) {  // ties: the first
  int best = 0;
  for (size_t i = 1; i < v.size(); ++i)
    if (v[i] < v[(size_t)best]) best = (int)i;
  return best;
}

// The picks of one run on one row, computed here from the library's scores.
struct Picks {
  int acc = -1, acc_norm = -1, acc_rule = -1;
};

// The CLI's three accuracies per run equal those of the library's scores picked here; each
// prediction names the same choice; the samples file holds the library's numbers, the fused
// nll being the weighted mean of the models' that take part.
TEST(EvalChoice, AccuraciesAreThoseOfTheLibrarysScores) {
  const std::string report = Dir() + "/r.json", samples = Dir() + "/s.jsonl",
                    svg = Dir() + "/r.svg";
  const Ran r = Cli([&] {
    Args a = Eval();
    for (const char* x :
         {"--json", report.c_str(), "--log-samples", samples.c_str(), "--svg", svg.c_str()})
      a.push_back(x);
    return a;
  }());
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* table : {"\nacc: ", "\nacc_norm: ", "\nacc_rule: "})
    EXPECT_NE(r.out.find(table), std::string::npos) << r.out;
  const json doc = json::parse(Slurp(report));
  ASSERT_EQ(doc.at("results").size(), 5u);  // 3 singles, cool (auto), cool (mean)
  EXPECT_EQ(doc.at("default"), "cool (auto)");

  std::vector<ModelOptions> models(3);
  for (size_t v = 0; v < 3; ++v) {
    models[v].path = testing::Zoo(std::string(1, (char)('a' + v)));
    models[v].n_threads = 1;
  }
  models[1].weight = 3;  // B's weight=3: the fused nll must weigh it
  std::unique_ptr<Ensemble> ens;
  const Status opened = Ensemble::Open(models, &ens);
  ASSERT_TRUE(opened.ok()) << opened.message();
  std::vector<json> rows;
  for (const std::string& line : Lines(Slurp(Data()))) rows.push_back(json::parse(line));
  ASSERT_EQ(rows.size(), kRows);
  struct Config {
    const char* label;
    int only;
    ScoreRule rule;
  };
  const Config configs[] = {{"single arith3-a.gguf", 0, ScoreRule::kAuto},
                            {"single arith3-b.gguf", 1, ScoreRule::kAuto},
                            {"single arith3-c.gguf", 2, ScoreRule::kAuto},
                            {"cool (auto)", -1, ScoreRule::kAuto},
                            {"cool (mean)", -1, ScoreRule::kMeanPpl}};
  const std::vector<std::string> sample_lines = Lines(Slurp(samples));
  ASSERT_EQ(sample_lines.size(), 1 + 5 * kRows);
  size_t total_vs_norm = 0, total_vs_rule = 0, norm_vs_bytes = 0, weighted_vs_mean = 0;
  for (size_t ci = 0; ci < 5; ++ci) {
    const Config& cfg = configs[ci];
    const json& res = doc["results"][ci];
    ASSERT_EQ(res.at("label"), cfg.label);
    size_t correct[3] = {0, 0, 0};
    for (size_t i = 0; i < kRows; ++i) {
      const json& row = rows[i];
      Request req;
      req.prompt = "Question: " + row["question"].get<std::string>() + "\nAnswer:";
      req.options.only_model = cfg.only;
      req.options.scoring.rule = cfg.rule;
      req.options.cache_prompt = false;
      std::vector<std::string> conts;
      for (const json& c : row["choices"]) conts.push_back(" " + c.get<std::string>());
      ScoreResult sr;
      const Status st = ens->Score(req, conts, &sr);
      ASSERT_TRUE(st.ok()) << st.message();
      std::vector<double> total, per_char, rule, per_byte_with_space, unweighted;
      const json line = json::parse(sample_lines[1 + ci * kRows + i]);
      ASSERT_EQ(line.at("doc_id"), i);
      ASSERT_EQ(line.at("run"), cfg.label);
      for (size_t c = 0; c < conts.size(); ++c) {
        const ContinuationScore& cs = sr.continuations[c];
        double nll = 0;
        if (cfg.only >= 0) {
          nll = cs.nll[(size_t)cfg.only];
        } else {  // the weighted mean over the models taking part, from their weights
          double sum = 0, weights = 0, plain = 0, n = 0;
          for (size_t v = 0; v < sr.models.size(); ++v) {
            if (!sr.models[v].active) continue;
            sum += sr.models[v].weight * cs.nll[v];
            weights += sr.models[v].weight;
            plain += cs.nll[v], ++n;
          }
          nll = sum / weights;
          unweighted.push_back(plain / n);
        }
        total.push_back(nll);
        per_char.push_back(nll / (double)(conts[c].size() - 1));  // ASCII: bytes are characters
        per_byte_with_space.push_back(nll / (double)conts[c].size());
        rule.push_back(cs.score);
        const json& s = line.at("scores")[c];
        const double logged =
            cfg.only >= 0 ? s.at("nll")[0].get<double>() : s.at("nll_fused").get<double>();
        EXPECT_NEAR(logged, nll, 1e-6 * std::fabs(nll)) << cfg.label << " row " << i;
        EXPECT_NEAR(s.at("score").get<double>(), cs.score, 1e-6 * cs.score);
      }
      norm_vs_bytes += ArgMin(per_char) != ArgMin(per_byte_with_space);
      weighted_vs_mean += cfg.only < 0 && ArgMin(total) != ArgMin(unweighted);
      const Picks p{ArgMin(total), ArgMin(per_char), ArgMin(rule)};
      total_vs_norm += p.acc != p.acc_norm;
      total_vs_rule += p.acc != p.acc_rule;
      const int gold = row["answer"].get<int>();
      correct[0] += p.acc == gold;
      correct[1] += p.acc_norm == gold;
      correct[2] += p.acc_rule == gold;
      const json& pred = doc["predictions"][ci * kRows + i];
      EXPECT_EQ(pred.at("predicted").at("acc"), p.acc) << cfg.label << " row " << i;
      EXPECT_EQ(pred.at("predicted").at("acc_norm"), p.acc_norm) << cfg.label << " row " << i;
      EXPECT_EQ(line.at("predicted").at("acc"), p.acc);
      EXPECT_EQ(line.at("acc"), p.acc == gold ? 1 : 0);
      if (cfg.only < 0) {
        EXPECT_EQ(pred.at("predicted").at("acc_rule"), p.acc_rule) << cfg.label << " row " << i;
      } else {
        EXPECT_FALSE(pred.at("predicted").contains("acc_rule"));
      }
    }
    EXPECT_EQ(res.at("acc").at("correct"), correct[0]) << cfg.label;
    EXPECT_EQ(res.at("acc_norm").at("correct"), correct[1]) << cfg.label;
    EXPECT_DOUBLE_EQ(res.at("acc,none").get<double>(), (double)correct[0] / kRows);
    if (cfg.only < 0)
      EXPECT_EQ(res.at("acc_rule").at("correct"), correct[2]) << cfg.label;
    else
      EXPECT_FALSE(res.contains("acc_rule"));
  }
  // The rows can tell the metrics apart: otherwise a swap of one for another would pass.
  EXPECT_GT(total_vs_norm, 0u);
  EXPECT_GT(total_vs_rule, 0u);
  EXPECT_GT(norm_vs_bytes, 0u);
  EXPECT_GT(weighted_vs_mean, 0u);
  // Every fused run is compared with the default on each metric.
  EXPECT_TRUE(doc["results"][4].at("acc").contains("vs_default"));
  EXPECT_TRUE(doc["results"][4].at("acc_rule").contains("vs_default"));
  EXPECT_TRUE(doc["results"][4].at("acc_norm").contains("vs_best_single"));
}

// A run cut short resumes to the same report; a file of other settings is refused by name
// and left as it was; generation methods and bad rows are refused before anything runs.
TEST(EvalChoice, ResumeAndRefusals) {
  const std::string d = Dir(), path = d + "/resume.jsonl";
  Args small = Eval();
  small.insert(small.end(), {"--limit", "4"});
  Args whole = small;
  whole.insert(whole.end(), {"--json", d + "/whole.json", "--log-samples", path});
  Ran first = Cli(whole);
  ASSERT_EQ(first.code, 0) << first.err;
  const std::string written = Slurp(path);
  const std::vector<std::string> lines = Lines(written);
  ASSERT_EQ(lines.size(), 1 + 5 * 4u);
  // Keep the header and 7 rows, as a kill would (the 8th cut in its middle).
  std::string cut;
  for (size_t i = 0; i < 8; ++i) cut += lines[i] + "\n";
  cut += lines[8].substr(0, lines[8].size() / 2);
  std::ofstream(path, std::ios::binary) << cut;
  Args resume = small;
  resume.insert(resume.end(), {"--json", d + "/resumed.json", "--resume", path});
  Ran again = Cli(resume);
  ASSERT_EQ(again.code, 0) << again.err;
  EXPECT_NE(again.err.find("resumed 7 of 20 rows"), std::string::npos) << again.err;
  json a = json::parse(Slurp(d + "/whole.json")), b = json::parse(Slurp(d + "/resumed.json"));
  for (json* doc : {&a, &b})
    for (json& row : (*doc)["results"]) row.erase("seconds");
  EXPECT_EQ(a, b);
  ASSERT_EQ(Lines(Slurp(path)).size(), lines.size());
  const std::string complete = Slurp(path);

  Args other = small;
  other.insert(other.end(), {"--score", "mean", "--resume", path});
  ExpectOneLineError(Cli(other), "(--score: auto,mean in the file, mean now)");
  other = small;
  other.insert(other.end(), {"--limit", "3", "--resume", path});
  ExpectOneLineError(Cli(other), "(--limit: 4 in the file, 3 now)");
  EXPECT_TRUE(Slurp(path) == complete) << "the samples file changed";

  Args gen = small;
  gen.insert(gen.end(), {"--method", "single,cool+r"});
  ExpectOneLineError(Cli(gen), "--method cool+r generates; --task choice scores given answers");
  const std::string bad = d + "/bad.jsonl";
  std::ofstream(bad) << "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 0}\n"
                     << "{\"question\": \"q\", \"choices\": [\"a\", \"b\"], \"answer\": 5}\n";
  ExpectOneLineError(Cli({"eval", "--task", "choice", "--data", bad, "-m", testing::Zoo("a")}),
                     bad + ":2: the answer's index 5 is out of range");
  ExpectOneLineError(Cli({"eval", "--task", "arc", "--data", Data(), "-m", testing::Zoo("a")}),
                     "not --task arc's layout");
}

}  // namespace
}  // namespace coolfusion
