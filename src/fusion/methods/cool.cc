// Cool-Fusion (Liu et al., 2407.19807): each model drafts until its text ends at the
// shortest common word boundary; every model scores every distinct draft; the lowest
// score is committed to all. `cool-shortest` cuts at the writer's own shortest word
// boundary instead.
#include "fusion/methods/cool.h"

#include <coolfusion/engine.h>

#include "fusion/lockstep.h"
#include "fusion/methods/candidate_choice.h"
#include "fusion/methods/registry.h"
#include "fusion/step_aligner.h"

namespace coolfusion {

std::vector<StepAligner::Input> AlignerInputs(const Session& s) {
  std::vector<StepAligner::Input> in(s.n_models());
  for (size_t v = 0; v < s.n_models(); ++v) {
    if (!s.active((int)v)) continue;
    in[v].tokenizer = &s.tokenizer((int)v);
    in[v].text = s.text((int)v);
    in[v].min_anchor = s.min_anchor((int)v);
  }
  return in;
}

namespace {

// Why a model's draft ends its part in the ensemble.
enum : char { kStays, kContextFull, kGrammarStuck };

class CoolMethod final : public FusionMethod {
 public:
  explicit CoolMethod(bool common) : common_(common) {}

  Status Run(MethodContext& ctx, GenerationResult* out) override {
    Session& s = *ctx.session;
    const GenerateOptions& o = *ctx.opts;
    std::vector<Draft> drafts(s.n_models());
    std::vector<StepCandidate> cands;
    const StepChoice choice{ctx.gate, UsesConfidence(o.scoring)};
    StepLoop steps(ctx, out);
    while (steps.Next()) {
      Segment seg;
      // Each model drafts on its own thread, with its own aligner.
      const size_t n = s.n_models();
      std::vector<StepAligner> aligners(n);
      const std::vector<StepAligner::Input> inputs = AlignerInputs(s);
      std::vector<char> leaving(n, kStays);
      for (size_t v = 0; v < n; ++v) {
        drafts[v] = Draft();
        if (s.active((int)v)) aligners[v].Prepare(inputs);
      }
      DraftBoard board(s.ActiveMask());
      CF_RETURN_IF_ERROR(s.ForEachActiveThreaded([&](int v) -> Status {
        Draft& d = drafts[v];
        Status st = DraftOne(s, o, aligners[v], &board, v, &d, &leaving[v]);
        board.Finish(v, st.ok() && leaving[v] == kStays ? d.Candidate() : std::string());
        CF_RETURN_IF_ERROR(st);
        return board.PreScoreOthers(
            v, [&](const std::vector<DraftNews>& news) { return s.PreScore(v, news, d.text); });
      }));
      for (const StepAligner& a : aligners) {
        s.counters().boundary_checks += a.checks();
        s.counters().align_ns += a.ns();
      }
      // Models whose context is full, or that cannot follow the grammar, leave the
      // ensemble while others can go on. When none can: a full context ends the answer
      // (after this segment); a grammar no model can follow is an error.
      bool some_stay = false, some_full = false;
      int stuck = -1;
      for (size_t v = 0; v < n; ++v) {
        if (!s.active((int)v)) continue;
        some_stay |= leaving[v] == kStays;
        some_full |= leaving[v] == kContextFull;
        if (leaving[v] == kGrammarStuck) stuck = (int)v;
      }
      if (!some_stay && !some_full && stuck >= 0) return s.GrammarStuck(stuck);
      const bool context_full = !some_stay && some_full;
      for (size_t v = 0; v < n && some_stay; ++v) {
        if (leaving[v] == kStays) continue;
        steps.Retire((int)v, leaving[v] == kContextFull ? StepLoop::Leaving::kContextFull
                                                        : StepLoop::Leaving::kGrammarStuck);
        drafts[v] = Draft();
      }
      steps.Drafted();
      int w = 0;
      CF_RETURN_IF_ERROR(ChooseCandidate(ctx, drafts, &cands, &seg, &w, choice));
      std::vector<const Draft*> dp;
      for (const Draft& d : drafts) dp.push_back(d.model >= 0 ? &d : nullptr);
      seg.aligned = drafts[seg.winner].aligned;
      CF_RETURN_IF_ERROR(s.Commit(cands, w, dp));
      seg.draft_decodes.assign(s.n_models(), 0);
      for (const Draft& d : drafts) {
        if (d.model >= 0) seg.draft_decodes[d.model] = d.n_decoded;
      }
      if (!cands[w].start_ok && !out->segments.empty() && !cands[w].text.empty()) {
        // The previous segment's end stopped being a common boundary: merge the two.
        seg.text = out->segments.back().text + seg.text;
        seg.merged = true;
        out->segments.pop_back();
        s.counters().merged_segments++;
      }
      const bool empty = cands[w].text.empty();
      if (steps.End(std::move(seg), cands[w].eog)) break;
      const int last = s.first_active();
      if (context_full || empty || (s.n_active() == 1 && s.ContextFull(last, 2))) {
        steps.Stop(StopReason::kContextFull);
        break;
      }
    }
    return Status::Ok();
  }

 private:
  // Model v drafts its candidate, reporting its progress to the board and pre-scoring the
  // others' news in its batches.
  Status DraftOne(Session& s, const GenerateOptions& o, StepAligner& aligner, DraftBoard* board,
                  int v, Draft* d, char* leaving) {
    auto stop = [&](Draft& dd) {
      const size_t cut = aligner.FindCut(dd, common_);
      if (cut == 0) {
        board->Progress(v, dd);
        return false;
      }
      dd.cut_tokens = cut;
      return true;
    };
    const NewsSource news = [&](std::vector<DraftNews>* out) { board->Next(v, out); };
    CF_RETURN_IF_ERROR(s.MakeDraft(v, o.max_segment_tokens, stop, d, &news));
    if (d->grammar_stuck) {
      *leaving = kGrammarStuck;
      return Status::Ok();
    }
    if (d->cut_tokens == 0) {
      if (d->eog) {
        d->cut_tokens = d->tokens.size();
        d->cut_eog = true;
      } else if (d->context_full) {
        d->cut_tokens = d->tokens.size();
        *leaving = kContextFull;
      } else {
        const size_t c = aligner.LastWordCut(*d);
        d->cut_tokens = c > 0 ? c : d->tokens.size();
        d->aligned = false;
      }
    }
    d->start_ok = aligner.StartOk(d->text);
    return Status::Ok();
  }

  bool common_;
};

}  // namespace

std::unique_ptr<FusionMethod> MakeCoolMethod(bool common_boundaries) {
  return std::make_unique<CoolMethod>(common_boundaries);
}

extern const MethodSpec kCoolMethod{
    .name = "cool",
    .make = [] { return MakeCoolMethod(true); },
    .token_healing = true,
    .auto_gate = kCoolGate,
    .confidence = true,
};
extern const MethodSpec kCoolShortestMethod{
    .name = "cool-shortest",
    .make = [] { return MakeCoolMethod(false); },
    .token_healing = true,
    .auto_gate = kCoolGate,
    .confidence = true,
};

}  // namespace coolfusion
