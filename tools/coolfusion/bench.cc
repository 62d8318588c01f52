// coolfusion bench: the engine's costs, measured side by side in one run, for 2 and 3
// models: (1) the share of fused wall time spent outside llama_decode; (2) decode calls
// and tokens per committed segment per model; (3) R = fused time / sum over models of
// single-model greedy time for the same number of new tokens (each model's own count of
// the fused text's tokens). With --method, (5): each named method on the same models and
// prompt, its time and decode work per new token beside the singles', and the cost model
// (ms per decode call and per token decoded) fitted to every run measured there.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "bench_growth.h"
#include "commands.h"

namespace coolfusion::cli {

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// One model alone writing `n` tokens of the fused text (at least 1), for R: the command's
// options without what only fusion reads (prompt weights, the gate).
Request SingleRequest(const CommonArgs& a, const std::string& prompt, size_t n) {
  Request r;
  r.prompt = prompt;
  r.options = a.gen;
  r.options.method = SingleModelMethod();
  r.options.scoring.prompt_weights = Switch::kOff;
  r.options.peer.gate = 0;
  r.options.max_new_tokens = std::max<int>(1, (int)n);
  return r;
}

// A prompt of ordinary English prose (~600 bytes) for the cost of prompt likelihoods.
constexpr const char* kCostPrompt =
    "The old lighthouse stood at the end of a narrow spit of land, where the river met the sea. "
    "For "
    "more than a hundred years its keepers had climbed the spiral stairs each evening to light the "
    "lamp, "
    "and each morning they had written a few lines in the log: the weather, the ships that passed, "
    "a "
    "storm that broke a window. When the light was automated, the last keeper moved to the "
    "village, but "
    "he still walked out along the shore every day to look at it. Children asked him what it had "
    "been "
    "like to live there, alone with the wind, and he told them it had never felt lonely, because "
    "the sea "
    "was always talking. One winter a ship lost its way in the fog, and the keeper,";

// A least-squares fit of ms = per_call x calls + per_token x tokens (no intercept) over
// measured runs: the cost model that turns decode counts measured elsewhere into time.
struct CostFit {
  std::vector<double> calls, tokens, ms;
  void Add(double c, double t, double m) {
    calls.push_back(c);
    tokens.push_back(t);
    ms.push_back(m);
  }
  // False when the points cannot separate the two costs (too few, or collinear).
  bool Solve(double* per_call, double* per_token, double* rms_rel) const {
    double cc = 0, ct = 0, tt = 0, cm = 0, tm = 0;
    for (size_t i = 0; i < ms.size(); ++i) {
      cc += calls[i] * calls[i], ct += calls[i] * tokens[i], tt += tokens[i] * tokens[i];
      cm += calls[i] * ms[i], tm += tokens[i] * ms[i];
    }
    const double det = cc * tt - ct * ct;
    if (ms.size() < 2 || !(std::fabs(det) > 1e-9 * cc * tt)) return false;
    *per_call = (cm * tt - tm * ct) / det;
    *per_token = (tm * cc - cm * ct) / det;
    double sq = 0;
    for (size_t i = 0; i < ms.size(); ++i) {
      const double r = (ms[i] - *per_call * calls[i] - *per_token * tokens[i]) / ms[i];
      sq += r * r;
    }
    *rms_rel = std::sqrt(sq / (double)ms.size());
    return true;
  }
};

// (5): each of a.methods (single aside: the singles are measured for each) on the same
// prompt, sequential, prompt weights off (every model takes part), a.repeat runs after a
// warm-up; each single greedy run writes its own count of that method's text.
Status MethodTable(Ensemble* fused, const std::vector<std::unique_ptr<Ensemble>>& singles,
                   const std::string& prompt, const CommonArgs& a, nlohmann::json* out) {
  using nlohmann::json;
  const size_t k = singles.size();
  std::vector<std::string> methods;
  for (const std::string& m : a.methods)
    if (!IsSingleModelMethod(m) && std::find(methods.begin(), methods.end(), m) == methods.end())
      methods.push_back(m);
  CostFit fit;
  // The singles' own costs, pooled over every method's runs: per model.
  std::vector<double> s_ms(k), s_new(k), s_calls(k), s_tokens(k);
  std::printf(
      "   (5) methods side by side: sequential, prompt weights off, median of %d; R = fused / "
      "sum of singles\n"
      "       (each single writes its own count of that method's text)\n"
      "       %-14s %8s %11s %6s %14s %23s %7s\n",
      a.repeat, "method", "new tok", "ms/new tok", "R", "calls/new tok", "tokens decoded/new tok",
      "fused%");
  json rows = json::array();
  for (const std::string& m : methods) {
    std::vector<double> t_fused, t_singles;
    double new_tokens = 0, calls = 0, tokens = 0, positions = 0, fused_positions = 0;
    Status failed;
    for (int rep = 0; rep <= a.repeat && failed.ok(); ++rep) {
      Request req;
      req.prompt = prompt;
      req.options = a.gen;
      req.options.method = m;
      req.options.scoring.prompt_weights = Switch::kOff;
      req.options.parallel_models = false;
      GenerationResult r;
      if (!(failed = fused->Generate(req, nullptr, &r)).ok()) break;
      double sum_single = 0;
      std::vector<GenerationResult> srs(k);
      for (size_t u = 0; u < k; ++u) {
        std::vector<int32_t> ids;
        CF_RETURN_IF_ERROR(fused->Tokenize(u, r.text, &ids));
        const Request sreq = SingleRequest(a, prompt, ids.size());
        CF_RETURN_IF_ERROR(singles[u]->Generate(sreq, nullptr, &srs[u]));
        sum_single += srs[u].timings.total_ms;
      }
      if (rep == 0) continue;
      t_fused.push_back(r.timings.total_ms);
      t_singles.push_back(sum_single);
      new_tokens += r.n_new_tokens;
      calls += (double)r.counters.decode_calls;
      tokens += (double)r.counters.tokens_decoded;
      positions += (double)r.counters.positions;
      fused_positions += (double)r.counters.fused_positions;
      fit.Add((double)r.counters.decode_calls, (double)r.counters.tokens_decoded,
              r.timings.total_ms);
      for (size_t u = 0; u < k; ++u) {
        const GenerationResult& sr = srs[u];
        fit.Add((double)sr.counters.decode_calls, (double)sr.counters.tokens_decoded,
                sr.timings.total_ms);
        s_ms[u] += sr.timings.total_ms;
        s_new[u] += sr.n_new_tokens;
        s_calls[u] += (double)sr.counters.decode_calls;
        s_tokens[u] += (double)sr.counters.tokens_decoded;
      }
    }
    if (!failed.ok()) {
      std::printf("       %-14s failed: %s\n", m.c_str(), failed.message().c_str());
      rows.push_back({{"method", m.c_str()}, {"error", failed.message()}});
      continue;
    }
    const double reps = a.repeat, nt = std::max(new_tokens, 1.0);
    const double fused_ms = Median(t_fused), sum_ms = Median(t_singles);
    char share[16] = "-";
    if (positions > 0)
      std::snprintf(share, sizeof share, "%.1f", 100 * fused_positions / positions);
    std::printf("       %-14s %8.1f %11.2f %6.2f %14.2f %23.2f %7s\n", m.c_str(), new_tokens / reps,
                fused_ms / (nt / reps), fused_ms / sum_ms, calls / nt, tokens / nt, share);
    rows.push_back({{"method", m.c_str()},
                    {"new_tokens", new_tokens / reps},
                    {"fused_ms", fused_ms},
                    {"sum_single_ms", sum_ms},
                    {"ms_per_new_token", fused_ms / (nt / reps)},
                    {"R", fused_ms / sum_ms},
                    {"decode_calls_per_new_token", calls / nt},
                    {"tokens_decoded_per_new_token", tokens / nt},
                    {"positions", positions / reps},
                    {"fused_positions", fused_positions / reps},
                    {"fused_share", positions > 0 ? json(fused_positions / positions) : json()}});
  }
  json single_rows = json::array();
  for (size_t u = 0; u < k; ++u) {
    if (s_new[u] <= 0) continue;
    const std::string name = "single model " + std::to_string(u + 1);
    std::printf("       %-14s %8s %11.2f %6s %14.2f %23.2f %7s\n", name.c_str(), "-",
                s_ms[u] / s_new[u], "-", s_calls[u] / s_new[u], s_tokens[u] / s_new[u], "-");
    single_rows.push_back({{"model", u},
                           {"ms_per_new_token", s_ms[u] / s_new[u]},
                           {"decode_calls_per_new_token", s_calls[u] / s_new[u]},
                           {"tokens_decoded_per_new_token", s_tokens[u] / s_new[u]}});
  }
  double per_call = 0, per_token = 0, rms = 0;
  json cost = nullptr;
  if (fit.Solve(&per_call, &per_token, &rms)) {
    std::printf(
        "       cost model (least squares over %zu runs, fused and single): %.3f ms per decode "
        "call + %.4f ms per token decoded (RMS residual %.1f%%)\n",
        fit.ms.size(), per_call, per_token, 100 * rms);
    cost = {{"ms_per_decode_call", per_call},
            {"ms_per_token_decoded", per_token},
            {"runs", fit.ms.size()},
            {"rms_relative_residual", rms}};
  } else {
    std::printf(
        "       cost model: the runs cannot separate the cost per call from the cost "
        "per token\n");
  }
  std::fflush(stdout);
  *out = {{"methods", rows}, {"singles", single_rows}, {"cost_model", cost}};
  return Status::Ok();
}

Status BenchSet(const std::string& label, const std::vector<ModelOptions>& models,
                const CommonArgs& a, nlohmann::json* out) {
  std::unique_ptr<Ensemble> fused;
  CF_RETURN_IF_ERROR(Ensemble::Open(models, &fused));
  std::vector<std::unique_ptr<Ensemble>> singles(models.size());
  for (size_t u = 0; u < models.size(); ++u)
    CF_RETURN_IF_ERROR(Ensemble::Open({models[u]}, &singles[u]));
  const std::string prompt = a.prompt_given ? a.prompt : "Once upon a time";
  const size_t k = models.size();

  std::vector<double> t_fused, t_parallel, t_decode, t_singles, ratio;
  std::vector<double> seg_calls(k), seg_tokens(k), seg_draft(k), seg_scoring(k);
  double segments = 0, agreed_segments = 0, new_tokens = 0;
  std::vector<double> single_tokens(k), single_ms(k);
  std::vector<double> prompt_off, prompt_on, fit_ms;
  for (int rep = 0; rep <= a.repeat; ++rep) {  // rep 0 warms up and is not counted
    // What the prompt likelihoods cost: the same prompt processed with and without them
    // (-n 1; nobody sits out, so that every model measures).
    {
      Request preq;
      preq.prompt = kCostPrompt;
      preq.options = a.gen;
      preq.options.method = DefaultMethod();
      preq.options.max_new_tokens = 1;
      preq.options.scoring.sit_out = 0;
      GenerationResult off, on;
      preq.options.scoring.prompt_weights = Switch::kOff;
      CF_RETURN_IF_ERROR(fused->Generate(preq, nullptr, &off));
      preq.options.scoring.prompt_weights = Switch::kOn;
      CF_RETURN_IF_ERROR(fused->Generate(preq, nullptr, &on));
      if (rep > 0) {
        prompt_off.push_back(off.timings.prompt_ms);
        prompt_on.push_back(on.timings.prompt_ms);
        fit_ms.push_back(on.timings.prompt_fit_ms);
      }
    }
    Request req;
    req.prompt = prompt;
    req.options = a.gen;
    req.options.method = DefaultMethod();
    // Every model takes part (random-weight models would sit out under prompt weights).
    req.options.scoring.prompt_weights = Switch::kOff;
    // Sequential: engine overhead is wall time outside llama_decode. Parallel (the
    // default): the models draft, score and commit side by side.
    req.options.parallel_models = false;
    GenerationResult r;
    CF_RETURN_IF_ERROR(fused->Generate(req, nullptr, &r));
    req.options.parallel_models = true;
    GenerationResult rp;
    CF_RETURN_IF_ERROR(fused->Generate(req, nullptr, &rp));
    if (rp.text != r.text) return Status::Internal("parallel and sequential fusion differ");
    double sum_single = 0;
    std::vector<double> ms(k), toks(k);
    for (size_t u = 0; u < k; ++u) {
      std::vector<int32_t> ids;
      CF_RETURN_IF_ERROR(fused->Tokenize(u, r.text, &ids));
      const Request sreq = SingleRequest(a, prompt, ids.size());
      GenerationResult sr;
      CF_RETURN_IF_ERROR(singles[u]->Generate(sreq, nullptr, &sr));
      ms[u] = sr.timings.total_ms;
      toks[u] = sr.n_new_tokens;
      sum_single += sr.timings.total_ms;
    }
    if (rep == 0) continue;
    t_fused.push_back(r.timings.total_ms);
    t_parallel.push_back(rp.timings.total_ms);
    t_decode.push_back(r.timings.decode_ms);
    t_singles.push_back(sum_single);
    ratio.push_back(r.timings.total_ms / sum_single);
    new_tokens += r.n_new_tokens;
    for (const Segment& s : r.segments) {
      segments += 1;
      for (size_t v = 0; v < k; ++v) {
        seg_calls[v] += s.decode_calls[v];
        seg_tokens[v] += s.tokens_decoded[v];
        seg_draft[v] += s.draft_decodes[v];
        seg_scoring[v] += s.scoring_calls[v];
      }
      agreed_segments += s.candidates.size() == 1;
    }
    for (size_t u = 0; u < k; ++u) {
      single_ms[u] += ms[u];
      single_tokens[u] += toks[u];
    }
  }
  const double reps = a.repeat;
  const double fused_ms = Median(t_fused), decode_ms = Median(t_decode), sum_ms = Median(t_singles);
  const double parallel_ms = Median(t_parallel);
  const double share = fused_ms > 0 ? (fused_ms - decode_ms) / fused_ms : 0;
  std::printf("\n== %s, %zu models:", label.c_str(), k);
  for (const auto& m : models) std::printf(" %s", std::filesystem::path(m.path).filename().c_str());
  std::printf(
      "\n   fused (cool): %.1f ms sequential, %.1f ms with --parallel-models, for %.0f new tokens "
      "in "
      "%.0f segments (median of %d)\n",
      fused_ms, parallel_ms, new_tokens / reps, segments / reps, a.repeat);
  std::printf(
      "   (1) engine overhead: %.1f%% of fused wall time outside llama_decode (sequential run)\n",
      100 * share);
  std::printf(
      "   (2) per committed segment, per model: decode calls = draft decodes (which also pre-score "
      "the others'\n"
      "       drafts) + scoring calls + other (pre-scoring after the model's own draft, "
      "re-decoding)\n");
  nlohmann::json per_model = nlohmann::json::array();
  for (size_t v = 0; v < k; ++v) {
    const double n = std::max(segments, 1.0);
    const double other = (seg_calls[v] - seg_draft[v] - seg_scoring[v]) / n;
    std::printf("       model %zu: %.2f = %.2f + %.2f + %.2f calls, %.2f tokens decoded\n", v + 1,
                seg_calls[v] / n, seg_draft[v] / n, seg_scoring[v] / n, other, seg_tokens[v] / n);
    per_model.push_back({{"calls_per_segment", seg_calls[v] / n},
                         {"draft_calls_per_segment", seg_draft[v] / n},
                         {"scoring_calls_per_segment", seg_scoring[v] / n},
                         {"other_calls_per_segment", other},
                         {"tokens_per_segment", seg_tokens[v] / n},
                         {"single_tokens", single_tokens[v] / reps},
                         {"single_ms", single_ms[v] / reps}});
  }
  std::printf("       segments where all candidates agreed (nothing to score): %.0f of %.0f\n",
              agreed_segments / reps, segments / reps);
  std::printf("   (3) single-model greedy for the same new tokens:");
  for (size_t v = 0; v < k; ++v)
    std::printf(" model %zu %.0f tok %.1f ms;", v + 1, single_tokens[v] / reps,
                single_ms[v] / reps);
  std::printf(
      "\n       R = fused / sum of singles = %.1f / %.1f = %.2f sequential (median ratio %.2f), "
      "%.2f parallel\n",
      fused_ms, sum_ms, fused_ms / sum_ms, Median(ratio), parallel_ms / sum_ms);
  const double p_off = Median(prompt_off), p_on = Median(prompt_on);
  const double fit_share = p_off > 0 ? (p_on - p_off) / p_off : 0;
  std::printf(
      "   (4) prompt likelihoods (prompt weights) on a %zu-byte prompt: prompt %.1f ms with, %.1f "
      "ms without "
      "= +%.1f%% (%.2f ms of it log-softmax rows)\n",
      std::string(kCostPrompt).size(), p_on, p_off, 100 * fit_share, Median(fit_ms));
  std::fflush(stdout);
  nlohmann::json methods;
  if (!a.methods.empty())
    CF_RETURN_IF_ERROR(MethodTable(fused.get(), singles, prompt, a, &methods));
  *out = {{"label", label},
          {"prompt_ms_with_weights", p_on},
          {"prompt_ms_without_weights", p_off},
          {"prompt_weights_share", fit_share},
          {"models", nlohmann::json::array()},
          {"fused_ms", fused_ms},
          {"parallel_ms", parallel_ms},
          {"decode_ms", decode_ms},
          {"overhead_share", share},
          {"sum_single_ms", sum_ms},
          {"R", fused_ms / sum_ms},
          {"segments", segments / reps},
          {"agreed_segments", agreed_segments / reps},
          {"new_tokens", new_tokens / reps},
          {"per_model", per_model}};
  for (const auto& m : models) (*out)["models"].push_back(m.path);
  if (!methods.is_null()) {
    (*out)["methods"] = methods["methods"];
    (*out)["singles"] = methods["singles"];
    (*out)["cost_model"] = methods["cost_model"];
  }
  return Status::Ok();
}

}  // namespace

