// Cool-Fusion (Liu et al., 2407.19807): each model drafts until its text ends at the
// shortest common word boundary; every model scores every distinct draft; the lowest
// score is committed to all. `cool-shortest` cuts at the writer's own shortest word
// boundary instead.
#include <chrono>
#include <condition_variable>
#include <mutex>

#include "fusion/method.h"
#include "fusion/step_aligner.h"

namespace coolfusion {

namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

// What each model has drafted so far. Every model pre-scores the others' drafts as they
// grow (Session::PreScore), inside the batches of its own draft, so that the scoring
// that follows has little left to decode; side by side, a model done with its draft goes
// on pre-scoring until every draft is done, instead of waiting idle for the longest one.
//
// Which tokens share a batch changes llama.cpp's results in the last bits, so the batches
// must not depend on timing: a model's k-th batch holds every other model's draft as of
// that model's k-th token (waiting for it: the models move in step), or its candidate once
// it is done. The models draft on threads of their own in both modes; one after the other
// (no --parallel-models) only one of them decodes at a time. So the text is the same on
// every run, in both modes, with the models local or on RPC workers.
class DraftBoard {
 public:
  explicit DraftBoard(const Session& s)
      : n_(s.n_models()), text_(n_), lens_(n_), done_(n_, 1), final_(n_),
        stage_(n_, 0), taken_(n_, std::vector<char>(n_, 0)) {
    for (size_t v = 0; v < n_; ++v) done_[v] = !s.active((int)v);
  }
  // Model v sampled a token and goes on drafting.
  void Progress(int v, const Draft& d) {
    std::lock_guard<std::mutex> lock(mu_);
    text_[v] = d.text;
    lens_[v].push_back(d.text.size());
    cv_.notify_all();
  }
  // Model v's candidate (or nothing when its draft failed).
  void Finish(int v, const std::string& candidate) {
    std::lock_guard<std::mutex> lock(mu_);
    final_[v] = candidate;
    done_[v] = 1;
    cv_.notify_all();
  }
  // The news for model v's next batch (see the class comment): the others' drafts as of
  // their token `stage_[v] + ahead`.
  void Next(int v, std::vector<DraftNews>* news, size_t ahead = 1) {
    news->clear();
    std::unique_lock<std::mutex> lock(mu_);
    const size_t k = stage_[v] += ahead;
    cv_.wait(lock, [&] {
      for (size_t u = 0; u < n_; ++u) {
        if ((int)u != v && !done_[u] && lens_[u].size() < k) return false;
      }
      return true;
    });
    for (size_t u = 0; u < n_; ++u) {
      if ((int)u == v || taken_[v][u]) continue;
      if (lens_[u].size() >= k) {
        news->push_back(DraftNews{(int)u, text_[u].substr(0, lens_[u][k - 1])});
      } else {
        Take(v, u, news);
      }
    }
  }
  // Model v, done drafting: pre-scores the others' drafts until all are done and their
  // candidates taken, in batches of 1, 2, 4, ... more of their tokens each (one batch per
  // token would keep closest to a long draft, but costs a decode per token where decodes
  // run one at a time: the models one after the other, or a memory-bound backend).
  Status PreScoreOthers(Session& s, int v, const std::string& own_text) {
    std::vector<DraftNews> news;
    size_t ahead = 1;
    for (;; ahead *= 2) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        bool left = false;
        for (size_t u = 0; u < n_; ++u) left |= (int)u != v && !taken_[v][u];
        if (!left) return Status::Ok();
      }
      Next(v, &news, ahead);
      CF_RETURN_IF_ERROR(s.PreScore(v, news, own_text));
    }
  }

 private:
  void Take(int v, size_t u, std::vector<DraftNews>* news) {
    taken_[v][u] = 1;
    if (!final_[u].empty()) news->push_back(DraftNews{(int)u, final_[u]});
  }
  const size_t n_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::string> text_;            // each model's draft text so far
  std::vector<std::vector<size_t>> lens_;    // its length after each sampled token
  std::vector<char> done_;
  std::vector<std::string> final_;           // each model's candidate, once done
  std::vector<size_t> stage_;                // the others' token each model took last
  std::vector<std::vector<char>> taken_;     // taken_[v][u]: v took u's candidate
};

class CoolMethod final : public FusionMethod {
 public:
  explicit CoolMethod(bool common) : common_(common) {}

