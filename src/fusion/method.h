// One interface for every fusion method; one file per method (single.cc, cool.cc,
// rerank.cc). The engine picks one by name and never branches on the method itself.
#pragma once

#include <coolfusion/engine.h>

#include <memory>
#include <string>
#include <vector>

#include "fusion/scoring.h"
#include "fusion/session.h"

namespace coolfusion {

// Streams committed text to the caller, holding back what could still begin a stop
// string, and ends generation at the first stop string.
class Emitter {
 public:
  Emitter(const GenerateOptions& opts, const SegmentCallback& cb) : opts_(opts), cb_(cb) {}
  // Records a committed segment. Returns true when generation must stop (a stop string
  // appeared: the text is cut before it; or the callback asked to stop).
  bool OnSegment(Session& s, Segment seg, GenerationResult* out, StopReason* reason);
  // Streams what is left once generation has ended.
  void Finish(Session& s, GenerationResult* out);

 private:
  size_t SafeEnd(const std::string& g, bool final) const;
  const GenerateOptions& opts_;
  const SegmentCallback& cb_;
  size_t emitted_ = 0;
};

struct MethodContext {
  Session* session;
  const GenerateOptions* opts;
  const ScoringRule* rule;
  const std::vector<double>* weights;
  Emitter* emitter;
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

// Shared by the methods: dedupes drafts into candidates (ordered by first writer),
// scores them and picks the lowest score; fills `seg`. Returns the winning index.
// `extra` (may be null) is one more candidate written by no single model (cool+r's
// fused answer); its writers list is empty and a segment it wins has winner -1.
Status ChooseCandidate(MethodContext& ctx, const std::vector<Draft>& drafts,
                       std::vector<StepCandidate>* cands, Segment* seg, int* winner,
                       const std::string* extra = nullptr, bool extra_eog = false);

}  // namespace coolfusion
