// The eval dataset readers and answer extraction: any file content either fails with a
// message naming where, or yields rows that all have a question and a gold answer (a
// multiple-choice row: a prompt, two or more distinct non-empty choices and a gold index
// among them); any model output extracts to an answer that matches itself.
#include <cstdint>
#include <string>

#include "eval/choice.h"
#include "eval/dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coolfusion::eval;
  if (size < 1) return 0;
  static const char* kTasks[] = {"gsm8k",     "svamp",       "multiarith",    "addsub",
                                 "singleeq",  "aqua",        "commonsenseqa", "strategyqa",
                                 "coin_flip", "last_letters"};
  const std::string content(reinterpret_cast<const char*>(data + 1), size - 1);
  static const char* kChoiceTasks[] = {"choice", "arc", "hellaswag"};
  if (data[0] >= 250) {
    ChoiceDataset cd;
    const coolfusion::Status s =
        ParseChoiceDataset(kChoiceTasks[data[0] % 3], content, "fuzz", &cd);
    if (!s.ok()) {
      if (s.message().rfind("fuzz", 0) != 0) __builtin_trap();
      return 0;
    }
    if (cd.examples.empty()) __builtin_trap();
    for (const ChoiceExample& ex : cd.examples) {
      if (ex.choices.size() < 2 || ex.gold < 0 || (size_t)ex.gold >= ex.choices.size())
        __builtin_trap();
      for (const std::string& c : ex.choices) {
        if (c.empty()) __builtin_trap();
        (void)CodePoints(c);
        (void)ChoiceContinuation(c);
      }
      (void)BuildChoicePrompt(ex, {ex});
    }
    return 0;
  }
  Task task;
  if (!FindTask(kTasks[data[0] % 10], &task).ok()) __builtin_trap();
  Dataset d;
  const coolfusion::Status s = ParseDataset(task, content, "fuzz", &d);
  if (!s.ok()) {
    if (s.message().rfind("fuzz", 0) != 0) __builtin_trap();  // errors name the source
  } else {
    if (d.examples.empty()) __builtin_trap();
    for (const auto& ex : d.examples) {
      if (ex.question.empty() || ex.gold.empty() || ex.where.empty()) __builtin_trap();
      (void)BuildPrompt(ex, {ex});
    }
  }
  static const AnswerKind kinds[] = {AnswerKind::kNumber, AnswerKind::kChoice, AnswerKind::kYesNo,
                                     AnswerKind::kText};
  const AnswerKind k = kinds[data[0] % 4];
  const std::string a = ExtractAnswer(k, content);
  if (!a.empty() && !AnswerMatches(k, a, a)) __builtin_trap();
  return 0;
}
