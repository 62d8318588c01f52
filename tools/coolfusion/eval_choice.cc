// `coolfusion eval` on a multiple-choice task (eval/choice.h): every row's choices scored by
// each model alone and fused (Ensemble::Score, one call per row and run), and three
// accuracies per run:
//   acc       the choice of the lowest total negative log-likelihood: a single model's nll,
//             a fused run's nll_fused (the models' nll averaged with the run's weights, over
//             the models taking part), as lm-evaluation-harness's acc
//   acc_norm  the same divided by the choice's length in characters (Python's len of the
//             choice, without the " " before it), as the harness's acc_norm
//   acc_rule  fused runs: the lowest fused score under the run's rule, the engine's own
//             choice among candidates
// Ties go to the lowest index (eval::ArgMin). Each accuracy has its Wilson interval and its
// paired differences to the best single model and to the default, as for generation.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/json_number.h"
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

enum Metric { kAcc = 0, kAccNorm = 1, kAccRule = 2, kMetrics = 3 };
constexpr const char* kMetricName[kMetrics] = {"acc", "acc_norm", "acc_rule"};
constexpr const char* kMetricWhat[kMetrics] = {
    "the choice of the lowest total negative log-likelihood (fused: the models' weighted mean)",
    "the lowest negative log-likelihood per character of the choice",
    "fused runs: the lowest fused score under the run's rule (the engine's candidate choice)"};

// A planned run (eval_report.h's RunPlan; its method is the default's or the single
// model's) and its results.
struct ChoiceRun : RunPlan {
  size_t n = 0, errors = 0, sat_out = 0;
  double seconds = 0;  // summed over rows (resumed rows: the seconds their line holds)
  int64_t decode_calls = 0, tokens_decoded = 0;
  std::vector<uint8_t> right[kMetrics];  // per metric, per row

  bool fused() const { return only_model < 0; }
  size_t correct(int m) const {
    size_t c = 0;
    for (uint8_t x : right[m]) c += x;
    return c;
  }
};

// The default: the fused score under `auto` (engine.h's defaults).
bool IsDefault(const ChoiceRun& r) { return r.fused() && r.score == ScoreRule::kAuto; }

double Num(const json& j) {
  return j.is_number() ? j.get<double>() : std::numeric_limits<double>::quiet_NaN();
}

// One row of `run`, scored now (each row stands alone: a fresh request, no prompt cache).
// Singles keep their own model's nll and tokens; fused runs every model's (null where a
// model did not take part).
RowResult ScoreRow(Ensemble& ens, const GenerateOptions& gen, const ChoiceRun& run,
                   const std::string& prompt, const std::vector<std::string>& choices) {
  Request req;
  req.prompt = prompt;
  req.options = gen;
  req.options.method = run.fused() ? DefaultMethod() : SingleModelMethod();
  req.options.only_model = run.only_model;
  req.options.scoring.rule = run.score;
  std::vector<std::string> continuations;
  for (const std::string& c : choices) continuations.push_back(eval::ChoiceContinuation(c));
  ScoreResult res;
  const auto t0 = std::chrono::steady_clock::now();
  const Status st = ens.Score(req, continuations, &res);
  RowResult r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (!st.ok()) {
    r.error = st.message();
    return r;
  }
  r.decode_calls = res.counters.decode_calls;
  r.tokens_decoded = res.counters.tokens_decoded;
  if (run.fused()) {
    r.sat_out = res.counters.sat_out;
    r.model_weights = ModelReportsJson(res.models);
  }
  r.choice_scores = json::array();
  for (const ContinuationScore& cs : res.continuations) {
    json nll = json::array(), tokens = json::array();
    for (size_t i = 0; i < cs.nll.size(); ++i) {
      if (!run.fused() && (int)i != run.only_model) continue;
      nll.push_back(JsonNumber(cs.nll[i]));
      tokens.push_back(cs.tokens[i]);
    }
    r.choice_scores.push_back({{"nll", nll},
                               {"tokens", tokens},
                               {"nll_fused", JsonNumber(cs.nll_fused)},
                               {"score", JsonNumber(cs.score)}});
  }
  return r;
}

