// One interface for every fusion method; one file per method (single.cc, cool.cc,
// rerank.cc). The engine picks one by name and never branches on the method itself.
#pragma once

#include <coolfusion/engine.h>

#include <memory>
#include <string>
#include <vector>

#include "align/vocab_union.h"
#include "fusion/emitter.h"
#include "fusion/scoring.h"
#include "fusion/session.h"
#include "fusion/step_aligner.h"

namespace coolfusion {

// The aligner's view of the session's active models at the start of a step.
std::vector<StepAligner::Input> AlignerInputs(const Session& s);

struct MethodContext {
  Session* session;
  const GenerateOptions* opts;
  const ScoringRule* rule;
  const std::vector<double>* weights;
  Emitter* emitter;
  const VocabUnion* vocab = nullptr;  // the models' vocabulary union (unite, gac only)
};

class FusionMethod {
 public:
  virtual ~FusionMethod() = default;
  // Generates from the session's started state; fills out->text, segments, stop_reason.
  virtual Status Run(MethodContext& ctx, GenerationResult* out) = 0;
};

std::unique_ptr<FusionMethod> MakeSingleMethod();
std::unique_ptr<FusionMethod> MakeCoolMethod(bool common_boundaries);
std::unique_ptr<FusionMethod> MakeRerankMethod(bool include_cool);
// The peer methods, one file each in methods/.
std::unique_ptr<FusionMethod> MakeUniteMethod();
std::unique_ptr<FusionMethod> MakeGacMethod();
std::unique_ptr<FusionMethod> MakeAdaFuseMethod();
std::unique_ptr<FusionMethod> MakeSafeMethod();

// Shared by the methods: dedupes drafts into candidates (ordered by first writer),
// scores them and picks the lowest score; fills `seg`. Returns the winning index.
// `extra` (may be null) is one more candidate written by no single model (cool+r's
// fused answer); its writers list is empty and a segment it wins has winner -1.
Status ChooseCandidate(MethodContext& ctx, const std::vector<Draft>& drafts,
                       std::vector<StepCandidate>* cands, Segment* seg, int* winner,
                       const std::string* extra = nullptr, bool extra_eog = false);

}  // namespace coolfusion
