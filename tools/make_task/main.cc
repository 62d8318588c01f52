// coolfusion-make-task: writes the project's synthetic tasks as GSM8K-format jsonl
// ({"question", "answer"}, the answer ending in "#### X"), deterministically from a seed.
//
//   arith3: add / sub / mul word problems from fixed templates (see models/README.md).
//   drill:  arith3's operands and answers without the story, for training.
//   facts3: a made-up knowledge base (60 creatures, each with a favourite colour) in
//           three groups of 20; a model trained on two groups knows two thirds of it.
//
//   coolfusion-make-task arith3 --seed S --n N [--ops add,sub,mul] [--exclude F.jsonl]...
//   [--repeats] coolfusion-make-task facts3 [--groups 0,1,2] [--n N --seed S] coolfusion-make-task
//   drill --seed S --n N [--ops add,sub,mul]
//
// arith3 with --n divisible by the number of ops gives exactly n/ops problems per
// operation, interleaved; no question repeats (unless --repeats: training sets larger than
// the 5120 possible mul questions), and no question of an --exclude file ever appears
// (that is how the train, validation and test splits are kept disjoint).
#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../common/tool_flags.h"

namespace {

using coolfusion::tools::Fail;
using coolfusion::tools::ParseLong;

constexpr const char* kNames[] = {"Ann",  "Ben", "Cara", "Dan", "Eva",
                                  "Finn", "Gus", "Hana", "Ivo", "Jill"};
constexpr const char* kItems[] = {"apples", "pens",  "books",  "cards",
                                  "shells", "coins", "stamps", "marbles"};
constexpr const char* kColours[] = {"red",  "blue",  "green", "yellow",
                                    "pink", "black", "white", "brown"};

// Same numbers on every platform: mt19937_64's output is fixed by the standard; the
// standard distributions are not.
struct Rng {
  explicit Rng(uint64_t seed) : g(seed) {}
  long Int(long lo, long hi) { return lo + (long)(g() % (uint64_t)(hi - lo + 1)); }
  std::mt19937_64 g;
};

struct Problem {
  std::string question, answer;
};

// drill: the same operands and answer line as arith3, without the story ("What is 6 + 2?"
// -> "6 + 2 = 8\n#### 8"): short rows where the arithmetic is most of the tokens.
Problem Arith(const std::string& op, Rng& r, bool drill = false) {
  const std::string n = kNames[r.Int(0, 9)];
  const std::string item = kItems[r.Int(0, 7)];
  long a, b, c;
  std::string q, sign;
  if (op == "add") {
    a = r.Int(1, 20), b = r.Int(1, 20), c = a + b, sign = "+";
    q = n + " has " + std::to_string(a) + " " + item + ". " + n + " finds " + std::to_string(b) +
        " more " + item + ". How many " + item + " does " + n + " have now?";
  } else if (op == "sub") {
    std::string m;
    do m = kNames[r.Int(0, 9)];
    while (m == n);
    a = r.Int(1, 30), b = r.Int(1, a), c = a - b, sign = "-";
    q = n + " has " + std::to_string(a) + " " + item + ". " + n + " gives " + std::to_string(b) +
        " " + item + " to " + m + ". How many " + item + " does " + n + " have now?";
  } else {
    a = r.Int(2, 9), b = r.Int(2, 9), c = a * b, sign = "*";
    q = n + " has " + std::to_string(a) + " bags with " + std::to_string(b) + " " + item +
        " in each bag. How many " + item + " does " + n + " have?";
  }
  const std::string cs = std::to_string(c);
  // A drill draws the same numbers as a story (name and item included), so a seed gives
  // the same operands either way; only the question text differs.
  if (drill) q = "What is " + std::to_string(a) + " " + sign + " " + std::to_string(b) + "?";
  return {q,
          std::to_string(a) + " " + sign + " " + std::to_string(b) + " = " + cs + "\n#### " + cs};
}

// 60 creatures, names made of two syllables; creature i is in group i % 3.
std::vector<Problem> Facts() {
  static const char* first[] = {"Zo",  "Mip",  "Kra", "Lu",  "Fen",
                                "Dro", "Quil", "Bax", "Tor", "Vim"};
  static const char* second[] = {"rk", "pa", "lix", "dorn", "wee", "bit"};
  std::vector<Problem> out;
  Rng r(20240719);  // the knowledge base itself is fixed; --seed only orders samples
  for (int i = 0; i < 60; ++i) {
    const std::string name = std::string(first[i % 10]) + second[i / 10];
    const std::string colour = kColours[r.Int(0, 7)];
    out.push_back({"What is the favourite colour of " + name + "?", colour + "\n#### " + colour});
  }
  return out;
}

std::vector<std::string> Split(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string x; std::getline(ss, x, ',');) out.push_back(x);
  return out;
}