// The choice each metric picks in a row's scores (as ScoreRow writes them, fresh or read
// back from a samples file alike). False when the scores do not fit the row's choices.
bool Pick(const json& scores, const std::vector<std::string>& choices, bool fused,
          int picked[kMetrics]) {
  if (!scores.is_array() || scores.size() != choices.size()) return false;
  std::vector<double> total, per_char, rule;
  for (size_t c = 0; c < choices.size(); ++c) {
    const json& s = scores[c];
    if (!s.is_object() || !s.contains("nll") || !s["nll"].is_array() || s["nll"].empty())
      return false;
    const double nll = fused ? Num(s.value("nll_fused", json())) : Num(s["nll"][0]);
    total.push_back(nll);
    per_char.push_back(nll / (double)eval::CodePoints(choices[c]));
    rule.push_back(Num(s.value("score", json())));
  }
  picked[kAcc] = eval::ArgMin(total);
  picked[kAccNorm] = eval::ArgMin(per_char);
  picked[kAccRule] = fused ? eval::ArgMin(rule) : -1;
  return true;
}

json Paired(const eval::PairedDiff& d, const std::string& label, const char* a_only,
            const char* b_only) {
  return {{"label", label},
          {"diff", d.diff},
          {"ci95", {d.lo, d.hi}},
          {a_only, d.a_only},
          {b_only, d.b_only}};
}

// The best single run by metric m (acc_rule: by acc, singles have none); -1 without singles.
int BestSingle(const std::vector<ChoiceRun>& runs, int m) {
  const int by = m == kAccRule ? kAcc : m;
  int best = -1;
  for (size_t i = 0; i < runs.size(); ++i)
    if (!runs[i].fused() && (best < 0 || runs[i].correct(by) > runs[(size_t)best].correct(by)))
      best = (int)i;
  return best;
}

// Prints metric m's table and fills each run's JSON object for it.
void Report(const std::vector<ChoiceRun>& runs, int m, int reference, std::vector<json>* rows) {
  const int best = BestSingle(runs, m);
  std::printf("\n%s: %s\n", kMetricName[m], kMetricWhat[m]);
  std::printf("%-44s %6s %9s  %-15s %-26s %-24s%s\n", "run", "n", "accuracy", "95% CI",
              best >= 0 ? (m == kAccRule ? "vs best single's acc" : "vs best single (95% CI)") : "",
              reference >= 0 ? "vs default (95% CI)" : "", m == kAcc ? " s/row" : "");
  for (size_t ri = 0; ri < runs.size(); ++ri) {
    const ChoiceRun& r = runs[ri];
    if (m == kAccRule && !r.fused()) continue;
    const size_t correct = r.correct(m);
    double lo, hi;
    eval::Wilson95(correct, r.n, &lo, &hi);
    const double acc = r.n ? (double)correct / (double)r.n : 0;
    json j = {{"correct", correct}, {"n", r.n}, {"accuracy", acc}, {"ci95", {lo, hi}}};
    char ci[32], vs[64] = "", vd[64] = "", per_row[32] = "";
    std::snprintf(ci, sizeof ci, "[%.1f, %.1f]", 100 * lo, 100 * hi);
    if (r.fused() && best >= 0) {
      const ChoiceRun& b = runs[(size_t)best];
      const eval::PairedDiff d = eval::CompareRuns(r.right[m], b.right[m == kAccRule ? kAcc : m]);
      std::snprintf(vs, sizeof vs, "%+.1f [%+.1f, %+.1f]", 100 * d.diff, 100 * d.lo, 100 * d.hi);
      j["vs_best_single"] = Paired(d, b.label, "fused_only", "single_only");
    }
    if ((int)ri == reference) {
      std::snprintf(vd, sizeof vd, "(the default)");
    } else if (reference >= 0) {
      const ChoiceRun& b = runs[(size_t)reference];
      // A single run has no acc_rule: its acc and acc_norm are compared with the default's.
      const eval::PairedDiff d = eval::CompareRuns(r.right[m], b.right[m]);
      std::snprintf(vd, sizeof vd, "%+.1f [%+.1f, %+.1f]", 100 * d.diff, 100 * d.lo, 100 * d.hi);
      j["vs_default"] = Paired(d, b.label, "run_only", "default_only");
    }
    if (m == kAcc)
      std::snprintf(per_row, sizeof per_row, " %5.3f", r.n ? r.seconds / (double)r.n : 0.0);
    std::printf("%-44s %6zu %8.1f%%  %-15s %-26s %-24s%s%s\n", r.label.c_str(), r.n, 100 * acc, ci,
                vs, vd, per_row,
                r.errors ? ("  (" + std::to_string(r.errors) + " errors)").c_str() : "");
    (*rows)[ri][kMetricName[m]] = std::move(j);
    // lm-evaluation-harness's names for the same numbers (its "none" filter).
    const std::string name = kMetricName[m];
    (*rows)[ri][name + ",none"] = acc;
    (*rows)[ri][name + "_stderr,none"] =
        r.n >= 2 ? json(HarnessStderr(correct, r.n)) : json(nullptr);
  }
}

}  // namespace

