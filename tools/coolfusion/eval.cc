// `coolfusion eval`: accuracy of each model alone and of each fusion method on a dataset,
// with 95% confidence intervals, a JSON report and an SVG chart. Multiple-choice tasks
// (eval/choice.h) are eval_choice.cc's.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "eval/choice.h"
#include "eval/dataset.h"
#include "eval/paired.h"
#include "eval_report.h"
#include "eval_samples.h"
#include "harness.h"
#include "output.h"

namespace coolfusion::cli {
namespace {

using nlohmann::json;

// --answer-prefix N: a space and the first N characters of the row's worked answer (" 1"
// of "19 - 14 = 5"), cut at a character's start; "" for N = 0.
std::string AnswerStart(const eval::Example& ex, int n) {
  if (n <= 0) return "";
  size_t cut = std::min(ex.answer.size(), (size_t)n);
  while (cut > 0 && cut < ex.answer.size() && (ex.answer[cut] & 0xC0) == 0x80) --cut;
  return " " + ex.answer.substr(0, cut);
}

// A planned run (eval_report.h's RunPlan: method, rule, models, label) and its results.
struct Run : RunPlan {
  size_t n = 0, correct = 0, errors = 0;
  double seconds = 0;          // summed over rows: each row's generation, when it ran (resumed rows
                               // keep the seconds their line in the samples file holds)
  std::vector<uint8_t> right;  // per row
  std::vector<std::string> answers;                 // per row: the extracted answer ("" if none)
  size_t sat_out = 0;                               // model-requests that sat out
  size_t strict_correct = 0, flexible_correct = 0;  // the harness's filters (harness.h)
  // Summed over rows (GenerationResult::n_new_tokens and Counters).
  int64_t new_tokens = 0, decode_calls = 0, tokens_decoded = 0, positions = 0, fused_positions = 0;
};

// The default that every run is compared with: Cool under `auto` (engine.h's defaults).
bool IsDefault(const Run& r) {
  return r.only_model < 0 && r.method == DefaultMethod() && r.score == ScoreRule::kAuto;
}

// What the single models' mistakes look like (issue 25), from the single runs alone (no
// fused run is used): with two or more singles, a block printed after the main table and
// the JSON object "singles_analysis"; with fewer, nothing (null).
//   oracle: rows that at least one single model gets right (the ceiling of any choice
//           among their answers).
//   vote:   per row, the answer most single models gave. Answers are the extracted ones
//           (eval::ExtractAnswer); two are the same answer when eval::AnswerMatches says so
//           (numbers compared as numbers, so "12" and "12.0" agree; text case-insensitively).
//           An empty answer (nothing extracted, or a failed row) casts no vote. Ties go to
//           the answer of the more accurate model (singles ranked by accuracy on these rows,
//           then by their order on the command line: the best single first); a row where
//           nobody answers is wrong.
//   mistake overlap, per pair of singles (a, b): a_wrong and b_wrong (rows each gets wrong),
//           both_wrong (rows both get wrong), either_wrong (rows at least one gets wrong),
//           jaccard = both_wrong / either_wrong (0: no shared mistake, 1: the same mistakes;
//           null when neither makes any), and independent_both_wrong = a_wrong * b_wrong / n,
//           the rows both would get wrong on average if their mistakes were independent
//           (both_wrong well above it: the mistakes go together).
// `best` is the index of the best single run in `runs`; `text` gets the printed block.
json AnalyzeSingles(const std::vector<Run>& runs, int best, eval::AnswerKind kind,
                    const std::vector<std::string>& gold, std::string* text) {
  std::vector<size_t> singles;
  for (size_t i = 0; i < runs.size(); ++i)
    if (runs[i].only_model >= 0) singles.push_back(i);
  text->clear();
  if (singles.size() < 2 || best < 0) return nullptr;
  const size_t n = gold.size();
  // Vote order: the more accurate first (stable: the command line's order on ties, so the
  // best single, the first of the most accurate, comes first).
  std::vector<size_t> ranked = singles;
  std::stable_sort(ranked.begin(), ranked.end(),
                   [&](size_t x, size_t y) { return runs[x].correct > runs[y].correct; });
  std::vector<uint8_t> oracle(n, 0), vote(n, 0);
  json vote_answers = json::array();
  for (size_t row = 0; row < n; ++row) {
    std::string chosen;
    int chosen_votes = 0;
    for (size_t c : ranked) {
      if (runs[c].right[row]) oracle[row] = 1;
      const std::string& cand = runs[c].answers[row];
      if (cand.empty()) continue;
      int votes = 0;
      for (size_t o : singles)
        votes +=
            !runs[o].answers[row].empty() && eval::AnswerMatches(kind, runs[o].answers[row], cand);
      if (votes > chosen_votes) chosen = cand, chosen_votes = votes;  // ties: the earlier
    }
    vote[row] = eval::AnswerMatches(kind, chosen, gold[row]);
    vote_answers.push_back(SafeUtf8(chosen));
  }
  const Run& b = runs[(size_t)best];
  auto summary = [&](const std::vector<uint8_t>& right, const char* only_name) {
    size_t correct = 0;
    for (uint8_t r : right) correct += r;
    double lo, hi;
    eval::Wilson95(correct, n, &lo, &hi);
    const eval::PairedDiff d = eval::CompareRuns(right, b.right);
    return json{{"correct", correct},
                {"n", n},
                {"accuracy", n ? (double)correct / (double)n : 0.0},
                {"ci95", {lo, hi}},
                {"vs_best_single",
                 {{"label", b.label},
                  {"diff", d.diff},
                  {"ci95", {d.lo, d.hi}},
                  {only_name, d.a_only},
                  {"single_only", d.b_only}}}};
  };
  json oj = summary(oracle, "oracle_only"), vj = summary(vote, "vote_only");
  vj["rule"] =
      "majority of the extracted answers (equal when AnswerMatches says so); empty answers do "
      "not vote; ties to the more accurate single model";
  vj["answers"] = std::move(vote_answers);
  json overlap = json::array();
  for (size_t x = 0; x < singles.size(); ++x) {
    for (size_t y = x + 1; y < singles.size(); ++y) {
      const Run &ra = runs[singles[x]], &rb = runs[singles[y]];
      size_t aw = 0, bw = 0, both = 0;
      for (size_t row = 0; row < n; ++row) {
        aw += !ra.right[row];
        bw += !rb.right[row];
        both += !ra.right[row] && !rb.right[row];
      }
      const size_t either = aw + bw - both;
      overlap.push_back(
          {{"a", ra.label},
           {"b", rb.label},
           {"a_wrong", aw},
           {"b_wrong", bw},
           {"both_wrong", both},
           {"either_wrong", either},
           {"independent_both_wrong", n ? (double)aw * (double)bw / (double)n : 0.0},
           {"jaccard", either ? json((double)both / (double)either) : json(nullptr)}});
    }
  }
  // The printed block.
  char line[256];
  std::string& t = *text;
  std::snprintf(line, sizeof line,
                "\nSingle models: what their mistakes look like (%zu models, %zu rows; from the "
                "single runs; best single: %s)\n",
                singles.size(), n, b.label.c_str());
  t += line;
  auto print = [&](const char* name, const json& j, const char* what) {
    const json& d = j["vs_best_single"];
    std::snprintf(line, sizeof line,
                  "  %-7s %5.1f%%  [%.1f, %.1f]  vs best single %+.1f [%+.1f, %+.1f]  (%s)\n", name,
                  100 * j["accuracy"].get<double>(), 100 * j["ci95"][0].get<double>(),
                  100 * j["ci95"][1].get<double>(), 100 * d["diff"].get<double>(),
                  100 * d["ci95"][0].get<double>(), 100 * d["ci95"][1].get<double>(), what);
    t += line;
  };
  print("oracle", oj, "rows any single model gets right");
  print("vote", vj, "majority answer, ties to the more accurate model");
  t += "  mistake overlap: both = rows both get wrong, indep = rows both would get wrong if their\n"
       "  mistakes were independent (a wrong x b wrong / n), jaccard = both / rows either gets "
       "wrong\n";
  std::snprintf(line, sizeof line, "  %-30s %-30s %7s %7s %6s %7s %7s\n", "a", "b", "a wrong",
                "b wrong", "both", "indep", "jaccard");
  t += line;
  for (const json& o : overlap) {
    char jac[16] = "-";
    if (!o["jaccard"].is_null()) std::snprintf(jac, sizeof jac, "%.2f", o["jaccard"].get<double>());
    std::snprintf(line, sizeof line, "  %-30s %-30s %7zu %7zu %6zu %7.1f %7s\n",
                  o["a"].get<std::string>().c_str(), o["b"].get<std::string>().c_str(),
                  o["a_wrong"].get<size_t>(), o["b_wrong"].get<size_t>(),
                  o["both_wrong"].get<size_t>(), o["independent_both_wrong"].get<double>(), jac);
    t += line;
  }
  std::vector<std::string> labels;
  for (size_t i : singles) labels.push_back(runs[i].label);
  return {{"singles", labels},       {"best_single", b.label}, {"n", n},
          {"oracle", std::move(oj)}, {"vote", std::move(vj)},  {"mistake_overlap", overlap}};
}

// One row of `run`, generated now (each row stands alone: a fresh request, no prompt cache).
RowResult GenerateRow(Ensemble& ens, const GenerateOptions& gen, const Run& run,
                      const std::string& prompt) {
  const bool fused = run.only_model < 0;
  Request req;
  req.prompt = prompt;
  req.options = RunOptions(gen, run);
  req.options.stop.push_back("\nQuestion:");
  GenerationResult res;
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = ens.Generate(req, nullptr, &res);
  RowResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.sat_out = fused ? res.counters.sat_out : 0;
  if (!st.ok()) {
    r.error = st.message();
    return r;
  }
  r.output = res.text;
  r.new_tokens = res.n_new_tokens;
  r.decode_calls = res.counters.decode_calls;
  r.tokens_decoded = res.counters.tokens_decoded;
  r.positions = res.counters.positions;
  r.fused_positions = res.counters.fused_positions;
  if (fused) r.model_weights = ModelReportsJson(res.models);
  return r;
}

// eval --parallel N: the rows of a run generated N at a time, each on a lane of its own
// (Ensemble::OpenLanes: their decodes batched), and taken in order. Each row is generated
// as it would be alone (a fresh request, no prompt cache), so the results are the rows'
// results one at a time.
class RowsAhead {
 public:
  RowsAhead(const std::vector<std::unique_ptr<Ensemble>>& lanes, size_t n,
            std::function<bool(size_t)> skip, std::function<RowResult(Ensemble&, size_t)> gen)
      : rows_(n), ready_(n, 0) {
    for (size_t k = 0; k < lanes.size(); ++k) {
      threads_.emplace_back([this, &lanes, k, n, skip, gen] {
        for (size_t i; (i = next_++) < n && !stop_;) {
          RowResult r = skip(i) ? RowResult() : gen(*lanes[k], i);
          std::lock_guard<std::mutex> l(mu_);
          rows_[i] = std::move(r);
          ready_[i] = 1;
          cv_.notify_all();
        }
      });
    }
  }
  ~RowsAhead() {
    stop_ = true;
    for (auto& t : threads_) t.join();
  }
  RowsAhead(const RowsAhead&) = delete;
  RowsAhead& operator=(const RowsAhead&) = delete;
  // Row i's result, once generated.
  RowResult Take(size_t i) {
    std::unique_lock<std::mutex> l(mu_);
    cv_.wait(l, [&] { return ready_[i] != 0; });
    return std::move(rows_[i]);
  }

