// The zoo tools as a user runs them: coolfusion-make-task writes the committed splits
// exactly, from the issue's templates, disjoint; coolfusion-train is reproducible (same
// command and seed: same losses, same model file); `coolfusion eval` reports the
// documented JSON.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>

#include "support/paths.h"

namespace coolfusion {
namespace {

std::string Dir() {
  static const std::string d = [] {
    const std::string p = ::testing::TempDir() + "/coolfusion-zoo-" + std::to_string(getpid());
    std::system(("mkdir -p " + p).c_str());
    return p;
  }();
  return d;
}

std::string Slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// Runs a shell command line; returns its exit code, stdout in *out.
int Sh(const std::string& cmd, std::string* out = nullptr) {
  const std::string o = Dir() + "/sh.out";
  const int st = std::system(("(" + cmd + ") >" + o + " 2>" + Dir() + "/sh.err").c_str());
  if (out) *out = Slurp(o);
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

std::vector<nlohmann::json> Rows(const std::string& text) {
  std::vector<nlohmann::json> rows;
  std::stringstream ss(text);
  for (std::string line; std::getline(ss, line);)
    if (!line.empty()) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

TEST(ZooTools, MakeTaskReproducesTheCommittedSplitsFromTheTemplates) {
  const std::string task = testing::MakeTaskPath(), data = testing::SourceDir() + "/data/arith3/";
  std::string test, val;
  ASSERT_EQ(Sh(task + " arith3 --seed 1000 --n 600", &test), 0);
  EXPECT_EQ(test, Slurp(data + "test.jsonl"));
  ASSERT_EQ(Sh(task + " arith3 --seed 2000 --n 300 --exclude " + data + "test.jsonl", &val), 0);
  EXPECT_EQ(val, Slurp(data + "val.jsonl"));
  const std::regex add(
      R"((\w+) has (\d+) (\w+)\. \1 finds (\d+) more \3\. How many \3 does \1 have now\?)");
  const std::regex sub(
      R"((\w+) has (\d+) (\w+)\. \1 gives (\d+) \3 to (\w+)\. How many \3 does \1 have now\?)");
  const std::regex mul(
      R"((\w+) has (\d+) bags with (\d+) (\w+) in each bag\. How many \4 does \1 have\?)");
  const std::set<std::string> names = {"Ann",  "Ben", "Cara", "Dan", "Eva",
                                       "Finn", "Gus", "Hana", "Ivo", "Jill"};
  std::map<char, int> per_op;
  std::set<std::string> questions;
  for (const auto& r : Rows(test)) {
    const std::string q = r["question"], a = r["answer"];
    EXPECT_TRUE(questions.insert(q).second) << "repeated: " << q;
    std::smatch m;
    long x, y, z;
    char op;
    if (std::regex_match(q, m, add)) {
      op = '+', x = std::stol(m[2]), y = std::stol(m[4]), z = x + y;
      EXPECT_TRUE(x >= 1 && x <= 20 && y >= 1 && y <= 20) << q;
    } else if (std::regex_match(q, m, sub)) {
      op = '-', x = std::stol(m[2]), y = std::stol(m[4]), z = x - y;
      EXPECT_TRUE(1 <= y && y <= x && x <= 30) << q;
      EXPECT_NE(m[1].str(), m[5].str()) << q;
      EXPECT_TRUE(names.count(m[5])) << q;
    } else if (std::regex_match(q, m, mul)) {
      op = '*', x = std::stol(m[2]), y = std::stol(m[3]), z = x * y;
      EXPECT_TRUE(x >= 2 && x <= 9 && y >= 2 && y <= 9) << q;
    } else {
      ADD_FAILURE() << "no template matches: " << q;
      continue;
    }
    EXPECT_TRUE(names.count(m[1])) << q;
    ++per_op[op];
    EXPECT_EQ(a, std::to_string(x) + " " + op + " " + std::to_string(y) + " = " +
                     std::to_string(z) + "\n#### " + std::to_string(z));
  }
  EXPECT_EQ(per_op['+'], 200);
  EXPECT_EQ(per_op['-'], 200);
  EXPECT_EQ(per_op['*'], 200);
  for (const auto& r : Rows(val)) EXPECT_FALSE(questions.count(r["question"])) << "val row in test";
  // Another seed: a fresh test set, same shape.
  std::string other;
  ASSERT_EQ(Sh(task + " arith3 --seed 77 --n 600", &other), 0);
  EXPECT_NE(other, test);
  EXPECT_EQ(Rows(other).size(), 600u);
  // Drills: the same operations and answer lines, without the story.
  std::string drill;
  ASSERT_EQ(Sh(task + " drill --seed 3 --n 40 --ops add,sub", &drill), 0);
  const std::regex bare(R"(What is (\d+) ([-+]) (\d+)\?)");
  ASSERT_EQ(Rows(drill).size(), 40u);
  for (const auto& r : Rows(drill)) {
    const std::string q = r["question"], a = r["answer"];
    std::smatch m;
    ASSERT_TRUE(std::regex_match(q, m, bare)) << q;
    const long x = std::stol(m[1]), y = std::stol(m[3]), z = m[2] == "+" ? x + y : x - y;
    EXPECT_GE(z, 0) << q;
    EXPECT_EQ(a, m[1].str() + " " + m[2].str() + " " + m[3].str() + " = " + std::to_string(z) +
                     "\n#### " + std::to_string(z));
  }
}

TEST(ZooTools, TrainingIsReproducible) {
  const std::string d = Dir();
  ASSERT_EQ(
      Sh(testing::MakeTaskPath() + " arith3 --seed 5 --n 120 --ops add,sub > " + d + "/t.jsonl"),
      0);
  ASSERT_EQ(
      Sh(testing::MakeTaskPath() + " arith3 --seed 6 --n 20 --ops add,sub > " + d + "/v.jsonl"), 0);
  ASSERT_EQ(Sh(testing::MakeModelPath() + " --vocab " + testing::Shared("stories260K") + " --out " +
               d + "/m.gguf --dim 32 --layers 1 --heads 2 --ff 64 --ctx 256 --type f32 --seed 3"),
            0);
  std::string log[2];
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(Sh(testing::TrainPath() + " -m " + d + "/m.gguf --train " + d + "/t.jsonl --val " +
                     d + "/v.jsonl -o " + d + "/out" + std::to_string(i) +
                     ".gguf --epochs 2 --seed 9 -t 1 --check 3",
                 &log[i]),
              0)
        << Slurp(d + "/sh.err");
  }
  EXPECT_NE(log[0].find("epoch 2: train loss"), std::string::npos) << log[0];
  EXPECT_NE(log[0].find("validation loss"), std::string::npos) << log[0];
  EXPECT_EQ(log[0], log[1]);
  EXPECT_EQ(Slurp(d + "/out0.gguf"), Slurp(d + "/out1.gguf"));
  // A bad input file is an error naming the line.
  std::ofstream(d + "/bad.jsonl") << "{\"question\": \"q\", \"answer\": \"#### 1\"}\n{oops\n";
  EXPECT_EQ(Sh(testing::TrainPath() + " -m " + d + "/m.gguf --train " + d + "/bad.jsonl --val " +
               d + "/v.jsonl -o " + d + "/x.gguf"),
            1);
  EXPECT_NE(Slurp(d + "/sh.err").find("bad.jsonl:2"), std::string::npos) << Slurp(d + "/sh.err");
  // A training window the trainer cannot use is an error, not an abort.
  ASSERT_EQ(Sh(testing::MakeModelPath() + " --vocab " + testing::Shared("stories260K") + " --out " +
               d + "/m128.gguf --dim 32 --layers 1 --heads 2 --ff 64 --ctx 128 --type f32"),
            0);
  EXPECT_EQ(Sh(testing::TrainPath() + " -m " + d + "/m128.gguf --train " + d + "/t.jsonl --val " +
               d + "/v.jsonl -o " + d + "/x.gguf"),
            1);
  EXPECT_NE(Slurp(d + "/sh.err").find("multiple of 256"), std::string::npos)
      << Slurp(d + "/sh.err");
}

// The optimizer really learns: a small model shown 20 problems 20 times answers them.
// Regression test for patches/llama.cpp/0003 (ggml-opt summed every gradient since the
// first step into its accumulators; the same run then answered none of them).
TEST(ZooTools, TrainerLearnsTheProblemsItIsShown) {
  const std::string d = Dir();
  ASSERT_EQ(
      Sh(testing::MakeTaskPath() + " arith3 --seed 21 --n 20 --ops add,sub > " + d + "/p20.jsonl"),
      0);
  ASSERT_EQ(Sh("for i in $(seq 20); do cat " + d + "/p20.jsonl; done > " + d + "/p400.jsonl"), 0);
  ASSERT_EQ(
      Sh(testing::MakeModelPath() + " --vocab " + testing::Shared("stories260K") + " --out " + d +
         "/m64.gguf --dim 64 --layers 2 --heads 4 --ff 256 --ctx 256 --type f32 --seed 3"),
      0);
  std::string log;
  ASSERT_EQ(Sh(testing::TrainPath() + " -m " + d + "/m64.gguf --train " + d + "/p400.jsonl --val " +
                   d + "/p20.jsonl -o " + d +
                   "/m64-out.gguf --epochs 3 --lr 3e-3 --lr-min 3e-4 --warmup 0.05 "
                   "--seed 1 -t 2 --check 20 --out-type f32",
               &log),
            0)
      << Slurp(d + "/sh.err");
  std::smatch m;
  ASSERT_TRUE(std::regex_search(log, m, std::regex(R"(epoch 3: .*greedy accuracy ([0-9.]+)%)")))
      << log;
  EXPECT_GE(std::stod(m[1]), 80.0) << log;
}

// make-model writes f16, then lets llama.cpp quantize (q8_0, q4_0): each file is smaller
// than the last, loads, and generates (alone and fused with another type).
TEST(ZooTools, MakeModelWritesQuantizedModelsThatGenerate) {
  const std::string d = Dir();
  std::map<std::string, size_t> bytes;
  for (const std::string type : {"f16", "q8_0", "q4_0"}) {
    const std::string out = d + "/quant-" + type + ".gguf";
    ASSERT_EQ(Sh(testing::MakeModelPath() + " --vocab " + testing::Vocab("gpt-2") + " --out " +
                 out + " --dim 256 --layers 1 --heads 4 --ff 512 --seed 4 --type " + type),
              0)
        << Slurp(d + "/sh.err");
    bytes[type] = Slurp(out).size();
    EXPECT_FALSE(std::ifstream(out + ".f16.tmp").good()) << "temporary file left behind";
  }
  EXPECT_LT(bytes["q4_0"], bytes["q8_0"]);
  EXPECT_LT(bytes["q8_0"], bytes["f16"] * 6 / 10);
  std::string text;
  ASSERT_EQ(Sh(testing::CliPath() + " generate -m " + d + "/quant-q4_0.gguf -m " + d +
                   "/quant-f16.gguf -p 'The city' -n 8 -t 1 --json",
               &text),
            0)
      << Slurp(d + "/sh.err");
  const nlohmann::json j = nlohmann::json::parse(text);
  EXPECT_GE(j["n_new_tokens"].get<int>(), 8);
  EXPECT_EQ(Sh(testing::MakeModelPath() + " --vocab " + testing::Vocab("gpt-2") + " --out " + d +
               "/bad.gguf --type q5_1"),
            1);
  EXPECT_NE(Slurp(d + "/sh.err").find("bad value for --type: q5_1"), std::string::npos);
}

TEST(ZooTools, EvalWritesTheDocumentedJsonAndChart) {
  const std::string d = Dir();
  ASSERT_EQ(Sh(testing::MakeTaskPath() + " arith3 --seed 8 --n 6 > " + d + "/e.jsonl"), 0);
  std::string out;
  const std::string a = testing::Tiny("llama-spm"), b = testing::Tiny("gpt-2");
  ASSERT_EQ(
      Sh(testing::CliPath() + " eval --data " + d + "/e.jsonl -m " + a + " -m " + b +
             " --method single,cool,cool+r -n 8 -t 1 --json " + d + "/e.json --svg " + d + "/e.svg",
         &out),
      0)
      << Slurp(d + "/sh.err");
  const auto j = nlohmann::json::parse(Slurp(d + "/e.json"));
  ASSERT_EQ(j["results"].size(), 4u);  // single x 2, cool, cool+r
  EXPECT_EQ(j["results"][0]["method"], "single");
  EXPECT_EQ(j["results"][0]["models"], nlohmann::json::array({a}));
  EXPECT_EQ(j["results"][2]["method"], "cool");
  EXPECT_EQ(j["results"][2]["models"], nlohmann::json::array({a, b}));
  for (const auto& r : j["results"]) {
    EXPECT_EQ(r["n"], 6);
    EXPECT_LE(r["ci95"][0].get<double>(), r["accuracy"].get<double>());
    EXPECT_GE(r["ci95"][1].get<double>(), r["accuracy"].get<double>());
  }
  EXPECT_EQ(j["predictions"].size(), 24u);
  EXPECT_NE(Slurp(d + "/e.svg").find("<svg"), std::string::npos);
  EXPECT_NE(out.find("95% CI"), std::string::npos);
  // Empty file and a row without a final answer: errors naming the file and line.
  std::ofstream(d + "/empty.jsonl").close();
  EXPECT_EQ(Sh(testing::CliPath() + " eval --data " + d + "/empty.jsonl -m " + a), 1);
  EXPECT_NE(Slurp(d + "/sh.err").find("empty.jsonl: no rows"), std::string::npos);
  std::ofstream(d + "/noanswer.jsonl") << "{\"question\": \"q\", \"answer\": \"1 + 1 = 2\"}\n";
  EXPECT_EQ(Sh(testing::CliPath() + " eval --data " + d + "/noanswer.jsonl -m " + a), 1);
  EXPECT_NE(Slurp(d + "/sh.err").find("noanswer.jsonl:1"), std::string::npos);
}

// Each fused run is compared with the best single model on the same rows (paired), and
// every two fused runs with each other: the zoo's A + C on the first 9 arith3 problems,
// where C cannot subtract and A cannot multiply.
TEST(ZooTools, EvalComparesFusedRunsPairedWithTheBestSingleModel) {
  const std::string d = Dir();
  std::string out;
  ASSERT_EQ(Sh(testing::CliPath() + " eval --data " + testing::SourceDir() +
                   "/data/arith3/test.jsonl --limit 9 -m " + testing::Zoo("a") + " -m " +
                   testing::Zoo("c") +
                   " --method single,cool --score auto,mean -n 32 -t 1 --json " + d + "/p.json",
               &out),
            0)
      << Slurp(d + "/sh.err");
  const auto j = nlohmann::json::parse(Slurp(d + "/p.json"));
  ASSERT_EQ(j["results"].size(), 4u);  // single x 2, cool (auto), cool (mean)
  const auto& r = j["results"];
  const size_t best = r[1]["correct"].get<int>() > r[0]["correct"].get<int>() ? 1 : 0;
  for (size_t i : {2, 3}) {
    const auto& v = r[i]["vs_best_single"];
    EXPECT_EQ(v["label"], r[best]["label"]);
    const double diff = r[i]["accuracy"].get<double>() - r[best]["accuracy"].get<double>();
    EXPECT_NEAR(v["diff"].get<double>(), diff, 1e-12);
    EXPECT_NEAR(v["fused_only"].get<int>() - v["single_only"].get<int>(), diff * 9, 1e-9);
    EXPECT_LE(v["ci95"][0].get<double>(), diff);
    EXPECT_GE(v["ci95"][1].get<double>(), diff);
  }
  EXPECT_EQ(r[2]["label"], "cool (auto)");
  EXPECT_GT(r[2]["vs_best_single"]["diff"].get<double>(), 0.2);  // C sits out of the subtractions
  ASSERT_EQ(j["pairwise"].size(), 1u);
  EXPECT_EQ(j["pairwise"][0]["a"], "cool (auto)");
  EXPECT_EQ(j["pairwise"][0]["b"], "cool (mean)");
  EXPECT_NEAR(j["pairwise"][0]["diff"].get<double>(),
              r[2]["accuracy"].get<double>() - r[3]["accuracy"].get<double>(), 1e-12);
  EXPECT_NE(out.find("vs best single (95% CI)"), std::string::npos);
}

}  // namespace
}  // namespace coolfusion