int CmdEvalChoice(const CommonArgs& args) {
  CommonArgs a = args;
  a.gen.cache_prompt = false;  // each row stands alone, as on a fresh process
  if (a.models.empty())
    return Fail(Status::InvalidArgument("no model given (use -m FILE, repeatable)"));
  if (a.data.empty()) return Fail(Status::InvalidArgument("no dataset given (use --data FILE)"));
  if (a.few_shot > 0 && a.train.empty())
    return Fail(Status::InvalidArgument("--few-shot needs --train FILE to take the examples from"));
  // What only generation reads is refused rather than ignored.
  for (const std::string& flag : a.given) {
    if (flag == "--gate" || flag == "--confidence" || flag == "--token-healing" ||
        flag == "--temp" || flag == "--temperature" || flag == "--grammar" ||
        flag == "--json-schema" || flag == "--stop" || flag == "-n" || flag == "--n-predict")
      return Fail(Status::InvalidArgument(flag + " is for generation; --task " + a.task +
                                          " scores given answers"));
  }
  // Scoring given answers has no generation method: each model alone, and the fused score
  // under each --score rule.
  const std::vector<std::string> methods =
      a.methods.empty() ? std::vector<std::string>{SingleModelMethod(), DefaultMethod()}
                        : a.methods;
  for (const std::string& m : methods)
    if (!IsSingleModelMethod(m) && std::string(MethodName(m)) != DefaultMethod())
      return Fail(Status::InvalidArgument("--method " + m + " generates; --task " + a.task +
                                          " scores given answers, so --method takes " +
                                          SingleModelMethod() + " (each model alone) and " +
                                          DefaultMethod() +
                                          " (the fused score, under each --score rule)"));
  const std::vector<ScoreRule> scores =
      a.scores.empty() ? std::vector<ScoreRule>{a.gen.scoring.rule} : a.scores;
  std::unique_ptr<SamplesFile> samples;
  Status st = OpenSamples(a, &samples);
  if (!st.ok()) return Fail(st);

  eval::ChoiceDataset data, train;
  if (!(st = eval::LoadChoiceDataset(a.task, a.data, &data)).ok()) return Fail(st);
  std::vector<eval::ChoiceExample> shots;
  if (a.few_shot > 0) {
    if (!(st = eval::LoadChoiceDataset(a.task, a.train, &train)).ok()) return Fail(st);
    if (train.examples.size() < (size_t)a.few_shot)
      return Fail(
          Status::InvalidArgument(a.train + " has " + std::to_string(train.examples.size()) +
                                  " rows, fewer than --few-shot " + std::to_string(a.few_shot)));
    shots.assign(train.examples.begin(), train.examples.begin() + a.few_shot);
  }
  Resumed resumed;
  if (samples) {
    json settings;
    if (!(st = EvalSettings(a, methods, scores, &settings)).ok()) return Fail(st);
    if (!(st = samples->Start(settings, &resumed)).ok()) return Fail(st);
  }
  const size_t total_rows = data.examples.size();
  if (a.limit > 0 && (size_t)a.limit < data.examples.size()) data.examples.resize((size_t)a.limit);
  PrintRowsLine(data.examples.size(), total_rows, a.data, a.task, "multiple choice, ", a.few_shot,
                data.blank_lines);

  std::unique_ptr<Ensemble> ens;
  if (!(st = OpenEnsemble(a.models, false, &ens)).ok()) return Fail(st);
  // The methods are the single-model one and the default (checked above): a fused run is
  // the default method's fused score under its rule.
  std::vector<ChoiceRun> runs;
  for (const RunPlan& p : PlanRuns(a.models, methods, scores)) {
    static_cast<RunPlan&>(runs.emplace_back()) = p;
  }
  const bool any_fused =
      std::any_of(runs.begin(), runs.end(), [](const ChoiceRun& r) { return r.fused(); });
  // Options every row would refuse are one error before anything runs (checked on the first
  // row's prompt: a model may lack a character that a made-up one would hold).
  for (const ChoiceRun& run : runs) {
    Request req;
    req.prompt = eval::BuildChoicePrompt(data.examples[0], shots);
    req.options = a.gen;
    req.options.method = run.fused() ? DefaultMethod() : SingleModelMethod();
    req.options.only_model = run.only_model;
    req.options.scoring.rule = run.score;
    if (!(st = ens->Validate(req)).ok()) return Fail(st);
  }
  ReportResumed(a, resumed, runs.size() * data.examples.size());

  json predictions = json::array();
  Progress progress(runs.size() * data.examples.size(), resumed.rows.size());
  size_t done = 0;
  std::string first_error;
  for (ChoiceRun& run : runs) {
    for (size_t i = 0; i < data.examples.size(); ++i) {
      const eval::ChoiceExample& ex = data.examples[i];
      ChoiceRowContext c;
      c.doc_id = i;
      c.where = ex.where;
      c.run = run.label;
      c.method = run.fused() ? DefaultMethod() : SingleModelMethod();
      c.models = run.models;
      c.score = run.fused() ? ScoreRuleName(run.score) : "";
      c.prompt = eval::BuildChoicePrompt(ex, shots);
      c.choices = ex.choices;
      c.gold = ex.gold;
      const auto found = resumed.rows.find({RunKey(run.label, run.models), i});
      const bool ran_before = found != resumed.rows.end();
      RowResult r =
          ran_before ? std::move(found->second) : ScoreRow(*ens, a.gen, run, c.prompt, ex.choices);
      if (r.error.empty() && !Pick(r.choice_scores, ex.choices, run.fused(), c.picked))
        return Fail(Status::InvalidArgument(
            (ran_before ? "--resume " + a.resume + ": the line of " : std::string("")) + "row " +
            std::to_string(i) + " of " + run.label + " does not hold a score per choice (" +
            std::to_string(ex.choices.size()) + " choices)"));
      json p = {{"index", i},
                {"where", ex.where},
                {"run", run.label},
                {"models", run.models},
                {"gold", ex.gold}};
      if (run.fused()) {
        p["score"] = ScoreRuleName(run.score);
        if (r.error.empty()) p["model_weights"] = r.model_weights;
        run.sat_out += (size_t)r.sat_out;
      }
      if (!r.error.empty()) {
        ++run.errors;
        if (first_error.empty()) first_error = ex.where + ": " + r.error;
        p["error"] = SafeUtf8(r.error);
      }
      json picked = json::object(), correct = json::object();
      for (int m = 0; m < kMetrics; ++m) {
        if (m == kAccRule && !run.fused()) continue;
        const bool right = c.picked[m] == ex.gold;
        run.right[m].push_back(right);
        picked[kMetricName[m]] = c.picked[m];
        correct[kMetricName[m]] = right;
      }
      p["predicted"] = picked;
      p["correct"] = correct;
      if (samples && !ran_before && !(st = samples->Append(ChoiceSampleLine(c, r))).ok())
        return Fail(st);
      predictions.push_back(std::move(p));
      ++run.n;
      run.seconds += r.seconds;
      run.decode_calls += r.decode_calls;
      run.tokens_decoded += r.tokens_decoded;
      ++done;
      if (!ran_before) progress.Update(done, run.label);
    }
  }
  if (samples && !(st = samples->Close()).ok()) return Fail(st);

  int reference = -1;
  for (size_t i = 0; i < runs.size() && reference < 0; ++i)
    if (IsDefault(runs[i])) reference = (int)i;
  std::vector<json> rows;
  for (size_t ri = 0; ri < runs.size(); ++ri) {
    const ChoiceRun& r = runs[ri];
    json row = {
        {"method", r.fused() ? DefaultMethod() : SingleModelMethod()},
        {"label", r.label},
        {"models", r.models},
        {"n", r.n},
        {"errors", r.errors},
        {"seconds", r.seconds},
        {"counters", {{"decode_calls", r.decode_calls}, {"tokens_decoded", r.tokens_decoded}}}};
    if (r.fused()) row["score"] = ScoreRuleName(r.score), row["sat_out"] = r.sat_out;
    if ((int)ri == reference) {
      row["default"] = true;
      if (r.added_as_reference) row["added_as_reference"] = true;
    }
    rows.push_back(std::move(row));
  }
  for (int m = 0; m < kMetrics; ++m)
    if (m != kAccRule || any_fused) Report(runs, m, reference, &rows);
  // Every two fused runs, compared on the same rows, per metric.
  json pairwise = json::object();
  for (int m = 0; m < kMetrics; ++m) {
    json list = json::array();
    for (size_t i = 0; i < runs.size(); ++i)
      for (size_t j = i + 1; j < runs.size(); ++j) {
        if (!runs[i].fused() || !runs[j].fused()) continue;
        const eval::PairedDiff d = eval::CompareRuns(runs[i].right[m], runs[j].right[m]);
        list.push_back({{"a", runs[i].label},
                        {"b", runs[j].label},
                        {"diff", d.diff},
                        {"ci95", {d.lo, d.hi}},
                        {"a_only", d.a_only},
                        {"b_only", d.b_only}});
      }
    pairwise[kMetricName[m]] = std::move(list);
  }
  if (!first_error.empty())
    std::fprintf(stderr, "warning: some rows failed (counted as wrong), first: %s\n",
                 first_error.c_str());
  if (!a.json_out.empty()) {
    json doc = {{"data", a.data},
                {"task", a.task},
                {"multiple_choice", true},
                {"few_shot", a.few_shot},
                {"n_rows", data.examples.size()},
                {"default", reference >= 0 ? json(runs[(size_t)reference].label) : json(nullptr)},
                {"metrics",
                 {{"acc", kMetricWhat[kAcc]},
                  {"acc_norm", kMetricWhat[kAccNorm]},
                  {"acc_rule", kMetricWhat[kAccRule]},
                  {"ties", "the lowest index"}}},
                {"results", rows},
                {"pairwise", pairwise},
                {"predictions", predictions}};
    if (!(st = WriteText(a.json_out, doc.dump(1) + "\n")).ok()) return Fail(st);
  }
  if (!a.svg_out.empty()) {
    std::vector<Bar> bars;
    for (const ChoiceRun& r : runs)
      for (int m : {kAcc, kAccNorm})
        bars.push_back(
            {r.label + " " + kMetricName[m], r.correct(m), r.n, r.fused() && r.models.size() > 1});
    const std::string title = "acc and acc_norm on " + Basename(a.data) + " (" +
                              std::to_string(data.examples.size()) + " rows, " +
                              std::to_string(a.few_shot) + "-shot), 95% CI";
    if (!(st = WriteText(a.svg_out, Chart(bars, title))).ok()) return Fail(st);
  }
  return 0;
}

}  // namespace coolfusion::cli