  Status Run(MethodContext& ctx, GenerationResult* out) override {
    Session& s = *ctx.session;
    const GenerateOptions& o = *ctx.opts;
    std::vector<Draft> drafts(s.n_models());
    std::vector<StepCandidate> cands;
    while (true) {
      if (s.NewTokens() >= o.max_new_tokens) {
        out->stop_reason = StopReason::kMaxTokens;
        break;
      }
      Segment seg;
      const auto t_gen = std::chrono::steady_clock::now();
      bool context_full = false;
      // Each model drafts on its own thread, with its own aligner.
      const size_t n = s.n_models();
      std::vector<StepAligner> aligners(n);
      std::vector<char> full(n, 0);
      for (size_t v = 0; v < n; ++v) {
        drafts[v] = Draft();
        if (s.active((int)v)) aligners[v].Prepare(s);
      }
      DraftBoard board(s);
      CF_RETURN_IF_ERROR(s.ForEachActiveThreaded([&](int v) -> Status {
        Draft& d = drafts[v];
        Status st = DraftOne(s, o, aligners[v], &board, v, &d, &full[v]);
        board.Finish(v, st.ok() && !full[v] ? d.Candidate() : std::string());
        CF_RETURN_IF_ERROR(st);
        return board.PreScoreOthers(s, v, d.text);
      }));
      for (const StepAligner& a : aligners) s.counters().boundary_checks += a.checks();
      // Models whose context is full leave the ensemble while others have room.
      bool some_room = false;
      for (size_t v = 0; v < n; ++v) some_room |= s.active((int)v) && !full[v];
      for (size_t v = 0; v < n; ++v) {
        if (!full[v]) continue;
        if (!some_room) {
          context_full = true;
          continue;
        }
        s.Retire((int)v);
        out->warnings.push_back("model " + std::to_string(v) + "'s context is full; fusing without it from here");
        drafts[v] = Draft();
      }
      seg.generate_ms = MsSince(t_gen);
      const auto t_score = std::chrono::steady_clock::now();
      int w = 0;
      CF_RETURN_IF_ERROR(ChooseCandidate(ctx, drafts, &cands, &seg, &w));
      std::vector<const Draft*> dp;
      for (const Draft& d : drafts) dp.push_back(d.model >= 0 ? &d : nullptr);
      seg.aligned = drafts[seg.winner].aligned;
      CF_RETURN_IF_ERROR(s.Commit(cands, w, dp));
      seg.score_ms = MsSince(t_score);
      s.TakeStepStats(&seg.decode_calls, &seg.tokens_decoded);
      s.TakeScoringCalls(&seg.scoring_calls);
      seg.draft_decodes.assign(s.n_models(), 0);
      for (const Draft& d : drafts) {
        if (d.model >= 0) seg.draft_decodes[d.model] = d.n_decoded;
      }
      out->timings.generate_ms += seg.generate_ms;
      out->timings.score_ms += seg.score_ms;
      if (!cands[w].start_ok && !out->segments.empty() && !cands[w].text.empty()) {
        // The previous segment's end stopped being a common boundary: merge the two.
        seg.text = out->segments.back().text + seg.text;
        seg.merged = true;
        out->segments.pop_back();
        s.counters().merged_segments++;
      }
      const bool eog = cands[w].eog;
      const bool empty = cands[w].text.empty();
      StopReason reason;
      if (ctx.emitter->OnSegment(s, std::move(seg), out, &reason)) {
        out->stop_reason = reason;
        break;
      }
      if (eog) {
        out->stop_reason = StopReason::kEndOfGeneration;
        break;
      }
      const int last = s.first_active();
      if (context_full || empty || (s.n_active() == 1 && s.ContextFull(last, 2))) {
        out->stop_reason = StopReason::kContextFull;
        break;
      }
    }
    return Status::Ok();
  }

 private:
  // Model v drafts its candidate, reporting its progress to the board and pre-scoring the
  // others' news in its batches.
  Status DraftOne(Session& s, const GenerateOptions& o, StepAligner& aligner, DraftBoard* board, int v, Draft* d,
                  char* full) {
    auto stop = [&](Draft& dd, bool* done) -> Status {
      size_t cut = 0;
      CF_RETURN_IF_ERROR(aligner.FindCut(dd, common_, &cut));
      if (cut > 0) {
        dd.cut_tokens = cut;
        *done = true;
      } else {
        board->Progress(v, dd);
      }
      return Status::Ok();
    };
    const NewsSource news = [&](std::vector<DraftNews>* out) { board->Next(v, out); };
    CF_RETURN_IF_ERROR(s.MakeDraft(v, o.max_segment_tokens, stop, d, &news));
    if (d->cut_tokens == 0) {
      if (d->eog) {
        d->cut_tokens = d->tokens.size();
        d->cut_eog = true;
      } else if (d->context_full) {
        d->cut_tokens = d->tokens.size();
        *full = 1;
      } else {
        const size_t c = aligner.LastWordCut(*d);
        d->cut_tokens = c > 0 ? c : d->tokens.size();
        d->aligned = false;
      }
    }
    return aligner.StartOk(d->text, &d->start_ok);
  }

  bool common_;
};

}  // namespace

std::unique_ptr<FusionMethod> MakeCoolMethod(bool common_boundaries) {
  return std::make_unique<CoolMethod>(common_boundaries);
}

}  // namespace coolfusion
