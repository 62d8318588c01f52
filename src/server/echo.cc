#include "server/echo.h"

#include <cmath>

#include "base/utf8.h"

namespace coolfusion::server {

namespace {

using nlohmann::json;

std::string PieceText(const std::vector<std::string>& pieces, int32_t id) {
  return id >= 0 && (size_t)id < pieces.size() ? ToValidUtf8(pieces[id]) : std::string();
}

// {piece: logprob} of the top tokens, best first; a piece already listed keeps its first
// (higher) value.
json TopDict(const std::vector<std::pair<int32_t, double>>& top, size_t n,
             const std::vector<std::string>& pieces) {
  json d = json::object();
  for (size_t i = 0; i < top.size() && i < n; ++i) {
    const std::string p = PieceText(pieces, top[i].first);
    if (!d.contains(p)) d[p] = top[i].second;
  }
  return d;
}

}  // namespace

Status ScorePrompts(Ensemble& e, const ApiRequest& r, const std::function<bool()>& cancelled,
                    std::vector<TextLogprobsResult>* out) {
  out->clear();
  for (const PromptInput& p : r.prompts) {
    Ensemble::TextLogprobsRequest q;
    q.text = p.text;
    q.tokens = p.tokens;
    q.top_logprobs = r.logprobs;
    q.only_model = r.request.options.only_model;
    q.cancelled = cancelled;
    out->emplace_back();
    CF_RETURN_IF_ERROR(e.TextLogprobs(q, &out->back()));
  }
  return Status::Ok();
}

json EchoBody(const ApiRequest& r, const std::vector<TextLogprobsResult>& results,
              const std::vector<std::string>& pieces, const std::string& id, int64_t created,
              const std::vector<std::string>& model_ids) {
  json choices = json::array();
  int64_t prompt_tokens = 0;
  const size_t n_top = (size_t)std::max(0, r.logprobs);
  for (size_t c = 0; c < results.size(); ++c) {
    const TextLogprobsResult& t = results[c];
    json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
    for (const TokenLogprob& tok : t.tokens) {
      tokens.push_back(ToValidUtf8(tok.piece));
      lps.push_back(std::isnan(tok.logprob) ? json(nullptr) : json(tok.logprob));
      tops.push_back(tok.top.empty() || n_top == 0 ? json(nullptr)
                                                   : TopDict(tok.top, n_top, pieces));
      offsets.push_back(tok.offset);
    }
    prompt_tokens += (int64_t)t.tokens.size();
    std::string text = t.text;
    if (r.echo_new_tokens > 0 && !t.next.empty()) {
      const std::string piece = PieceText(pieces, t.next[0].first);
      tokens.push_back(piece);
      lps.push_back(t.next[0].second);
      tops.push_back(n_top == 0 ? json(nullptr) : TopDict(t.next, n_top, pieces));
      offsets.push_back(text.size());
      text += piece;
    }
    choices.push_back({{"index", c},
                       {"text", ToValidUtf8(text)},
                       {"finish_reason", "length"},
                       {"logprobs",
                        {{"tokens", tokens},
                         {"token_logprobs", lps},
                         {"top_logprobs", tops},
                         {"text_offset", offsets}}}});
  }
  const int64_t completion_tokens = (int64_t)results.size() * r.echo_new_tokens;
  json weights = json::object();
  if (!results.empty()) {
    for (size_t i = 0; i < results[0].weights.size() && i + 1 < model_ids.size(); ++i)
      weights[model_ids[i + 1]] = results[0].weights[i];
  }
  std::vector<std::string> warnings;
  for (const TextLogprobsResult& t : results)
    warnings.insert(warnings.end(), t.warnings.begin(), t.warnings.end());
  return {{"id", id},
          {"object", "text_completion"},
          {"created", created},
          {"model", r.model},
          {"choices", choices},
          {"usage",
           {{"prompt_tokens", prompt_tokens},
            {"completion_tokens", completion_tokens},
            {"total_tokens", prompt_tokens + completion_tokens}}},
          {"coolfusion", {{"logprob_weights", weights}, {"warnings", warnings}}}};
}

}  // namespace coolfusion::server
