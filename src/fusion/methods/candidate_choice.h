// The choice among candidates that the segment-level methods share (cool, rerank):
// identical drafts are merged into one candidate, every active model scores every
// candidate, and the lowest score under the request's rule and weights wins.
#pragma once

#include <string>
#include <vector>

#include "fusion/method.h"

namespace coolfusion {

// What a segment step (cool's) reads besides the scores; rerank's choice among whole
// answers reads neither (the defaults).
struct StepChoice {
  // The leading model (the largest weight among the active models, the first on ties)
  // wins alone when its probability of its own candidate (its tokens and its word end) is
  // at least this; 1: never (PeerOptions::gate).
  double gate = 1;
  // Each model's weight is multiplied by its probability of its own candidate
  // (ScoringOptions::confidence).
  bool confidence = false;
};

// Dedupes drafts into candidates (ordered by first writer), scores them and picks the
// lowest score; fills `seg`. Returns the winning index in *winner. `extra` (may be null)
// is one more candidate written by no single model (cool+r's fused answer); its writers
// list is empty and a segment it wins has winner -1.
Status ChooseCandidate(MethodContext& ctx, const std::vector<Draft>& drafts,
                       std::vector<StepCandidate>* cands, Segment* seg, int* winner,
                       const StepChoice& choice = StepChoice(), const std::string* extra = nullptr,
                       bool extra_eog = false);

}  // namespace coolfusion
