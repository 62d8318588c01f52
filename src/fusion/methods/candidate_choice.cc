#include "fusion/methods/candidate_choice.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace coolfusion {

namespace {

// Each model's probability of the candidate it wrote itself (its tokens and, when they
// count, its end or word end); NaN for a model that wrote none or was not scored.
std::vector<double> OwnProbabilities(const std::vector<StepCandidate>& cands,
                                     const std::vector<std::vector<Likelihood>>& like,
                                     size_t n_models) {
  std::vector<double> p(n_models, std::nan(""));
  for (size_t c = 0; c < cands.size() && c < like.size(); ++c) {
    for (int v : cands[c].writers) {
      const Likelihood& l = like[c][v];
      if (std::isfinite(l.nll)) p[v] = std::exp(-l.nll);
    }
  }
  return p;
}

}  // namespace

Status ChooseCandidate(MethodContext& ctx, const std::vector<Draft>& drafts,
                       std::vector<StepCandidate>* cands, Segment* seg, int* winner,
                       const StepChoice& choice, const std::string* extra, bool extra_eog) {
  Session& s = *ctx.session;
  cands->clear();
  std::vector<const Draft*> dp(s.n_models(), nullptr);
  for (const Draft& d : drafts) {
    if (d.model < 0) continue;
    dp[d.model] = &d;
    const std::string text = d.Candidate();
    auto it = std::find_if(cands->begin(), cands->end(), [&](const StepCandidate& c) {
      return c.text == text && c.eog == d.cut_eog;
    });
    if (it != cands->end()) {
      it->writers.push_back(d.model);
      s.counters().duplicate_candidates++;
      continue;
    }
    cands->push_back(StepCandidate{text, d.cut_eog, {d.model}, d.start_ok});
  }
  if (extra != nullptr) {
    auto it = std::find_if(cands->begin(), cands->end(), [&](const StepCandidate& c) {
      return c.text == *extra && c.eog == extra_eog;
    });
    if (it == cands->end()) cands->push_back(StepCandidate{*extra, extra_eog, {}, true});
  }
  std::vector<std::vector<double>> ppl;
  std::vector<std::vector<Likelihood>> like;
  const auto t0 = std::chrono::steady_clock::now();
  CF_RETURN_IF_ERROR(s.Score(*cands, dp, &ppl, Session::Sequences::kKeep, &like));
  seg->score_ms +=
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  // Under a grammar, a candidate that would leave it cannot win (drafts are sampled under
  // it, so this holds unless a draft went wrong).
  std::vector<bool> grammatical(cands->size());
  bool any_grammatical = false;
  for (size_t c = 0; c < cands->size(); ++c) {
    grammatical[c] = s.GrammarAllows((*cands)[c].text, (*cands)[c].eog);
    any_grammatical |= grammatical[c];
  }
  if (!any_grammatical) return Status::Internal("no candidate follows the grammar");
  bool any_start_ok = false;
  for (size_t c = 0; c < cands->size(); ++c) {
    any_start_ok |= (*cands)[c].start_ok && grammatical[c];
  }
  auto eligible = [&](size_t c) {
    return (!any_start_ok || (*cands)[c].start_ok) && grammatical[c];
  };
  std::vector<double> w = *ctx.weights;
  int leader = -1;
  for (size_t v = 0; v < w.size(); ++v) {
    if (!s.active((int)v)) w[v] = 0;
    if (w[v] > 0 && (leader < 0 || w[v] > w[leader])) leader = (int)v;
  }
  const std::vector<double> own = OwnProbabilities(*cands, like, w.size());
  // The gate: the leader, sure of its own candidate, writes this segment alone.
  int gated = -1;
  if (choice.gate < 1 && leader >= 0 && own[leader] >= choice.gate) {
    for (size_t c = 0; c < cands->size(); ++c) {
      const std::vector<int>& wr = (*cands)[c].writers;
      if (std::find(wr.begin(), wr.end(), leader) != wr.end() && eligible(c)) gated = (int)c;
    }
  }
  if (choice.confidence) {
    for (size_t v = 0; v < w.size(); ++v) {
      if (w[v] > 0 && std::isfinite(own[v])) w[v] *= own[v];
    }
  }
  int best = -1;
  seg->candidates.clear();
  for (size_t c = 0; c < cands->size(); ++c) {
    Candidate out;
    out.text = (*cands)[c].text;
    out.ends_generation = (*cands)[c].eog;
    out.writers = (*cands)[c].writers;
    out.keeps_start = (*cands)[c].start_ok;
    out.ppl = ppl[c];
    out.score = ctx.rule->Score(ppl[c], w, &out.used);
    for (size_t v = 0; v < w.size(); ++v) {
      if (w[v] <= 0) out.used[v] = false;
    }
    // Strict < keeps the lowest model index on ties (candidates are ordered by writer).
    if (eligible(c) && (best < 0 || out.score < seg->candidates[best].score ||
                        (std::isinf(seg->candidates[best].score) && !std::isinf(out.score)))) {
      best = (int)c;
    }
    seg->candidates.push_back(std::move(out));
  }
  if (best < 0) best = 0;
  seg->gated = gated >= 0;
  if (seg->gated) {
    best = gated;
    s.counters().gated_segments++;
  }
  seg->weights = w;
  *winner = best;
  seg->winning_candidate = best;
  seg->winner = (*cands)[best].writers.empty() ? -1 : (*cands)[best].writers.front();
  seg->text = (*cands)[best].text;
  return Status::Ok();
}

}  // namespace coolfusion
