// lm-evaluation-harness's conventions for `coolfusion eval --json` and --log-samples: its
// gsm8k task's two answer filters, its exact_match comparison and its standard error, so
// that numbers from here sit beside the harness's under the same names.
#pragma once

#include <cstddef>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "eval/dataset.h"

namespace coolfusion::cli {

// What the harness's filters read in one output, and whether each matches the gold.
struct HarnessAnswers {
  std::string strict;    // "strict-match": "[invalid]" when its regex finds nothing
  std::string flexible;  // "flexible-extract": likewise
  bool strict_correct = false;
  bool flexible_correct = false;
};

// The harness's gsm8k filters (lm_eval/tasks/gsm8k/gsm8k.yaml):
//   strict-match      regex  #### (\-?[0-9\.\,]+)            the first match's group
//   flexible-extract  regex  (-?[$0-9.,]{2,})|(-?[0-9]+)     the last match, its first
//                                                             non-empty group
// each result stripped of surrounding whitespace, "[invalid]" when nothing matches. These
// apply where the gold is a number. Where it is not (facts3's words, letters, yes/no,
// last_letters), the numeric regexes could never match, so the word analogues are used:
//   strict-match      regex  #### (\S+)                      the first match's group
//   flexible-extract  the project's own extraction (eval::ExtractAnswer: the answer after
//                     "####", else the kind's last number / first letter A-E / yes-no / word)
// exact_match then compares as the harness does: on both prediction and gold the regexes
// ",", "\$", "(?s).*#### " and "\.$" are removed in that order, case is ignored, and the
// strings must be equal.
HarnessAnswers HarnessExtract(eval::AnswerKind kind, std::string_view output,
                              const std::string& gold);

// The filters above as data, for --json's "harness_filters".
nlohmann::json HarnessFiltersJson();

// The harness's mean_stderr of a 0/1 metric: the sample standard deviation over sqrt(n),
// sqrt(p (1 - p) / (n - 1)). REQUIRES: n >= 2 (the harness divides by n - 1).
double HarnessStderr(size_t correct, size_t n);

}  // namespace coolfusion::cli
