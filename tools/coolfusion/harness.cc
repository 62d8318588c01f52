#include "harness.h"

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <regex>

namespace coolfusion::cli {
namespace {

constexpr const char* kInvalid = "[invalid]";  // the harness's RegexFilter fallback

std::string Strip(std::string s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace((unsigned char)s[b])) ++b;
  while (e > b && std::isspace((unsigned char)s[e - 1])) --e;
  return s.substr(b, e - b);
}

// The harness's strict-match pattern "#### (\-?[0-9\.\,]+)", written without the escapes
// that ECMAScript regexes do not take inside a class (the same set of strings).
const std::regex& StrictNumber() {
  static const std::regex r("#### (-?[0-9.,]+)");
  return r;
}
const std::regex& FlexibleNumber() {
  static const std::regex r("(-?[$0-9.,]{2,})|(-?[0-9]+)");
  return r;
}
const std::regex& StrictWord() {
  static const std::regex r("#### (\\S+)");
  return r;
}

std::string FirstMatch(const std::regex& re, const std::string& s) {
  std::smatch m;
  if (!std::regex_search(s, m, re)) return kInvalid;
  return Strip(m[1].str());
}

std::string LastMatch(const std::regex& re, const std::string& s) {
  std::string last = kInvalid;
  for (auto it = std::sregex_iterator(s.begin(), s.end(), re); it != std::sregex_iterator(); ++it) {
    const std::smatch& m = *it;
    last = m[1].matched && m[1].length() ? m[1].str() : m[2].str();
  }
  return Strip(last);
}

// The harness's exact_match preprocessing for gsm8k: regexes_to_ignore [",", "\$",
// "(?s).*#### ", "\.$"] in order, then ignore_case.
std::string Normalize(std::string s) {
  std::string t;
  for (char c : s)
    if (c != ',' && c != '$') t += c;
  const size_t hashes = t.rfind("#### ");  // (?s).*#### : greedy, up to the last one
  if (hashes != std::string::npos) t = t.substr(hashes + 5);
  if (!t.empty() && t.back() == '.') t.pop_back();
  for (char& c : t) c = (char)std::tolower((unsigned char)c);
  return t;
}

bool IsNumber(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

}  // namespace

HarnessAnswers HarnessExtract(eval::AnswerKind kind, std::string_view output,
                              const std::string& gold) {
  const std::string out(output);
  HarnessAnswers h;
  if (IsNumber(gold)) {
    h.strict = FirstMatch(StrictNumber(), out);
    h.flexible = LastMatch(FlexibleNumber(), out);
  } else {
    h.strict = FirstMatch(StrictWord(), out);
    h.flexible = eval::ExtractAnswer(kind, output);
    if (h.flexible.empty()) h.flexible = kInvalid;
  }
  const std::string g = Normalize(gold);
  h.strict_correct = Normalize(h.strict) == g;
  h.flexible_correct = Normalize(h.flexible) == g;
  return h;
}

nlohmann::json HarnessFiltersJson() {
  return {
      {"strict-match", {{"number_gold", "#### (\\-?[0-9\\.\\,]+)"}, {"word_gold", "#### (\\S+)"}}},
      {"flexible-extract",
       {{"number_gold", "(-?[$0-9.,]{2,})|(-?[0-9]+)"},
        {"word_gold", "the task's own extraction (eval::ExtractAnswer)"}}},
      {"exact_match",
       {{"regexes_to_ignore", {",", "\\$", "(?s).*#### ", "\\.$"}}, {"ignore_case", true}}},
      {"fallback", kInvalid}};
}

double HarnessStderr(size_t correct, size_t n) {
  const double p = (double)correct / (double)n;
  return std::sqrt(p * (1 - p) / (double)(n - 1));
}

}  // namespace coolfusion::cli
