// Cool-Fusion's method (cool.cc), for the methods built on it (cool+r in rerank.cc).
#pragma once

#include <memory>

#include <vector>

#include "fusion/method.h"
#include "fusion/step_aligner.h"

namespace coolfusion {

// Segments end at the shortest common word boundary (`common_boundaries`, the method
// `cool`) or at the writer's own shortest word boundary (`cool-shortest`).
std::unique_ptr<FusionMethod> MakeCoolMethod(bool common_boundaries);

// The aligner's view of the session's active models at the start of a step.
std::vector<StepAligner::Input> AlignerInputs(const Session& s);

}  // namespace coolfusion
