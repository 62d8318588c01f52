// Multiple-choice datasets for `coolfusion eval`: each row is a prompt and the answers to
// score after it (lm-evaluation-harness's `multiple_choice` tasks), read from jsonl.
//
// Tasks (--task) and the layouts each reads, one row a line:
//   choice     any layout below, told apart by each row's keys
//   arc        the two ARC layouts only
//   hellaswag  the HellaSwag layout only
// Layouts:
//   generic    {"question": str, "choices": [str, ...], "answer": A}, A a JSON integer (the
//              index from 0), a string equal to one choice's text, or a letter "A", "B", ...
//              (the index in the alphabet); a string that is a choice's text and a letter
//              naming another choice is refused as ambiguous
//   ARC        {"question": {"stem": str, "choices": [{"text", "label"}, ...]},
//               "answerKey": label}                                    (AI2's files)
//   ARC (HF)   {"question": str, "choices": {"text": [...], "label": [...]},
//               "answerKey": label}                                    (Hugging Face)
//   HellaSwag  {"ctx": str, "endings": [str, ...], "label": int | "2"}; with
//              "activity_label", "ctx_a" and "ctx_b" the prompt is built from those
// Prompts and continuations, as lm-evaluation-harness writes them (its
// lm_eval/tasks/arc/arc_easy.yaml and lm_eval/tasks/hellaswag/{hellaswag.yaml,utils.py}):
//   generic, ARC  prompt "Question: {question}\nAnswer:", continuation " {choice}"
//   HellaSwag     prompt preprocess(activity_label + ": " + ctx_a + " " + capitalize(ctx_b))
//                 (or preprocess(ctx) when those fields are absent), continuation
//                 " " + preprocess(ending); preprocess strips the text, turns " [title]" into
//                 ". ", removes every "[...]" and replaces each "  " with " " (one pass);
//                 capitalize upper-cases the first character and lower-cases the rest
// Few-shot: each shot is its prompt, " ", its right choice and "\n\n" (the harness's
// target_delimiter and fewshot_delimiter), before the row's prompt.
//
// A reader never drops a row silently: a malformed row is an error naming its line
// ("file:LINE: ..."), and so are fewer than two choices, an empty choice, two equal
// choices, and a gold answer that names no choice. Blank lines are counted.
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace coolfusion::eval {

struct ChoiceExample {
  std::string prompt;                // the row's own prompt (no shots)
  std::vector<std::string> choices;  // the answers as given (HellaSwag: preprocessed)
  int gold = 0;                      // the index of the right one
  std::string where;                 // "file:LINE"
};

struct ChoiceDataset {
  std::vector<ChoiceExample> examples;
  size_t blank_lines = 0;
};

// Whether `task` names a multiple-choice task (choice, arc, hellaswag).
bool IsChoiceTask(std::string_view task);
// "choice, arc, hellaswag", for help and errors.
const char* ChoiceTaskList();

// Parses a whole jsonl file's content under `task` (REQUIRES: IsChoiceTask(task)).
// `source` names the file in messages. An empty dataset is an error.
Status ParseChoiceDataset(std::string_view task, std::string_view content,
                          const std::string& source, ChoiceDataset* out);
// Reads `path` and parses it.
Status LoadChoiceDataset(std::string_view task, const std::string& path, ChoiceDataset* out);

// The text a choice is scored as: the harness's target_delimiter " " and the choice.
std::string ChoiceContinuation(const std::string& choice);

// The prompt for `ex` after `shots`: each shot's prompt + " " + its right choice + "\n\n",
// then ex.prompt.
std::string BuildChoicePrompt(const ChoiceExample& ex, const std::vector<ChoiceExample>& shots);

// The index of the lowest value; ties go to the lowest index (as numpy's argmax of the
// harness's log-likelihoods); NaN counts as worse than any number. -1 when `v` is empty.
int ArgMin(const std::vector<double>& v);

// len(s) as Python counts a str: Unicode code points (for ASCII, its bytes). The harness's
// acc_norm divides a choice's log-likelihood by this length of the choice (without the
// delimiter). REQUIRES: s is valid UTF-8.
size_t CodePoints(std::string_view s);

// The harness's HellaSwag preprocess (above); exposed for tests.
std::string HellaswagPreprocess(std::string_view text);

}  // namespace coolfusion::eval
