#include "eval/choice.h"

#include <nlohmann/json.hpp>

#include <cctype>
#include <cmath>

#include "base/utf8.h"
#include "eval/jsonl.h"

namespace coolfusion::eval {
namespace {

using nlohmann::json;

enum class Layout { kGeneric, kArc, kArcHf, kHellaswag, kUnknown };

const char* LayoutName(Layout l) {
  switch (l) {
    case Layout::kGeneric: return "{\"question\", \"choices\", \"answer\"}";
    case Layout::kArc: return "ARC";
    case Layout::kArcHf: return "ARC (Hugging Face)";
    case Layout::kHellaswag: return "HellaSwag";
    case Layout::kUnknown: break;
  }
  return "unknown";
}

Layout Detect(const json& j) {
  if (j.contains("endings")) return Layout::kHellaswag;
  if (j.contains("answerKey")) {
    const auto q = j.find("question");
    return q != j.end() && q->is_object() ? Layout::kArc : Layout::kArcHf;
  }
  if (j.contains("question") && j.contains("choices") && j.contains("answer"))
    return Layout::kGeneric;
  return Layout::kUnknown;
}

bool Allowed(std::string_view task, Layout l) {
  if (task == "arc") return l == Layout::kArc || l == Layout::kArcHf;
  if (task == "hellaswag") return l == Layout::kHellaswag;
  return l != Layout::kUnknown;
}

// A string field, or an error naming it.
Status StringField(const json& j, const char* key, const std::string& where, std::string* out) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string())
    return Bad(where, std::string("no \"") + key + "\" string");
  *out = it->get<std::string>();
  return Status::Ok();
}

// An array of strings, or an error naming it.
Status Strings(const json& j, const std::string& name, const std::string& where,
               std::vector<std::string>* out) {
  if (!j.is_array()) return Bad(where, "\"" + name + "\" is not an array");
  out->clear();
  for (size_t i = 0; i < j.size(); ++i) {
    if (!j[i].is_string())
      return Bad(where, "\"" + name + "\" item " + std::to_string(i + 1) + " is not a string");
    out->push_back(j[i].get<std::string>());
  }
  return Status::Ok();
}

// At least two choices, none empty, no two equal.
Status CheckChoices(const std::vector<std::string>& c, const std::string& where) {
  if (c.empty()) return Bad(where, "no choices (an empty list)");
  if (c.size() < 2) return Bad(where, "one choice only: a multiple-choice row needs two or more");
  for (size_t i = 0; i < c.size(); ++i) {
    if (c[i].empty()) return Bad(where, "choice " + std::to_string(i + 1) + " is empty");
    for (size_t k = 0; k < i; ++k)
      if (c[k] == c[i])
        return Bad(where, "choices " + std::to_string(k + 1) + " and " + std::to_string(i + 1) +
                              " are the same text (\"" + c[i] + "\")");
  }
  return Status::Ok();
}

Status GoldIndex(long g, size_t n, const std::string& where, int* out) {
  if (g < 0 || (size_t)g >= n)
    return Bad(where, "the answer's index " + std::to_string(g) + " is out of range (" +
                          std::to_string(n) + " choices: 0.." + std::to_string(n - 1) + ")");
  *out = (int)g;
  return Status::Ok();
}

// generic "answer": an index, a choice's text, or a letter.
Status GenericGold(const json& a, const std::vector<std::string>& choices, const std::string& where,
                   int* out) {
  if (a.is_number_integer()) return GoldIndex(a.get<long>(), choices.size(), where, out);
  if (!a.is_string())
    return Bad(where, "\"answer\" is neither an index, a choice's text nor a letter");
  const std::string s = a.get<std::string>();
  int by_text = -1, by_letter = -1;
  for (size_t i = 0; i < choices.size(); ++i)
    if (choices[i] == s) by_text = (int)i;
  if (s.size() == 1 && s[0] >= 'A' && s[0] <= 'Z') by_letter = s[0] - 'A';
  if (by_text >= 0 && by_letter >= 0 && by_text != by_letter)
    return Bad(where, "\"answer\" \"" + s + "\" is ambiguous: choice " +
                          std::to_string(by_text + 1) + "'s text and the letter of choice " +
                          std::to_string(by_letter + 1));
  if (by_text >= 0) return GoldIndex(by_text, choices.size(), where, out);
  if (by_letter >= 0) {
    if ((size_t)by_letter >= choices.size())
      return Bad(where, "\"answer\" \"" + s + "\" names no choice (" +
                            std::to_string(choices.size()) + " choices: A.." +
                            std::string(1, (char)('A' + choices.size() - 1)) + ")");
    *out = by_letter;
    return Status::Ok();
  }
  return Bad(where, "\"answer\" \"" + s + "\" is neither a choice's text nor a letter");
}

