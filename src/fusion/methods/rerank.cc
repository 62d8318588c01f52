// Rerank: each model writes a whole answer; every model scores every answer; the lowest
// score wins. cool+r adds the Cool answer to the answers being ranked.
#include "fusion/method.h"
#include "fusion/methods/candidate_choice.h"
#include "fusion/methods/cool.h"
#include "fusion/methods/registry.h"

namespace coolfusion {

namespace {

class RerankMethod final : public FusionMethod {
 public:
  explicit RerankMethod(bool include_cool) : include_cool_(include_cool) {}

  Status Run(MethodContext& ctx, GenerationResult* out) override {
    Session& s = *ctx.session;
    const GenerateOptions& o = *ctx.opts;
    std::string cool_text;
    bool cool_eog = false;
    if (include_cool_) {
      // The Cool answer, generated silently (its stream is not the final answer).
      SegmentCallback none;
      Emitter quiet(o, none);
      MethodContext inner = ctx;
      inner.emitter = &quiet;
      GenerationResult cool;
      CF_RETURN_IF_ERROR(MakeCoolMethod(true)->Run(inner, &cool));
      cool_text = s.generated();
      cool_eog = cool.stop_reason == StopReason::kEndOfGeneration;
      out->timings.generate_ms += cool.timings.generate_ms;
      out->timings.score_ms += cool.timings.score_ms;
      s.ResetToPrompt();
    }
    StepLoop steps(ctx, out);
    steps.Begin();
    std::vector<Draft> drafts(s.n_models());
    for (size_t v = 0; v < s.n_models(); ++v) {
      if (!s.active((int)v)) continue;
      auto stop = [&](Draft& d) {
        for (const auto& st : o.stop) {
          if (!st.empty() && d.text.find(st) != std::string::npos) return true;
        }
        return false;
      };
      CF_RETURN_IF_ERROR(s.MakeDraft((int)v, o.max_new_tokens, stop, &drafts[v]));
      drafts[v].cut_tokens = drafts[v].tokens.size();
      drafts[v].cut_eog = drafts[v].eog;
    }
    // A model that cannot follow the grammar leaves; if none can, the request fails.
    int stuck = -1, answers = 0;
    for (size_t v = 0; v < s.n_models(); ++v) {
      if (drafts[v].model < 0) continue;
      if (!drafts[v].grammar_stuck) {
        ++answers;
        continue;
      }
      stuck = (int)v;
    }
    if (answers == 0 && stuck >= 0) return s.GrammarStuck(stuck);
    for (size_t v = 0; v < s.n_models() && stuck >= 0; ++v) {
      if (drafts[v].model < 0 || !drafts[v].grammar_stuck) continue;
      steps.Retire((int)v, StepLoop::Leaving::kGrammarStuck);
      drafts[v] = Draft();
    }
    // Answers that fit the token budget as it is counted (the first active model's
    // tokens) are preferred: a longer one would be cut, and under a grammar cut invalid.
    const int counter = s.first_active();
    std::vector<char> fits(s.n_models(), 1);
    int n_fit = 0, n_answers = 0;
    for (size_t v = 0; v < s.n_models() && counter >= 0; ++v) {
      if (drafts[v].model < 0) continue;
      ++n_answers;
      std::vector<Token> toks;
      if (s.tokenizer(counter).Tokenize(drafts[v].text, false, false, &toks).ok())
        fits[v] = (int)toks.size() <= o.max_new_tokens;
      n_fit += fits[v];
    }
    if (n_fit > 0 && n_fit < n_answers) {
      for (size_t v = 0; v < s.n_models(); ++v) {
        if (drafts[v].model >= 0 && !fits[v]) drafts[v] = Draft();
      }
    }
    Segment seg;
    steps.Drafted();
    std::vector<StepCandidate> cands;
    int w = 0;
    CF_RETURN_IF_ERROR(ChooseCandidate(ctx, drafts, &cands, &seg, &w, StepChoice(),
                                       include_cool_ ? &cool_text : nullptr, cool_eog));
    std::vector<const Draft*> dp;
    for (const Draft& d : drafts) dp.push_back(d.model >= 0 ? &d : nullptr);
    CF_RETURN_IF_ERROR(s.Commit(cands, w, dp));
    for (const auto& c : seg.candidates) {
      out->answers.push_back(c.text);
      out->answer_scores.push_back(c.score);
    }
    // One step: the answer ends with the winner's end, else at the token budget.
    if (!steps.End(std::move(seg), cands[w].eog)) steps.Stop(StopReason::kMaxTokens);
    return Status::Ok();
  }

 private:
  bool include_cool_;
};

}  // namespace

extern const MethodSpec kRerankMethod{
    .name = "rerank",
    .make = [] { return std::unique_ptr<FusionMethod>(new RerankMethod(false)); },
    .token_healing = true,
};
extern const MethodSpec kCoolRerankMethod{
    .name = "cool+r",
    .make = [] { return std::unique_ptr<FusionMethod>(new RerankMethod(true)); },
    .token_healing = true,
    .auto_gate = kCoolGate,  // its Cool answer's steps; not the rerank of whole answers
    .confidence = true,      // likewise
};

}  // namespace coolfusion
