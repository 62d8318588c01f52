// Evaluation datasets: readers for GSM8K-format jsonl and the other formats in
// shared/data/datasets (SVAMP, MultiArith, AddSub, SingleEq, AQuA, CommonsenseQA,
// StrategyQA, coin_flip, last_letters), prompts, and answer extraction.
//
// A reader never drops a row silently: a malformed row is an error naming its line (or
// its index in a JSON array); blank lines are counted in `blank_lines`.
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion::eval {

enum class AnswerKind {
  kNumber,  // the number after "####", else the last number; compared numerically
  kChoice,  // a letter A-E
  kYesNo,   // "yes" or "no"
  kText,    // a word, compared case-insensitively
};

struct Task {
  std::string name;  // gsm8k, svamp, multiarith, addsub, singleeq, aqua, commonsenseqa,
                     // strategyqa, coin_flip, last_letters
  AnswerKind kind = AnswerKind::kNumber;
};

// Finds a task by name; the error lists the known names.
Status FindTask(std::string_view name, Task* out);

struct Example {
  std::string question;  // as shown to a model (multiple choice: with the choices)
  std::string answer;    // a worked answer for few-shot demonstrations, ending "#### gold"
  std::string gold;      // the final answer, normalized ("18", "B", "yes", "yajo")
  std::string where;     // "file:LINE" (jsonl) or "file[#INDEX]" (JSON arrays), for messages
};

struct Dataset {
  std::vector<Example> examples;
  size_t blank_lines = 0;  // jsonl lines with only whitespace (not rows)
};

// Parses the whole content of a dataset file. `source` names it in messages. GSM8K
// rows may carry other fields (ignored); the answer must contain "####" followed by
// the final answer. An empty dataset is an error.
Status ParseDataset(const Task& task, std::string_view content, const std::string& source,
                    Dataset* out);

// Reads `path` and parses it.
Status LoadDataset(const Task& task, const std::string& path, Dataset* out);

// The prompt for `ex` after `shots` worked examples: "Question: ...\nAnswer: ...\n\n" per
// shot, then "Question: {question}\nAnswer:".
std::string BuildPrompt(const Example& ex, const std::vector<Example>& shots);

// The final answer in a model's output, normalized like Example::gold ("" if none).
std::string ExtractAnswer(AnswerKind kind, std::string_view output);

// Whether a prediction equals the gold answer (numbers compared as numbers).
bool AnswerMatches(AnswerKind kind, const std::string& predicted, const std::string& gold);

// Wilson score interval for `correct` out of `n` at 95%.
void Wilson95(size_t correct, size_t n, double* lo, double* hi);

}  // namespace coolfusion::eval
