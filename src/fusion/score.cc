// Ensemble::Score: the likelihood of given continuations of a prompt under each model, and
// fused (multiple choice). The continuations are scored as a step's candidates are
// (Session::Score: each model re-encodes prompt + continuation from its last anchor and
// decodes what differs in a scoring sequence that shares the prompt's cells), in rounds of
// one candidate per scoring sequence.
#include <coolfusion/engine.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "base/utf8.h"
#include "fusion/ensemble_impl.h"
#include "fusion/kv_layout.h"
#include "fusion/methods/registry.h"
#include "fusion/request_run.h"
#include "fusion/scoring.h"

namespace coolfusion {

namespace {

constexpr size_t kMaxContinuations = 4096;

Status CheckContinuations(const std::vector<std::string>& continuations) {
  if (continuations.empty()) return Status::InvalidArgument("no continuation to score");
  if (continuations.size() > kMaxContinuations)
    return Status::InvalidArgument("at most " + std::to_string(kMaxContinuations) +
                                   " continuations can be scored at once");
  for (size_t i = 0; i < continuations.size(); ++i) {
    const std::string what = "continuation " + std::to_string(i + 1);
    if (continuations[i].empty()) return Status::InvalidArgument(what + " is empty");
    CF_RETURN_IF_ERROR(CheckUtf8(continuations[i], what));
  }
  return Status::Ok();
}

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// The weighted mean of the models' nll over those of positive weight (ens[v]: the
// ensemble's index of session model v).
double FusedNll(const std::vector<double>& nll, const std::vector<double>& w,
                const std::vector<size_t>& ens) {
  double sum = 0, total = 0;
  for (size_t v = 0; v < w.size(); ++v) {
    if (!(w[v] > 0)) continue;
    sum += w[v] * nll[ens[v]];
    total += w[v];
  }
  return total > 0 ? sum / total : std::numeric_limits<double>::quiet_NaN();
}

}  // namespace

Status Ensemble::Score(const Request& request, const std::vector<std::string>& continuations,
                       ScoreResult* out) {
  return Guarded("scoring", [&] { return ScoreUnguarded(request, continuations, out); });
}

Status Ensemble::ScoreUnguarded(const Request& request,
                                const std::vector<std::string>& continuations, ScoreResult* out) {
  *out = ScoreResult();
  CF_RETURN_IF_ERROR(CheckRequest(request));
  CF_RETURN_IF_ERROR(CheckContinuations(continuations));
  const auto t0 = std::chrono::steady_clock::now();
  // A continuation is a whole answer: no word-end event; no grammar to follow.
  GenerateOptions o = request.options;
  o.scoring.word_end = Switch::kOff;
  o.grammar.clear();
  RequestRun run(*impl_, request, o, false);
  CF_RETURN_IF_ERROR(run.Start(&out->warnings, &out->models, &out->timings));
  Session& s = run.session();
  const size_t n = s.n_models();
  std::vector<double> w = run.weights();
  for (size_t v = 0; v < n; ++v) {
    if (!s.active((int)v)) w[v] = 0;
  }
  const std::unique_ptr<ScoringRule> rule = MakeScoringRule(o.scoring);
  // The session's model v is the ensemble's model `ens[v]`.
  std::vector<size_t> ens(n);
  for (size_t v = 0; v < n; ++v) ens[v] = o.only_model >= 0 ? (size_t)o.only_model : v;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  out->continuations.resize(continuations.size());
  for (size_t c = 0; c < continuations.size(); ++c) {
    ContinuationScore& cs = out->continuations[c];
    cs.text = continuations[c];
    cs.nll.assign(size(), nan);
    cs.tokens.assign(size(), 0);
    cs.nll_per_byte.assign(size(), nan);
    cs.ppl.assign(size(), nan);
  }
  // One candidate per scoring sequence in a round: model u's writer sequence for the u-th,
  // the extra one for the last (kv_layout.h).
  const size_t per_round = n + 1;
  const auto t_score = std::chrono::steady_clock::now();
  const std::vector<const Draft*> no_drafts(n, nullptr);
  for (size_t first = 0; first < continuations.size(); first += per_round) {
    std::vector<StepCandidate> cands;
    for (size_t c = first; c < continuations.size() && cands.size() < per_round; ++c) {
      const size_t k = cands.size();
      StepCandidate cand{continuations[c], false, {}, true};
      if (k < n) cand.writers = {(int)k};
      cands.push_back(std::move(cand));
    }
    // A lone candidate goes to the extra sequence: with writers, Session::Score could take
    // it for one that every active model wrote (nothing to choose, nothing scored).
    if (cands.size() == 1) cands[0].writers.clear();
    std::vector<std::vector<double>> ppl;
    std::vector<std::vector<Likelihood>> like;
    CF_RETURN_IF_ERROR(s.Score(cands, no_drafts, &ppl, Session::Sequences::kDrop, &like));
    for (size_t k = 0; k < cands.size(); ++k) {
      ContinuationScore& cs = out->continuations[first + k];
      for (size_t v = 0; v < n; ++v) {
        if (!s.active((int)v)) continue;
        if (s.ContextFull((int)v, (int)like[k][v].events))
          return Status::ResourceExhausted("continuation " + std::to_string(first + k + 1) +
                                           " does not fit " + s.label((int)v) + "'s context of " +
                                           std::to_string(s.model((int)v).n_ctx()) +
                                           " tokens after the prompt");
        const size_t i = ens[v];
        cs.nll[i] = like[k][v].nll;
        cs.tokens[i] = (int)like[k][v].events;
        cs.nll_per_byte[i] = like[k][v].nll / (double)cs.text.size();
        cs.ppl[i] = ppl[k][v];
      }
      std::vector<bool> used;
      cs.score = rule->Score(ppl[k], w, &used);
      cs.nll_fused = FusedNll(cs.nll, w, ens);
    }
  }
  out->timings.score_ms = MsSince(t_score);
  for (size_t c = 0; c < out->continuations.size(); ++c) {
    const double sc = out->continuations[c].score;
    if (out->best < 0 || sc < out->continuations[(size_t)out->best].score ||
        (std::isnan(out->continuations[(size_t)out->best].score) && !std::isnan(sc)))
      out->best = (int)c;
  }
  out->n_prompt_tokens = s.NumPromptTokens();
  if (s.first_active() >= 0) out->n_cached_tokens = (int)s.cached_tokens(s.first_active());
  run.Finish(&out->counters, &out->timings);
  out->timings.total_ms = MsSince(t0);
  return Status::Ok();
}

}  // namespace coolfusion
