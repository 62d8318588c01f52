// What a request does with an ensemble before and after its method runs (Generate) or its
// continuations are scored (Score): the models that take part (all of them, only_model's,
// or the first for a one-model method), their threads, their prompt cache, a session
// started on the prompt (Request::prepared read when it holds the prompt) with the
// request's weights (prompt weights, who sits out); at the end, each model's KV cache kept
// for the next request, and the counts.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/result.h>

#include <memory>
#include <string>
#include <vector>

#include "fusion/ensemble_impl.h"
#include "fusion/session.h"

namespace coolfusion {

class RequestRun {
 public:
  // `opts`: the options the session runs with (the request's, or adjusted by the caller).
  // REQUIRES: impl, request and opts outlive the run.
  // With lanes (Ensemble::OpenLanes), the run's models count as generating from here to
  // the destructor (LlamaModel::SetActive).
  RequestRun(Ensemble::Impl& impl, const Request& request, const GenerateOptions& opts,
             bool one_model);
  ~RequestRun();
  RequestRun(const RequestRun&) = delete;
  RequestRun& operator=(const RequestRun&) = delete;
  // Starts the session on the prompt and sets the weights (a model whose weight is
  // negligible sits out); fills `models` (unless only_model) and the prompt's timings.
  // kCancelled when the request was cancelled while starting.
  // heal: token healing at the prompt's end (Session::Start).
  Status Start(std::vector<std::string>* warnings, std::vector<ModelReport>* models,
               Timings* timings, bool heal = false);
  Session& session() { return *session_; }
  // The request's weight of each of the session's models (0: not taking part).
  std::vector<double>& weights() { return weights_; }
  // Keeps each model's KV cache for the next request; adds the session's counters, the
  // decode counts and decode_ms.
  void Finish(Counters* counters, Timings* timings);

 private:
  Ensemble::Impl& impl_;
  const Request& request_;
  const GenerateOptions& opts_;
  std::vector<LlamaModel*> models_;
  std::vector<int> index_;  // the session's model v is the ensemble's model index_[v]
  std::vector<double> weights_;
  std::vector<KvCache> cached_;
  std::unique_ptr<Session> session_;
};

}  // namespace coolfusion