// ARC's answerKey among the labels.
Status LabelGold(const json& j, const std::vector<std::string>& labels, const std::string& where,
                 int* out) {
  std::string key;
  CF_RETURN_IF_ERROR(StringField(j, "answerKey", where, &key));
  for (size_t i = 0; i < labels.size(); ++i)
    for (size_t k = 0; k < i; ++k)
      if (labels[k] == labels[i])
        return Bad(where, "two choices have the label \"" + labels[i] + "\"");
  for (size_t i = 0; i < labels.size(); ++i)
    if (labels[i] == key) return GoldIndex((long)i, labels.size(), where, out);
  return Bad(where, "\"answerKey\" \"" + key + "\" is not one of the choices' labels");
}

std::string Capitalize(std::string s) {
  for (size_t i = 0; i < s.size(); ++i)
    s[i] = (char)(i == 0 ? std::toupper((unsigned char)s[i]) : std::tolower((unsigned char)s[i]));
  return s;
}

Status ParseRow(std::string_view task, const json& j, const std::string& where, ChoiceExample* ex) {
  if (!j.is_object()) return Bad(where, "not a JSON object");
  const Layout layout = Detect(j);
  if (layout == Layout::kUnknown)
    return Bad(where,
               "not a multiple-choice row (want {\"question\", \"choices\", \"answer\"}, ARC's "
               "\"answerKey\" or HellaSwag's \"endings\")");
  if (!Allowed(task, layout))
    return Bad(where, "a " + std::string(LayoutName(layout)) + " row, not --task " +
                          std::string(task) + "'s layout (--task choice reads any)");
  ex->where = where;
  std::string question;
  switch (layout) {
    case Layout::kGeneric: {
      CF_RETURN_IF_ERROR(StringField(j, "question", where, &question));
      CF_RETURN_IF_ERROR(Strings(j["choices"], "choices", where, &ex->choices));
      CF_RETURN_IF_ERROR(CheckChoices(ex->choices, where));
      CF_RETURN_IF_ERROR(GenericGold(j["answer"], ex->choices, where, &ex->gold));
      break;
    }
    case Layout::kArc: {
      const json& q = j["question"];
      CF_RETURN_IF_ERROR(StringField(q, "stem", where, &question));
      const auto c = q.find("choices");
      if (c == q.end() || !c->is_array()) return Bad(where, "no \"question.choices\" array");
      std::vector<std::string> labels;
      for (const json& x : *c) {
        std::string text, label;
        if (!x.is_object()) return Bad(where, "a choice is not an object {\"text\", \"label\"}");
        CF_RETURN_IF_ERROR(StringField(x, "text", where, &text));
        CF_RETURN_IF_ERROR(StringField(x, "label", where, &label));
        ex->choices.push_back(text);
        labels.push_back(label);
      }
      CF_RETURN_IF_ERROR(CheckChoices(ex->choices, where));
      CF_RETURN_IF_ERROR(LabelGold(j, labels, where, &ex->gold));
      break;
    }
    case Layout::kArcHf: {
      CF_RETURN_IF_ERROR(StringField(j, "question", where, &question));
      const auto c = j.find("choices");
      if (c == j.end() || !c->is_object() || !c->contains("text") || !c->contains("label"))
        return Bad(where, "no \"choices\" object {\"text\": [...], \"label\": [...]}");
      std::vector<std::string> labels;
      CF_RETURN_IF_ERROR(Strings((*c)["text"], "choices.text", where, &ex->choices));
      CF_RETURN_IF_ERROR(Strings((*c)["label"], "choices.label", where, &labels));
      if (labels.size() != ex->choices.size())
        return Bad(where, std::to_string(ex->choices.size()) + " choices but " +
                              std::to_string(labels.size()) + " labels");
      CF_RETURN_IF_ERROR(CheckChoices(ex->choices, where));
      CF_RETURN_IF_ERROR(LabelGold(j, labels, where, &ex->gold));
      break;
    }
    case Layout::kHellaswag: {
      std::vector<std::string> endings;
      CF_RETURN_IF_ERROR(Strings(j["endings"], "endings", where, &endings));
      for (const std::string& e : endings) ex->choices.push_back(HellaswagPreprocess(e));
      CF_RETURN_IF_ERROR(CheckChoices(ex->choices, where));
      if (j.contains("activity_label") && j.contains("ctx_a") && j.contains("ctx_b")) {
        std::string label, a, b;
        CF_RETURN_IF_ERROR(StringField(j, "activity_label", where, &label));
        CF_RETURN_IF_ERROR(StringField(j, "ctx_a", where, &a));
        CF_RETURN_IF_ERROR(StringField(j, "ctx_b", where, &b));
        ex->prompt = HellaswagPreprocess(label + ": " + a + " " + Capitalize(b));
      } else {
        std::string ctx;
        CF_RETURN_IF_ERROR(StringField(j, "ctx", where, &ctx));
        ex->prompt = HellaswagPreprocess(ctx);
      }
      if (ex->prompt.empty()) return Bad(where, "empty context");
      const auto l = j.find("label");
      long g = -1;
      if (l != j.end() && l->is_number_integer()) {
        g = l->get<long>();
      } else if (l != j.end() && l->is_string()) {
        const std::string s = Trim(l->get<std::string>());
        char* end = nullptr;
        g = s.empty() ? -1 : std::strtol(s.c_str(), &end, 10);
        if (s.empty() || *end != '\0') return Bad(where, "\"label\" \"" + s + "\" is not an index");
      } else {
        return Bad(where, "no \"label\" (an index, or its digits as a string)");
      }
      return GoldIndex(g, ex->choices.size(), where, &ex->gold);
    }
    case Layout::kUnknown: break;
  }
  if (Trim(question).empty()) return Bad(where, "empty question");
  ex->prompt = "Question: " + question + "\nAnswer:";
  return Status::Ok();
}

}  // namespace

