#include "fusion/methods/candidate_choice.h"

#include <algorithm>
#include <chrono>
#include <cmath>

namespace coolfusion {

Status ChooseCandidate(MethodContext& ctx, const std::vector<Draft>& drafts,
                       std::vector<StepCandidate>* cands, Segment* seg, int* winner,
                       const std::string* extra, bool extra_eog) {
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
  const auto t0 = std::chrono::steady_clock::now();
  CF_RETURN_IF_ERROR(s.Score(*cands, dp, &ppl));
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
  int best = -1;
  seg->candidates.clear();
  std::vector<double> w = *ctx.weights;
  for (size_t v = 0; v < w.size(); ++v) {
    if (!s.active((int)v)) w[v] = 0;
  }
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
    const bool eligible = (!any_start_ok || (*cands)[c].start_ok) && grammatical[c];
    // Strict < keeps the lowest model index on ties (candidates are ordered by writer).
    if (eligible && (best < 0 || out.score < seg->candidates[best].score ||
                     (std::isinf(seg->candidates[best].score) && !std::isinf(out.score)))) {
      best = (int)c;
    }
    seg->candidates.push_back(std::move(out));
  }
  if (best < 0) best = 0;
  *winner = best;
  seg->winning_candidate = best;
  seg->winner = (*cands)[best].writers.empty() ? -1 : (*cands)[best].writers.front();
  seg->text = (*cands)[best].text;
  return Status::Ok();
}

}  // namespace coolfusion
