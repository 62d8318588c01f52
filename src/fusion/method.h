// One interface for every fusion method (one file each in methods/, listed in
// methods/registry.cc), and the step loop they share. The engine makes a method from the
// table and runs it; it never branches on which method runs.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/result.h>

#include <chrono>
#include <functional>
#include <vector>

#include "align/vocab_union.h"
#include "fusion/emitter.h"
#include "fusion/scoring.h"
#include "fusion/session.h"

namespace coolfusion {

struct MethodContext {
  Session* session;
  const GenerateOptions* opts;
  const ScoringRule* rule;
  const std::vector<double>* weights;
  Emitter* emitter;
  const VocabUnion* vocab = nullptr;  // the models' vocabulary union (MethodSpec::vocab_union)
  double gate = 1;  // the request's gate for this method (GateOf in methods/registry.h)
};

class FusionMethod {
 public:
  virtual ~FusionMethod() = default;
  // Generates from the session's started state; fills out->text, segments, stop_reason.
  virtual Status Run(MethodContext& ctx, GenerationResult* out) = 0;
};

// What every method's loop does around its own choice of the next text: the token budget
// at each step's head, the step's clock, the segment's counts and timings, handing the
// segment to the emitter, the stop reasons, and retiring a model that cannot go on.
//
//   StepLoop steps(ctx, out);
//   while (steps.Next()) {
//     ... draft, choose, commit (a model may leave: steps.Retire) ...
//     if (steps.End(std::move(seg), eog)) break;
//   }
class StepLoop {
 public:
  StepLoop(MethodContext& ctx, GenerationResult* out) : ctx_(ctx), out_(out) {}

  // At a step's head: false, with stop reason kMaxTokens, once the token budget is spent;
  // else starts the step (Begin) and returns true.
  bool Next();
  // Starts a step's clock (Next does; a method without a loop calls it).
  void Begin();
  // The step's candidates are written: what follows until End is timed as scoring.
  // Without this call the whole step counts as generation.
  void Drafted();
  // Ends the step with `seg` committed to every model: fills its time (generate_ms,
  // score_ms), each model's decode calls, tokens and scoring decodes in the step, adds the
  // times to out->timings and hands the segment to the emitter. True when the generation
  // ends here: the emitter stopped it (a stop string, the token budget, the callback: its
  // reason), else `eog` (kEndOfGeneration).
  bool End(Segment seg, bool eog = false);
  // Ends the generation with `reason` (e.g. kContextFull).
  void Stop(StopReason reason) { out_->stop_reason = reason; }

  // Why a model leaves the ensemble while the others go on.
  enum class Leaving { kContextFull, kGrammarStuck };
  // Model v leaves for the rest of the generation, with a warning naming it and why.
  void Retire(int v, Leaving why);
  // Retires each active model for which `full(v)` holds while another stays; true, with
  // stop reason kContextFull, when the last one left is full too (it is kept).
  bool RetireFull(const std::function<bool(int)>& full);

 private:
  using Clock = std::chrono::steady_clock;
  MethodContext& ctx_;
  GenerationResult* out_;
  Clock::time_point begin_, drafted_;
  bool has_drafted_ = false;
};

}  // namespace coolfusion