bool IsChoiceTask(std::string_view task) {
  return task == "choice" || task == "arc" || task == "hellaswag";
}

const char* ChoiceTaskList() { return "choice, arc, hellaswag"; }

Status ParseChoiceDataset(std::string_view task, std::string_view content,
                          const std::string& source, ChoiceDataset* out) {
  *out = ChoiceDataset{};
  size_t bad_at = 0;
  if (!IsValidUtf8(content, &bad_at))
    return Status::InvalidArgument(source + ": invalid UTF-8 at byte " + std::to_string(bad_at));
  CF_RETURN_IF_ERROR(ForEachJsonlRow(content, source, &out->blank_lines,
                                     [&](const json& j, const std::string& where) {
                                       ChoiceExample ex;
                                       CF_RETURN_IF_ERROR(ParseRow(task, j, where, &ex));
                                       out->examples.push_back(std::move(ex));
                                       return Status::Ok();
                                     }));
  if (out->examples.empty()) return Status::InvalidArgument(source + ": no rows (empty dataset)");
  return Status::Ok();
}

Status LoadChoiceDataset(std::string_view task, const std::string& path, ChoiceDataset* out) {
  std::string content;
  CF_RETURN_IF_ERROR(ReadDatasetFile(path, &content));
  return ParseChoiceDataset(task, content, path, out);
}

std::string ChoiceContinuation(const std::string& choice) { return " " + choice; }

std::string BuildChoicePrompt(const ChoiceExample& ex, const std::vector<ChoiceExample>& shots) {
  std::string p;
  for (const ChoiceExample& s : shots)
    p += s.prompt + ChoiceContinuation(s.choices[(size_t)s.gold]) + "\n\n";
  return p + ex.prompt;
}

int ArgMin(const std::vector<double>& v) {
  int best = -1;
  for (size_t i = 0; i < v.size(); ++i) {
    if (std::isnan(v[i])) {
      if (best < 0) best = (int)i;  // only NaN so far: the first stands
      continue;
    }
    if (best < 0 || std::isnan(v[(size_t)best]) || v[i] < v[(size_t)best]) best = (int)i;
  }
  return best;
}

size_t CodePoints(std::string_view s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

std::string HellaswagPreprocess(std::string_view text) {
  // text.strip()
  std::string t = Trim(text);
  // .replace(" [title]", ". ")
  std::string a;
  for (size_t i = 0; i < t.size();) {
    if (t.compare(i, 8, " [title]") == 0) {
      a += ". ";
      i += 8;
    } else {
      a += t[i++];
    }
  }
  // re.sub("\\[.*?\\]", "", text): the shortest "[...]" from each "[", "." not crossing a
  // newline; a "[" with no "]" after it on its line stays.
  std::string b;
  for (size_t i = 0; i < a.size();) {
    if (a[i] == '[') {
      size_t j = i + 1;
      while (j < a.size() && a[j] != ']' && a[j] != '\n') ++j;
      if (j < a.size() && a[j] == ']') {
        i = j + 1;
        continue;
      }
    }
    b += a[i++];
  }
  // .replace("  ", " "): left to right, not overlapping ("   " becomes "  ").
  std::string c;
  for (size_t i = 0; i < b.size();) {
    if (b.compare(i, 2, "  ") == 0) {
      c += ' ';
      i += 2;
    } else {
      c += b[i++];
    }
  }
  return c;
}

}  // namespace coolfusion::eval