void Print(const Problem& p) {
  std::printf("%s\n",
              nlohmann::json{{"question", p.question}, {"answer", p.answer}}.dump().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "-h" || std::string(argv[1]) == "--help") {
    std::printf(
        "usage: coolfusion-make-task arith3 --seed S --n N [--ops add,sub,mul] [--exclude "
        "F.jsonl]... [--repeats]\n"
        "       coolfusion-make-task facts3 [--groups 0,1,2] [--n N --seed S]\n"
        "       coolfusion-make-task drill --seed S --n N [--ops add,sub,mul]\n"
        "Writes GSM8K-format jsonl to stdout. facts3 without --n lists each fact of the groups "
        "once.\n");
    return argc < 2 ? 1 : 0;
  }
  const std::string task = argv[1];
  if (task != "arith3" && task != "facts3" && task != "drill")
    return Fail("unknown task '" + task + "' (arith3, facts3 or drill)");
  long seed = 1, n = -1;
  std::vector<std::string> ops = {"add", "sub", "mul"};
  std::vector<std::string> groups = {"0", "1", "2"};
  std::set<std::string> excluded;
  bool repeats = false;
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--repeats") {
      repeats = true;
      continue;
    }
    if (i + 1 >= argc) return Fail("missing value for " + k);
    const char* v = argv[++i];
    if (k == "--seed") {
      if (!ParseLong(v, 0, 1L << 40, &seed)) return Fail(std::string("bad --seed: ") + v);
    } else if (k == "--n") {
      if (!ParseLong(v, 1, 100000000, &n)) return Fail(std::string("bad --n: ") + v);
    } else if (k == "--ops") {
      ops = Split(v);
      for (const auto& o : ops)
        if (o != "add" && o != "sub" && o != "mul")
          return Fail("unknown op '" + o + "' (add, sub, mul)");
      if (ops.empty()) return Fail("--ops is empty");
    } else if (k == "--groups") {
      groups = Split(v);
      for (const auto& g : groups)
        if (g != "0" && g != "1" && g != "2") return Fail("unknown group '" + g + "' (0, 1, 2)");
    } else if (k == "--exclude") {
      std::ifstream in(v);
      if (!in) return Fail(std::string("cannot read ") + v);
      long line_no = 0;
      for (std::string line; std::getline(in, line);) {
        ++line_no;
        if (line.empty()) continue;
        const auto j = nlohmann::json::parse(line, nullptr, false);
        if (j.is_discarded() || !j.contains("question") || !j["question"].is_string())
          return Fail(std::string(v) + ":" + std::to_string(line_no) +
                      ": not a {\"question\", ...} object");
        excluded.insert(j["question"].get<std::string>());
      }
    } else {
      return Fail("unknown argument: " + k + " (see --help)");
    }
  }
  Rng r((uint64_t)seed);
  if (task == "facts3") {
    std::vector<Problem> known;
    const auto all = Facts();
    for (size_t i = 0; i < all.size(); ++i)
      for (const auto& g : groups)
        if ((long)(i % 3) == std::stol(g)) known.push_back(all[i]);
    if (n < 0) {
      for (const auto& p : known) Print(p);
    } else {
      for (long i = 0; i < n; ++i) Print(known[(size_t)r.Int(0, (long)known.size() - 1)]);
    }
    return 0;
  }
  if (n < 0) return Fail(task + " needs --n");
  if (task == "drill") {
    for (long i = 0; i < n; ++i) Print(Arith(ops[(size_t)(i % (long)ops.size())], r, true));
    return 0;
  }
  std::set<std::string> seen = excluded;
  for (long i = 0; i < n; ++i) {
    const std::string& op = ops[(size_t)(i % (long)ops.size())];
    for (int tries = 0;; ++tries) {
      if (tries > 100000)
        return Fail("cannot find " + std::to_string(n) + " distinct " + op + " problems");
      const Problem p = Arith(op, r);
      if (repeats ? excluded.count(p.question) > 0 : !seen.insert(p.question).second) continue;
      Print(p);
      break;
    }
  }
  return 0;
}
