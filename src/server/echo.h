// /v1/completions with `echo` and `logprobs`: the prompt scored rather than continued, in
// the shape OpenAI's legacy completions API gives and lm-evaluation-harness's
// local-completions model reads (it sums `token_logprobs` over a continuation's tokens).
// The tokens are the lead model's (the source model the request names, else the first);
// each token's logprob is the ensemble's (Ensemble::TextLogprobs: the models' own
// log-probabilities of the bytes, weighted), the first token's null. With max_tokens 1,
// one more token follows: the lead model's most likely next token, with its logprob under
// that model (the harness drops it). docs/scoring.md defines each number.
#pragma once

#include <coolfusion/engine.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/request.h"

namespace coolfusion::server {

// Scores each of the request's prompts on `e` (one TextLogprobs each, in order).
// `cancelled` is asked between batches. On failure, the failed prompt's result is out's
// last.
Status ScorePrompts(Ensemble& e, const ApiRequest& r, const std::function<bool()>& cancelled,
                    std::vector<TextLogprobsResult>* out);

// The answer: one choice per prompt, with {"tokens", "token_logprobs", "top_logprobs",
// "text_offset"}. `pieces`: the lead model's vocabulary (LoadedModels::pieces); model_ids
// as for ParseRequest.
nlohmann::json EchoBody(const ApiRequest& r, const std::vector<TextLogprobsResult>& results,
                        const std::vector<std::string>& pieces, const std::string& id,
                        int64_t created, const std::vector<std::string>& model_ids);

}  // namespace coolfusion::server
