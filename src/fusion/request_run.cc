#include "fusion/request_run.h"

#include <coolfusion/engine.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include "fusion/prepared_prompt.h"
#include "fusion/prompt_weights.h"

namespace coolfusion {

namespace {

// This request's weights: the user's, times the prompt weights when they are on; a model
// whose weight is then 0 sits out (retired: no draft, no scoring). Fills the reports.
void SetRequestWeights(const ScoringOptions& so, Session* session, std::vector<double>* weights,
                       std::vector<ModelReport>* reports) {
  const size_t n = session->n_models();
  std::vector<double> bpb(n);
  std::vector<bool> included(n);
  for (size_t v = 0; v < n; ++v) {
    bpb[v] = session->prompt_bits_per_byte((int)v);
    included[v] = session->active((int)v);
  }
  // The user's weights alone: those under sit_out of the largest sit out, prompt weights
  // or not.
  double top = 0;
  for (size_t v = 0; v < n; ++v)
    if (included[v]) top = std::max(top, (*weights)[v]);
  std::vector<bool> small(n, false);
  for (size_t v = 0; v < n; ++v) small[v] = included[v] && (*weights)[v] < so.sit_out * top;
  if (UsesPromptWeights(so)) {
    std::vector<size_t> bytes(n);
    for (size_t v = 0; v < n; ++v) bytes[v] = session->prompt_bytes((int)v);
    *weights = PromptWeights(bpb, bytes, *weights, included, so.prompt_temp, so.sit_out,
                             so.prompt_evidence);
  } else {
    for (size_t v = 0; v < n; ++v) {
      if (!included[v] || small[v]) (*weights)[v] = 0;
    }
  }
  // Never retire the last model: with every user weight 0 the first included one writes.
  bool any = false;
  for (size_t v = 0; v < n; ++v) any |= (*weights)[v] > 0;
  reports->assign(n, ModelReport());
  for (size_t v = 0; v < n; ++v) {
    ModelReport& r = (*reports)[v];
    r.prompt_bits_per_byte = bpb[v];
    r.prompt_bytes = session->prompt_bytes((int)v);
    if (included[v] && (*weights)[v] <= 0 && any) {
      session->Retire((int)v);
      r.sat_out = true;
      r.sat_out_for_prompt = !small[v];
      session->counters().sat_out++;
    }
    r.weight = (*weights)[v];
    r.active = session->active((int)v);
  }
}

}  // namespace

RequestRun::RequestRun(Ensemble::Impl& impl, const Request& request, const GenerateOptions& opts,
                       bool one_model)
    : impl_(impl), request_(request), opts_(opts) {
  for (size_t i = 0; i < impl.models.size(); ++i) {
    impl.models[i]->ResetStats();
    models_.push_back(impl.models[i].get());
    index_.push_back((int)i);
  }
  weights_ = impl.weights;
  if (opts.only_model >= 0) {
    models_ = {models_[opts.only_model]};
    index_ = {opts.only_model};
    weights_ = {1.0};
  } else if (one_model) {
    models_.resize(1);
    index_.resize(1);
    weights_.resize(1);
  }
  // The prompt cache of the models taking part; unknown until this request ends well.
  impl.kv_cache.resize(impl.models.size());
  cached_.resize(models_.size());
  for (size_t v = 0; v < models_.size(); ++v) cached_[v] = std::move(impl.kv_cache[index_[v]]);
  for (int i : index_) impl.kv_cache[i] = KvCache();
  // Thread budgets: models that run side by side share the cores unless the user set
  // threads per model.
  const bool side_by_side = opts.parallel_models && models_.size() > 1;
  const int hw = (int)std::max(1u, std::thread::hardware_concurrency());
  for (LlamaModel* m : models_) {
    m->SetThreads(m->requested_threads() > 0 ? m->requested_threads()
                  : side_by_side             ? std::max(1, hw / (int)models_.size())
                                             : 0);
  }
  session_ = std::make_unique<Session>(models_, weights_, opts);
  for (LlamaModel* m : models_) m->SetActive(true);
}

RequestRun::~RequestRun() {
  for (LlamaModel* m : models_) m->SetActive(false);
}

Status RequestRun::Start(std::vector<std::string>* warnings, std::vector<ModelReport>* models,
                         Timings* timings, bool heal) {
  std::vector<const RenderedPrompt*> given(models_.size(), nullptr);
  for (size_t v = 0; v < models_.size() && request_.prepared; ++v)
    given[v] = request_.prepared->For(request_, impl_.keys, (size_t)index_[v]);
  const auto t0 = std::chrono::steady_clock::now();
  CF_RETURN_IF_ERROR(session_->Start(request_, cached_, warnings, given, heal));
  timings->prompt_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  timings->prompt_fit_ms = session_->prompt_fit_ms();
  timings->prompt_decode_ms = session_->DecodeMs();
  if (opts_.only_model < 0) SetRequestWeights(opts_.scoring, session_.get(), &weights_, models);
  return Status::Ok();
}

void RequestRun::Finish(Counters* counters, Timings* timings) {
  session_->KeepForCache(&cached_);
  for (size_t v = 0; v < models_.size(); ++v) impl_.kv_cache[index_[v]] = std::move(cached_[v]);
  *counters = session_->TotalCounters();
  for (const LlamaModel* m : models_) {
    counters->decode_calls += m->stats().calls;
    counters->tokens_decoded += m->stats().tokens;
  }
  timings->decode_ms = session_->DecodeMs();
}

}  // namespace coolfusion