 private:
  std::vector<RowResult> rows_;
  std::vector<char> ready_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<size_t> next_{0};
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
};

}  // namespace

int CmdEval(const CommonArgs& args) {
  if (eval::IsChoiceTask(args.task)) {
    if (!args.prompt_suffix.empty() || args.answer_prefix > 0)
      return Fail(Status::InvalidArgument(
          std::string(args.prompt_suffix.empty() ? "--answer-prefix" : "--prompt-suffix") +
          " is for generation tasks, not --task " + args.task));
    if (args.parallel > 1)
      return Fail(Status::InvalidArgument("--parallel is for generation tasks; --task " +
                                          args.task +
                                          " scores its choices one "
                                          "row at a time"));
    return CmdEvalChoice(args);
  }
  // Each row stands alone, as it would on a fresh process (no prompt cache across rows).
  CommonArgs a = args;
  a.gen.cache_prompt = false;
  if (a.models.empty())
    return Fail(Status::InvalidArgument("no model given (use -m FILE, repeatable)"));
  if (a.data.empty()) return Fail(Status::InvalidArgument("no dataset given (use --data FILE)"));
  if (a.few_shot > 0 && a.train.empty())
    return Fail(Status::InvalidArgument("--few-shot needs --train FILE to take the examples from"));
  // The samples file (--log-samples, or --resume's, which goes on writing the file it
  // reads): opened before anything is read or run, so that a bad path costs nothing.
  std::unique_ptr<SamplesFile> samples;
  if (Status so = OpenSamples(a, &samples); !so.ok()) return Fail(so);

  eval::Task task;
  Status st = eval::FindTask(a.task, &task);
  if (!st.ok()) return Fail(st);
  eval::Dataset data, train;
  if (!(st = eval::LoadDataset(task, a.data, &data)).ok()) return Fail(st);
  std::vector<eval::Example> shots;
  if (a.few_shot > 0) {
    if (!(st = eval::LoadDataset(task, a.train, &train)).ok()) return Fail(st);
    if (train.examples.size() < (size_t)a.few_shot)
      return Fail(
          Status::InvalidArgument(a.train + " has " + std::to_string(train.examples.size()) +
                                  " rows, fewer than --few-shot " + std::to_string(a.few_shot)));
    shots.assign(train.examples.begin(), train.examples.begin() + a.few_shot);
  }
  std::vector<std::string> methods =
      a.methods.empty() ? std::vector<std::string>{SingleModelMethod(), DefaultMethod()}
                        : a.methods;
  std::vector<ScoreRule> scores =
      a.scores.empty() ? std::vector<ScoreRule>{a.gen.scoring.rule} : a.scores;
  // A new samples file gets its header; a resumed one is checked against these settings
  // before any model is loaded.
  Resumed resumed;
  if (samples) {
    nlohmann::json settings;
    if (!(st = EvalSettings(a, methods, scores, &settings)).ok()) return Fail(st);
    if (!(st = samples->Start(settings, &resumed)).ok()) return Fail(st);
  }

  const size_t total_rows = data.examples.size();
  if (a.limit > 0 && (size_t)a.limit < data.examples.size()) data.examples.resize((size_t)a.limit);
  PrintRowsLine(data.examples.size(), total_rows, a.data, task.name, "", a.few_shot,
                data.blank_lines);

  // --parallel N: N lanes over one load of the models, rows N at a time.
  std::vector<std::unique_ptr<Ensemble>> lanes;
  if (!(st = OpenLanes(a.models, false, a.parallel, &lanes)).ok()) return Fail(st);
  Ensemble* ens = lanes[0].get();
  std::vector<Run> runs;
  for (const RunPlan& p : PlanRuns(a.models, methods, scores)) {
    static_cast<RunPlan&>(runs.emplace_back()) = p;
  }

  // Options every row would refuse (a --gate out of range, a method that cannot honour a
  // grammar) are one error before anything runs, not a table of failed rows.
  for (const Run& run : runs) {
    Request req;
    req.prompt = "Question: 1\nAnswer:";
    req.options = RunOptions(a.gen, run);
    if (!(st = ens->Validate(req)).ok()) return Fail(st);
  }

  ReportResumed(a, resumed, runs.size() * data.examples.size());

  json predictions = json::array();
  Progress progress(runs.size() * data.examples.size(), resumed.rows.size());
  size_t done = 0;
  std::string first_error;
  for (Run& run : runs) {
    const bool fused = run.only_model < 0;
    const std::string method = MethodName(fused ? run.method : SingleModelMethod());
    const auto prompt_of = [&](size_t i) {
      return eval::BuildPrompt(data.examples[i], shots) + a.prompt_suffix +
             AnswerStart(data.examples[i], a.answer_prefix);
    };
    const auto resumed_row = [&](size_t i) {
      return resumed.rows.count({RunKey(run.label, run.models), i}) != 0;
    };
    std::unique_ptr<RowsAhead> ahead;
    if (lanes.size() > 1) {
      const Run plan = run;  // the workers' copy: the loop below adds up `run`
      ahead = std::make_unique<RowsAhead>(
          lanes, data.examples.size(), resumed_row,
          [&, plan](Ensemble& e, size_t i) { return GenerateRow(e, a.gen, plan, prompt_of(i)); });
    }
    for (size_t i = 0; i < data.examples.size(); ++i) {
      const eval::Example& ex = data.examples[i];
      RowContext c;
      c.doc_id = i;
      c.where = ex.where;
      c.run = run.label;
      c.method = method;
      c.models = run.models;
      c.score = fused ? ScoreRuleName(run.score) : "";
      c.prompt = prompt_of(i);
      c.target = ex.gold;
      // A row the samples file holds counts as it did when it ran; any other runs now.
      const auto found = resumed.rows.find({RunKey(run.label, run.models), i});
      const bool ran_before = found != resumed.rows.end();
      const RowResult r = ran_before ? std::move(found->second)
                          : ahead    ? ahead->Take(i)
                                     : GenerateRow(*ens, a.gen, run, c.prompt);
      const bool ok = r.error.empty();
      if (ok) {
        // With --answer-prefix the answer started in the prompt: it is read whole.
        const std::string answer = AnswerStart(ex, a.answer_prefix) + r.output;
        c.predicted = eval::ExtractAnswer(task.kind, answer);
        c.correct = eval::AnswerMatches(task.kind, c.predicted, ex.gold);
        c.harness = HarnessExtract(task.kind, answer, ex.gold);
      }
      json p = {{"index", i},           {"where", ex.where},
                {"run", run.label},     {"method", MethodName(run.method)},
                {"models", run.models}, {"gold", ex.gold}};
      if (fused) {
        p["score"] = ScoreRuleName(run.score);
        if (ok) p["model_weights"] = r.model_weights;
        run.sat_out += (size_t)r.sat_out;
      }
      if (!ok) {
        ++run.errors;
        if (first_error.empty()) first_error = ex.where + ": " + r.error;
        p["error"] = SafeUtf8(r.error);
      } else {
        p["output"] = SafeUtf8(r.output);
        run.new_tokens += r.new_tokens;
        run.decode_calls += r.decode_calls;
        run.tokens_decoded += r.tokens_decoded;
        run.positions += r.positions;
        run.fused_positions += r.fused_positions;
      }
      p["predicted"] = SafeUtf8(c.predicted);
      p["correct"] = c.correct;
      if (samples && !ran_before && !(st = samples->Append(SampleLine(c, r))).ok()) return Fail(st);
      predictions.push_back(std::move(p));
      ++run.n;
      run.correct += c.correct;
      run.strict_correct += c.harness.strict_correct;
      run.flexible_correct += c.harness.flexible_correct;
      run.seconds += r.seconds;
      run.right.push_back(c.correct);
      run.answers.push_back(c.predicted);
      ++done;
      if (!ran_before) progress.Update(done, run.label);
    }
  }
  if (samples && !(st = samples->Close()).ok()) return Fail(st);

  // The best single model on these rows (first on ties): each fused run's paired baseline.
  int best_single = -1, reference = -1;
  for (size_t i = 0; i < runs.size(); ++i) {
    if (runs[i].only_model >= 0 &&
        (best_single < 0 || runs[i].correct > runs[(size_t)best_single].correct))
      best_single = (int)i;
    if (reference < 0 && IsDefault(runs[i])) reference = (int)i;
  }
  std::printf("\n%-44s %6s %9s  %-15s %-24s %-24s %8s %6s %8s\n", "run", "n", "accuracy", "95% CI",
              best_single >= 0 ? "vs best single (95% CI)" : "",
              reference >= 0 ? "vs default (95% CI)" : "", "tok/s", "fused%", "s/row");
  json results = json::array();
  for (size_t ri = 0; ri < runs.size(); ++ri) {
    const Run& r = runs[ri];
    double lo, hi;
    eval::Wilson95(r.correct, r.n, &lo, &hi);
    const double acc = r.n ? (double)r.correct / (double)r.n : 0;
    const double tok_s = r.seconds > 0 ? (double)r.new_tokens / r.seconds : 0;
    char ci[32];
    std::snprintf(ci, sizeof ci, "[%.1f, %.1f]", 100 * lo, 100 * hi);
    char vs[64] = "", vd[64] = "", fused[16] = "";
    json row = {
        {"method", MethodName(r.method)},
        {"label", r.label},
        {"models", r.models},
        {"n", r.n},
        {"correct", r.correct},
        {"accuracy", acc},
        {"ci95", {lo, hi}},
        {"errors", r.errors},
        {"seconds", r.seconds},
        {"tokens_per_s", tok_s},
        {"counters",
         {{"decode_calls", r.decode_calls},
          {"tokens_decoded", r.tokens_decoded},
          {"new_tokens", r.new_tokens},
          {"positions", r.positions},
          {"fused_positions", r.fused_positions}}},
        {"fused_share",
         r.positions > 0 ? json((double)r.fused_positions / (double)r.positions) : json(nullptr)}};
    if (r.positions > 0)
      std::snprintf(fused, sizeof fused, "%.1f",
                    100.0 * (double)r.fused_positions / (double)r.positions);
    // lm-evaluation-harness's names (harness.h says which regexes).
    const double n = (double)r.n;
    row["exact_match,strict-match"] = r.n ? (double)r.strict_correct / n : 0.0;
    row["exact_match_stderr,strict-match"] =
        r.n >= 2 ? json(HarnessStderr(r.strict_correct, r.n)) : json(nullptr);
    row["exact_match,flexible-extract"] = r.n ? (double)r.flexible_correct / n : 0.0;
    row["exact_match_stderr,flexible-extract"] =
        r.n >= 2 ? json(HarnessStderr(r.flexible_correct, r.n)) : json(nullptr);
    if (r.only_model < 0) {
      row["score"] = ScoreRuleName(r.score);
      row["sat_out"] = r.sat_out;
      if (best_single >= 0) {
        const Run& b = runs[(size_t)best_single];
        const eval::PairedDiff d = eval::CompareRuns(r.right, b.right);
        std::snprintf(vs, sizeof vs, "%+.1f [%+.1f, %+.1f]", 100 * d.diff, 100 * d.lo, 100 * d.hi);
        row["vs_best_single"] = {{"label", b.label},
                                 {"diff", d.diff},
                                 {"ci95", {d.lo, d.hi}},
                                 {"fused_only", d.a_only},
                                 {"single_only", d.b_only}};
      }
    }
    if ((int)ri == reference) {
      std::snprintf(vd, sizeof vd, "(the default)");
      row["default"] = true;
      if (r.added_as_reference) row["added_as_reference"] = true;
    } else if (reference >= 0) {
      const Run& b = runs[(size_t)reference];
      const eval::PairedDiff d = eval::CompareRuns(r.right, b.right);
      std::snprintf(vd, sizeof vd, "%+.1f [%+.1f, %+.1f]", 100 * d.diff, 100 * d.lo, 100 * d.hi);
      row["vs_default"] = {{"label", b.label},
                           {"diff", d.diff},
                           {"ci95", {d.lo, d.hi}},
                           {"run_only", d.a_only},
                           {"default_only", d.b_only}};
    }
    std::printf("%-44s %6zu %8.1f%%  %-15s %-24s %-24s %8.1f %6s %8.3f%s\n", r.label.c_str(), r.n,
                100 * acc, ci, vs, vd, tok_s, fused, r.n ? r.seconds / (double)r.n : 0.0,
                r.errors ? ("  (" + std::to_string(r.errors) + " errors)").c_str() : "");
    results.push_back(std::move(row));
  }
  // Every two fused runs, compared on the same rows.
  json pairwise = json::array();
  for (size_t i = 0; i < runs.size(); ++i) {
    for (size_t j = i + 1; j < runs.size(); ++j) {
      if (runs[i].only_model >= 0 || runs[j].only_model >= 0) continue;
      const eval::PairedDiff d = eval::CompareRuns(runs[i].right, runs[j].right);
      pairwise.push_back({{"a", runs[i].label},
                          {"b", runs[j].label},
                          {"diff", d.diff},
                          {"ci95", {d.lo, d.hi}},
                          {"a_only", d.a_only},
                          {"b_only", d.b_only}});
    }
  }
  std::vector<std::string> golds;
  for (const eval::Example& ex : data.examples) golds.push_back(ex.gold);
  std::string singles_text;
  json singles_analysis = AnalyzeSingles(runs, best_single, task.kind, golds, &singles_text);
  std::fputs(singles_text.c_str(), stdout);
  if (!first_error.empty())
    std::fprintf(stderr, "warning: some rows failed (counted as wrong), first: %s\n",
                 first_error.c_str());
  if (!a.json_out.empty()) {
    json doc = {{"data", a.data},
                {"task", task.name},
                {"few_shot", a.few_shot},
                {"n_rows", data.examples.size()},
                {"default", reference >= 0 ? json(runs[(size_t)reference].label) : json(nullptr)},
                {"harness_filters", HarnessFiltersJson()},
                {"results", results},
                {"pairwise", pairwise},
                {"singles_analysis", singles_analysis},
                {"predictions", predictions}};
    if (!(st = WriteText(a.json_out, doc.dump(1) + "\n")).ok()) return Fail(st);
  }
  if (!a.svg_out.empty()) {
    const std::string title = "Accuracy on " + Basename(a.data) + " (" +
                              std::to_string(data.examples.size()) + " rows, " +
                              std::to_string(a.few_shot) + "-shot), 95% CI";
    std::vector<Bar> bars;
    for (const Run& r : runs)
      bars.push_back({r.label, r.correct, r.n, r.only_model < 0 && r.models.size() > 1});
    if (!(st = WriteText(a.svg_out, Chart(bars, title))).ok()) return Fail(st);
  }
  return 0;
}

}  // namespace coolfusion::cli
