// The samples file of `coolfusion eval` (--log-samples FILE, --resume FILE): JSON lines, a
// header holding the run's settings, then one line per finished (run, row), appended as each
// row finishes, so that a run killed after hours continues where it stopped.
//
//   {"coolfusion_eval_samples": 1, "settings": {...EvalSettings...}}
//   {"doc_id": 0, "run": "single a.gguf", "output": ..., "seconds": ..., "counters": ...}
//   ...
//
// A line is written with one write(2), so a kill leaves at most the last line cut short
// (no newline): --resume drops it and runs that row again.
#pragma once

#include <coolfusion/engine.h>

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "args.h"
#include "harness.h"

namespace coolfusion::cli {

// What decides an eval's results, keyed by the flags that set them: the coolfusion version;
// each model (the path as given, its size, a hash of its first, middle and last MiB, ctx=,
// weight=); --data and --train (path, size, a hash of the whole file); --task, --limit,
// --few-shot; `methods` and `scores` as eval runs them; and every generation setting (-n,
// sampling and its seed, --stop, the grammar's hash, scoring, the peer methods'). Where the
// work runs is not in it (-t, -ngl, --rpc, -fa, --no-mmap, --parallel-models): a run
// resumed on another machine continues. Errors: a file that cannot be read, named.
Status EvalSettings(const CommonArgs& a, const std::vector<std::string>& methods,
                    const std::vector<ScoreRule>& scores, nlohmann::json* out);

// The settings that differ between `was` (a file's header) and `now`, in one line, at most
// three named: `-n: 32 in the file, 16 now; -m 2 file: "a.gguf" in the file, "c.gguf" now`.
// "" when they are equal.
std::string SettingsDiff(const nlohmann::json& was, const nlohmann::json& now);

// One finished (run, row): all a resumed row needs to count as it did when it ran. The
// answer, whether it is right and the harness's filters are read again from `output`.
struct RowResult {
  std::string error;         // non-empty: the row failed (counted wrong; run again
                             // on --resume)
  std::string output;        // the generated text, any bytes
  int64_t new_tokens = 0;    // GenerationResult::n_new_tokens
  int64_t decode_calls = 0;  // Counters, as the run sums them
  int64_t tokens_decoded = 0;
  int64_t positions = 0;
  int64_t fused_positions = 0;
  int64_t sat_out = 0;
  nlohmann::json model_weights;  // fused runs: ModelReportsJson (null: single, or failed)
  double seconds = 0;            // wall time of its generation (multiple choice: its scoring)
  // Multiple choice (a line of ChoiceSampleLine): per choice {"nll": [...], "tokens": [...],
  // "nll_fused", "score"}, as ChoiceSampleLine writes them; null for generation. Its rows
  // carry no output, n_new_tokens, positions nor fused_positions.
  nlohmann::json choice_scores;
};

// What a line says about its row besides RowResult, for readers (lm-evaluation-harness's
// names: doc_id, prompt, target, filtered_resps, exact_match).
struct RowContext {
  size_t doc_id = 0;
  std::string where;   // "file:LINE"
  std::string run;     // the run's label
  std::string method;  // "single" for a model alone
  std::vector<std::string> models;
  std::string score;  // fused runs: the score rule; "" for a single model
  std::string prompt, target, predicted;
  bool correct = false;
  HarnessAnswers harness;
};

// A row's line: RowContext's fields, RowResult's ("output" in valid UTF-8, "output_hex"
// besides when it is not; "n_new_tokens", "counters", "seconds", "model_weights", "error").
nlohmann::json SampleLine(const RowContext& c, const RowResult& r);

// What a multiple-choice line says about its row besides RowResult.
struct ChoiceRowContext {
  size_t doc_id = 0;
  std::string where, run, method;
  std::vector<std::string> models;
  std::string score;  // fused runs: the score rule; "" for a single model
  std::string prompt;
  std::vector<std::string> choices;  // the answers as given (without the " " before each)
  int gold = 0;
  // The choice each metric picks (-1: none, the row failed), and whether it is the gold:
  // acc, acc_norm, acc_rule (the last for fused runs only).
  int picked[3] = {-1, -1, -1};
};

// A multiple-choice row's line (lm-evaluation-harness's names where it has them): doc_id,
// where, run, method, models, prompt, choices, "target" (the gold index), "scores" (per
// choice, RowResult::choice_scores), "predicted" {"acc", "acc_norm"[, "acc_rule"]} (indices),
// "acc", "acc_norm"[, "acc_rule"] (1 right, 0 wrong), counters {"decode_calls",
// "tokens_decoded", "sat_out"}, seconds; fused runs: score, model_weights; error.
nlohmann::json ChoiceSampleLine(const ChoiceRowContext& c, const RowResult& r);

// (RunKey, doc_id)
using RowKey = std::pair<std::string, size_t>;
// A run's label and model paths: two single runs of models with the same file name differ.
std::string RunKey(const std::string& label, const std::vector<std::string>& models);

// Reads a row's line back (either kind): its key and RowResult. False, with `why`, if it is
// not a row.
bool ReadSampleRow(const nlohmann::json& line, RowKey* key, RowResult* r, std::string* why);

// What --resume read: the rows that need not run again.
struct Resumed {
  std::map<RowKey, RowResult> rows;  // the last line of each (run, row) that did not fail
  size_t torn_bytes = 0;             // a last line cut short, dropped
  bool started = false;              // the file was empty: a new run began in it
};

// The open samples file. Not copyable; one per eval.
class SamplesFile {
 public:
  // Opens `path` (creating it) for writing and locks it, so that a second eval on the same
  // file is refused. `flag` ("--log-samples" or "--resume") names it in errors. Without
  // `resume` the file is emptied; with it nothing is changed until Start.
  static Status Open(const std::string& path, const std::string& flag, bool resume,
                     std::unique_ptr<SamplesFile>* out);
  ~SamplesFile();
  SamplesFile(const SamplesFile&) = delete;
  SamplesFile& operator=(const SamplesFile&) = delete;

  // A new run (no `resume`, or an empty file): writes the header. Resume: reads the file and
  // refuses one that is not a samples file, one whose header's settings differ from
  // `settings` (the error names what differs), or one with a line in the middle that is not
  // a row; then drops a torn last line and fills `*resumed`. The file is changed only when
  // nothing is refused. Appends follow.
  Status Start(const nlohmann::json& settings, Resumed* resumed);

  // Appends one line with one write. The file is synced at most once a second, and by Close.
  Status Append(const nlohmann::json& line);

  // Syncs and closes; errors name the file.
  Status Close();

 private:
  SamplesFile(int fd, std::string path, std::string flag, bool resume)
      : fd_(fd), path_(std::move(path)), flag_(std::move(flag)), resume_(resume) {}
  Status WriteAll(const std::string& bytes);
  Status Fail(const std::string& what) const;  // "FLAG: WHAT PATH: strerror"

  int fd_;
  std::string path_, flag_;
  bool resume_;
  int64_t last_sync_ms_ = 0;
};

}  // namespace coolfusion::cli
