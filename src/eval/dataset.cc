#include "eval/dataset.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "base/utf8.h"
#include "eval/choice.h"
#include "eval/jsonl.h"

namespace coolfusion::eval {
namespace {

using nlohmann::json;

constexpr struct {
  const char* name;
  AnswerKind kind;
} kTasks[] = {
    {"gsm8k", AnswerKind::kNumber},         {"svamp", AnswerKind::kNumber},
    {"multiarith", AnswerKind::kNumber},    {"addsub", AnswerKind::kNumber},
    {"singleeq", AnswerKind::kNumber},      {"aqua", AnswerKind::kChoice},
    {"commonsenseqa", AnswerKind::kChoice}, {"strategyqa", AnswerKind::kYesNo},
    {"coin_flip", AnswerKind::kYesNo},      {"last_letters", AnswerKind::kText},
};

std::string Lower(std::string s) {
  for (auto& c : s) c = (char)std::tolower((unsigned char)c);
  return s;
}

// Numbers as text: "1,234.50" -> "1234.5"; integers without a decimal point.
std::string FormatNumber(double v) {
  if (std::fabs(v) < 1e15 && v == std::floor(v)) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%lld", (long long)v);
    return buf;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.10g", v);
  return buf;
}

// Every number in `s` (digits with optional thousands commas, decimals and a minus).
std::vector<std::string> Numbers(std::string_view s) {
  std::vector<std::string> out;
  for (size_t i = 0; i < s.size();) {
    if (!std::isdigit((unsigned char)s[i])) {
      ++i;
      continue;
    }
    const bool neg = i > 0 && s[i - 1] == '-' && (i < 2 || !std::isalnum((unsigned char)s[i - 2]));
    std::string digits;
    size_t j = i;
    while (j < s.size() &&
           (std::isdigit((unsigned char)s[j]) ||
            (s[j] == ',' && j + 1 < s.size() && std::isdigit((unsigned char)s[j + 1])))) {
      if (s[j] != ',') digits += s[j];
      ++j;
    }
    if (j + 1 < s.size() && s[j] == '.' && std::isdigit((unsigned char)s[j + 1])) {
      digits += '.';
      ++j;
      while (j < s.size() && std::isdigit((unsigned char)s[j])) digits += s[j++];
    }
    const double v = std::strtod(digits.c_str(), nullptr);
    out.push_back(FormatNumber(neg ? -v : v));
    i = j;
  }
  return out;
}

bool IsNumber(const std::string& s, double* v) {
  if (s.empty()) return false;
  char* end = nullptr;
  *v = std::strtod(s.c_str(), &end);
  return end && *end == '\0' && std::isfinite(*v);
}

std::string FirstWord(std::string_view s) {
  std::string w;
  for (char c : Trim(s)) {
    if (std::isspace((unsigned char)c)) break;
    w += c;
  }
  while (!w.empty() && std::ispunct((unsigned char)w.back())) w.pop_back();
  while (!w.empty() && std::ispunct((unsigned char)w.front())) w.erase(w.begin());
  return Lower(w);
}

// The text after the last "####" up to the end of its line, or nullopt-like "" + false.
bool AfterHashes(std::string_view s, std::string* out) {
  const size_t p = s.rfind("####");
  if (p == std::string_view::npos) return false;
  std::string_view rest = s.substr(p + 4);
  const size_t nl = rest.find('\n');
  *out = Trim(rest.substr(0, nl));
  return true;
}

std::string Str(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

// A number field that may be a JSON number or a numeric string.
bool NumberField(const json& j, double* v) {
  if (j.is_number()) {
    *v = j.get<double>();
    return std::isfinite(*v);
  }
  if (j.is_string()) return IsNumber(Trim(j.get<std::string>()), v);
  return false;
}

Status AddNumeric(const std::string& question, const json& solution, const std::string& where,
                  Dataset* out) {
  double v;
  if (!NumberField(solution, &v)) return Bad(where, "the answer is not a number");
  if (Trim(question).empty()) return Bad(where, "empty question");
  const std::string g = FormatNumber(v);
  out->examples.push_back({Trim(question), "The answer is " + g + ".\n#### " + g, g, where});
  return Status::Ok();
}

Status ParseRow(const Task& task, const json& j, const std::string& where, Dataset* out) {
  if (!j.is_object()) return Bad(where, "not a JSON object");
  const std::string& t = task.name;
  if (t == "gsm8k") {
    if (!j.contains("question") || !j["question"].is_string())
      return Bad(where, "no \"question\" string");
    if (!j.contains("answer") || !j["answer"].is_string())
      return Bad(where, "no \"answer\" string");
    const std::string q = j["question"], a = j["answer"];
    std::string fin;
    if (!AfterHashes(a, &fin) || fin.empty())
      return Bad(where, "the answer has no final answer after \"####\"");
    if (Trim(q).empty()) return Bad(where, "empty question");
    std::string gold = ExtractAnswer(AnswerKind::kNumber, a);
    if (gold.empty())
      return Bad(where, "the final answer after \"####\" is neither a number nor a word");
    out->examples.push_back({q, a, std::move(gold), where});
    return Status::Ok();
  }
  if (t == "svamp") {
    const std::string q = Trim(Str(j, "Body") + " " + Str(j, "Question"));
    if (!j.contains("Answer")) return Bad(where, "no \"Answer\"");
    return AddNumeric(q, j["Answer"], where, out);
  }
  if (t == "multiarith" || t == "addsub" || t == "singleeq") {
    if (!j.contains("sQuestion") || !j["sQuestion"].is_string())
      return Bad(where, "no \"sQuestion\" string");
    if (!j.contains("lSolutions") || !j["lSolutions"].is_array() || j["lSolutions"].empty())
      return Bad(where, "no \"lSolutions\"");
    return AddNumeric(j["sQuestion"], j["lSolutions"][0], where, out);
  }
  if (t == "aqua") {
    const std::string q = Str(j, "question"), c = Str(j, "correct");
    if (q.empty()) return Bad(where, "no \"question\" string");
    if (c.size() != 1 || c[0] < 'A' || c[0] > 'E')
      return Bad(where, "\"correct\" is not a letter A-E");
    if (!j.contains("options") || !j["options"].is_array())
      return Bad(where, "no \"options\" array");
    std::string text = q + "\nAnswer Choices:";
    for (const auto& o : j["options"]) {
      if (!o.is_string()) return Bad(where, "an option is not a string");
      std::string s = o.get<std::string>();
      if (s.size() >= 2 && s[1] == ')') s = "(" + s.substr(0, 1) + ") " + s.substr(2);
      text += " " + s;
    }
    out->examples.push_back({text, "The answer is " + c + ".\n#### " + c, c, where});
    return Status::Ok();
  }
  if (t == "commonsenseqa") {
    const std::string key = Str(j, "answerKey");
    if (key.size() != 1 || key[0] < 'A' || key[0] > 'E')
      return Bad(where, "\"answerKey\" is not a letter A-E");
    if (!j.contains("question") || !j["question"].is_object())
      return Bad(where, "no \"question\" object");
    const json& qj = j["question"];
    const std::string stem = Str(qj, "stem");
    if (stem.empty()) return Bad(where, "no \"question.stem\"");
    if (!qj.contains("choices") || !qj["choices"].is_array())
      return Bad(where, "no \"question.choices\"");
    std::string text = stem + "\nAnswer Choices:";
    for (const auto& c : qj["choices"]) {
      if (!c.is_object()) return Bad(where, "a choice is not an object");
      text += " (" + Str(c, "label") + ") " + Str(c, "text");
    }
    out->examples.push_back({text, "The answer is " + key + ".\n#### " + key, key, where});
    return Status::Ok();
  }
  if (t == "strategyqa") {
    const std::string q = Str(j, "input");
    if (q.empty()) return Bad(where, "no \"input\" string");
    if (!j.contains("target_scores") || !j["target_scores"].is_object())
      return Bad(where, "no \"target_scores\"");
    const json& ts = j["target_scores"];
    const bool yes = ts.contains("Yes") && ts["Yes"].is_number() && ts["Yes"].get<double>() > 0;
    const bool no = ts.contains("No") && ts["No"].is_number() && ts["No"].get<double>() > 0;
    if (yes == no) return Bad(where, "\"target_scores\" must mark exactly one of Yes/No");
    const std::string g = yes ? "yes" : "no";
    out->examples.push_back({q, "The answer is " + g + ".\n#### " + g, g, where});
    return Status::Ok();
  }
  // coin_flip, last_letters
  const std::string q = Str(j, "question");
  const std::string a = Lower(Trim(Str(j, "answer")));
  if (q.empty()) return Bad(where, "no \"question\" string");
  if (a.empty()) return Bad(where, "no \"answer\" string");
  if (t == "coin_flip" && a != "yes" && a != "no") return Bad(where, "\"answer\" is not yes or no");
  out->examples.push_back({q, "The answer is " + a + ".\n#### " + a, a, where});
  return Status::Ok();
}

}  // namespace

Status FindTask(std::string_view name, Task* out) {
  std::string names;
  for (const auto& t : kTasks) {
    if (name == t.name) {
      *out = {t.name, t.kind};
      return Status::Ok();
    }
    names += names.empty() ? "" : ", ";
    names += t.name;
  }
  return Status::InvalidArgument("unknown --task '" + std::string(name) + "' (" + names +
                                 "; multiple choice: " + ChoiceTaskList() + ")");
}

Status ParseDataset(const Task& task, std::string_view content, const std::string& source,
                    Dataset* out) {
  *out = Dataset{};
  size_t bad_at = 0;
  if (!IsValidUtf8(content, &bad_at))
    return Status::InvalidArgument(source + ": invalid UTF-8 at byte " + std::to_string(bad_at));
  const std::string& t = task.name;
  // JSON documents: an array of rows, or {"examples": [...]}.
  if (t == "svamp" || t == "multiarith" || t == "addsub" || t == "singleeq" || t == "strategyqa" ||
      t == "coin_flip" || t == "last_letters") {
    json doc = json::parse(content, nullptr, /*allow_exceptions=*/false);
    if (doc.is_discarded()) return Status::InvalidArgument(source + ": not valid JSON");
    const json* rows = &doc;
    if (doc.is_object() && doc.contains("examples")) rows = &doc["examples"];
    if (!rows->is_array())
      return Status::InvalidArgument(source +
                                     ": expected a JSON array of rows (or {\"examples\": [...]})");
    for (size_t i = 0; i < rows->size(); ++i)
      CF_RETURN_IF_ERROR(
          ParseRow(task, (*rows)[i], source + "[#" + std::to_string(i + 1) + "]", out));
  } else {
    // jsonl: gsm8k, aqua, commonsenseqa.
    CF_RETURN_IF_ERROR(ForEachJsonlRow(
        content, source, &out->blank_lines,
        [&](const json& j, const std::string& where) { return ParseRow(task, j, where, out); }));
  }
  if (out->examples.empty()) return Status::InvalidArgument(source + ": no rows (empty dataset)");
  return Status::Ok();
}

Status LoadDataset(const Task& task, const std::string& path, Dataset* out) {
  std::string content;
  CF_RETURN_IF_ERROR(ReadDatasetFile(path, &content));
  return ParseDataset(task, content, path, out);
}

std::string BuildPrompt(const Example& ex, const std::vector<Example>& shots) {
  std::string p;
  for (const auto& s : shots) p += "Question: " + s.question + "\nAnswer: " + s.answer + "\n\n";
  return p + "Question: " + ex.question + "\nAnswer:";
}

std::string ExtractAnswer(AnswerKind kind, std::string_view output) {
  std::string fin;
  const bool has_final = AfterHashes(output, &fin);
  switch (kind) {
    case AnswerKind::kNumber: {
      if (has_final) {
        const auto nums = Numbers(fin);
        return nums.empty() ? FirstWord(fin) : nums.front();
      }
      const auto nums = Numbers(output);
      return nums.empty() ? "" : nums.back();
    }
    case AnswerKind::kChoice: {
      const std::string s = has_final ? fin : std::string(output);
      for (size_t i = 0; i < s.size(); ++i) {
        const char c = s[i];
        if (c < 'A' || c > 'E') continue;
        const bool left = i == 0 || !std::isalnum((unsigned char)s[i - 1]);
        const bool right = i + 1 == s.size() || !std::isalnum((unsigned char)s[i + 1]);
        if (left && right) return std::string(1, c);
      }
      return "";
    }
    case AnswerKind::kYesNo: {
      const std::string s = Lower(has_final ? fin : std::string(output));
      for (size_t i = 0; i < s.size(); ++i) {
        if (i > 0 && std::isalpha((unsigned char)s[i - 1])) continue;
        for (const char* w : {"yes", "no"}) {
          const size_t n = std::char_traits<char>::length(w);
          if (s.compare(i, n, w) == 0 &&
              (i + n == s.size() || !std::isalpha((unsigned char)s[i + n])))
            return w;
        }
      }
      return "";
    }
    case AnswerKind::kText: return FirstWord(has_final ? fin : std::string(output));
  }
  return "";
}

bool AnswerMatches(AnswerKind kind, const std::string& predicted, const std::string& gold) {
  if (predicted.empty()) return false;
  double p, g;
  if (kind == AnswerKind::kNumber && IsNumber(gold, &g)) {
    return IsNumber(predicted, &p) && std::fabs(p - g) <= 1e-6 * std::max(1.0, std::fabs(g));
  }
  return Lower(predicted) == Lower(gold);
}

void Wilson95(size_t correct, size_t n, double* lo, double* hi) {
  if (n == 0) {
    *lo = 0, *hi = 1;
    return;
  }
  const double z = 1.959963984540054, p = (double)correct / (double)n, nn = (double)n;
  const double denom = 1 + z * z / nn;
  const double centre = (p + z * z / (2 * nn)) / denom;
  const double half = z * std::sqrt(p * (1 - p) / nn + z * z / (4 * nn * nn)) / denom;
  *lo = correct == 0 ? 0.0 : std::max(0.0, centre - half);
  *hi = correct == n ? 1.0 : std::min(1.0, centre + half);
}

}  // namespace coolfusion::eval
