// What both kinds of `coolfusion eval` (generation, multiple choice) share: the runs the
// methods and rules ask for, the line saying which rows run, the progress line on stderr,
// the SVG bar chart, writing a report file, and opening the samples file that
// --log-samples and --resume name.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/status.h>

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "eval_samples.h"

namespace coolfusion::cli {

// The file name of a path ("models/a.gguf" -> "a.gguf").
std::string Basename(const std::string& path);

// One run of eval: a model alone (only_model >= 0) or the ensemble under a method and a
// scoring rule.
struct RunPlan {
  std::string method;
  ScoreRule score = ScoreRule::kAuto;
  int only_model = -1;
  std::vector<std::string> models;  // the files taking part
  std::string label;
  bool added_as_reference = false;  // the default, run because the list did not name it
};
// The runs, in order: for the single-model method each model alone; for any other method
// one run per rule, labelled "METHOD (RULE)" where the rule needs naming (several rules, or
// one other than auto). Every run is compared with the default (cool under auto) on the
// same rows: when there is a fused run and the list does not name the default, it runs
// too, before the first fused run.
std::vector<RunPlan> PlanRuns(const std::vector<ModelOptions>& models,
                              const std::vector<std::string>& methods,
                              const std::vector<ScoreRule>& scores);
// A generation request's options for `run`: the command's, with the run's method, model
// and rule. The default added as the reference keeps its own gate (a --gate asked for the
// methods listed does not move the reference they are compared with).
GenerateOptions RunOptions(const GenerateOptions& gen, const RunPlan& run);

// The line on stderr that says which rows run: "eval: N of M rows of FILE (task T, KIND
// K-shot)[, B blank lines skipped]"; `kind` is "" or ends in ", ".
void PrintRowsLine(size_t rows, size_t total_rows, const std::string& file, const std::string& task,
                   const char* kind, int few_shot, size_t blank_lines);

// A progress bar with ETA on stderr: redrawn in place on a terminal; otherwise (a log, a
// pipe) a line each time another 10% of the work is done, at most 10 lines, no \r. Rows
// resumed from a samples file count as done from the start; the ETA is read from the rows
// this process ran.
class Progress {
 public:
  Progress(size_t total, size_t resumed);
  void Update(size_t done, const std::string& what);

 private:
  using Clock = std::chrono::steady_clock;
  static constexpr int kStep = 10;  // percent of the work between two lines off a terminal
  size_t total_, resumed_;
  bool tty_;
  Clock::time_point start_;
  int next_pct_;  // off a terminal: the next line's percent (none at the resumed share)
};

// One bar of the chart: `correct` of `n`, drawn darker when `fused`.
struct Bar {
  std::string label;
  size_t correct = 0, n = 0;
  bool fused = false;
};
// Horizontal bars (accuracy) with 95% Wilson CI whiskers, one per bar, as SVG.
std::string Chart(const std::vector<Bar>& bars, const std::string& title);

// Writes `text` to `path`; errors name the file.
Status WriteText(const std::string& path, const std::string& text);

// Opens the samples file of --log-samples or --resume (none: *out stays empty), before
// anything is read or run, so that a bad path costs nothing. Refuses --log-samples naming
// another file beside --resume.
Status OpenSamples(const CommonArgs& a, std::unique_ptr<SamplesFile>* out);

// Says on stderr what --resume found (nothing when there is no --resume).
void ReportResumed(const CommonArgs& a, const Resumed& resumed, size_t total_rows);

}  // namespace coolfusion::cli