int CmdBench(const CommonArgs& args) {
  // Every measurement decodes its prompt whole: no request reuses the one before.
  CommonArgs a = args;
  a.gen.cache_prompt = false;
  if (a.gen.max_new_tokens == kNoTokenLimit)
    return Fail(Status::InvalidArgument("bench measures a fixed number of tokens: -n N, N > 0"));
  if (a.models.size() < 2 && a.big_models.size() < 2) {
    return Fail(Status::InvalidArgument(
        "bench needs 2 or 3 models: -m A -m B [-m C] and/or --big X --big Y [--big Z]"));
  }
  std::vector<std::pair<std::string, std::vector<ModelOptions>>> groups;
  if (a.models.size() >= 2) groups.push_back({"tiny", a.models});
  if (a.big_models.size() >= 2) {
    std::vector<ModelOptions> big;
    for (const auto& p : a.big_models) {
      ModelOptions mo = a.model_defaults;  // -c, -t, -ngl, ... apply to --big models too
      mo.path = p;
      big.push_back(mo);
    }
    groups.push_back({"bench-size", big});
  }
  std::printf(
      "coolfusion bench: -n %d, %d repeats (+1 warm-up), greedy, method cool, score %s, prompt "
      "weights off "
      "in (1)-(3) (every model takes part)\n",
      a.gen.max_new_tokens, a.repeat, ScoreRuleName(a.gen.scoring.rule));
  nlohmann::json all = nlohmann::json::array();
  for (const auto& [label, models] : groups) {
    for (size_t k = 2; k <= std::min<size_t>(3, models.size()); ++k) {
      std::vector<ModelOptions> sub(models.begin(), models.begin() + k);
      nlohmann::json j;
      Status st = BenchSet(label, sub, a, &j);
      if (!st.ok()) return Fail(st);
      all.push_back(j);
    }
  }
  nlohmann::json growth;
  if (a.models.size() >= 2 && !a.no_growth) {
    Status st = GrowthTable(a.models, a, &growth);
    if (!st.ok()) return Fail(st);
  }
  if (a.json)
    std::printf("%s\n", nlohmann::json{{"bench", all}, {"growth", growth}}.dump(2).c_str());
  return 0;
}

}  // namespace coolfusion::cli
