// ModelView: one model's view of the shared text in a session. Its text is its own
// rendering of the prompt followed by the committed text; `tokens` are that text's tokens
// (= the model's KV sequence 0 between steps), `ends` where each token ends in the text,
// and `last_logits` the logits after the last token.
//
// Appending text (a candidate to score, another model's draft to pre-score, the winner to
// commit) goes through Reencode: the text is re-tokenized only from the last anchor that
// starts one of the committed tokens (align/token_alignment.h), and the result says from
// which token on it differs from what is committed. That one recipe serves scoring,
// pre-scoring and commit.
//
// Touched only by the thread that runs this model's part of a phase.
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/result.h>

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "align/token_alignment.h"
#include "backend/llama_model.h"

namespace coolfusion {

// What a model's KV sequence 0 holds between requests (the prompt cache): its tokens, and
// for those whose likelihood was measured, nll[i] = -log p(tokens[i] | tokens[:i]) in nats
// (NaN where unknown; shorter than tokens when the rest is unknown). Prompt weights read
// the likelihoods of the prompt's tokens: known ones need not be decoded again.
struct KvCache {
  std::vector<Token> tokens;
  std::vector<float> nll;
};

// Model m's tokens of its text followed by more text (see ModelView::Reencode).
struct Reencoding {
  Anchor anchor;              // where re-tokenizing started
  size_t anchor_tokens = 0;   // committed tokens kept before the anchor
  std::vector<Token> suffix;  // the tokens of the text from the anchor on
  std::vector<Token> tokens;  // tokens[0, anchor_tokens) + suffix (+ the end token)
  size_t divergence = 0;      // first token that differs from the committed ones

  // First position to decode into a scoring copy: the divergence when every committed
  // token is kept, else one before it (only the last committed token's logits are kept,
  // so the token before the divergence is decoded again for the logits that predict it).
  int ScoringStart(size_t n_committed) const {
    return divergence == n_committed ? (int)divergence : (int)(divergence > 0 ? divergence - 1 : 0);
  }
};

struct ModelView {
  LlamaModel* lm = nullptr;
  bool active = true;
  std::string text;
  size_t prompt_len = 0;
  size_t min_anchor = 0;      // no anchor before the last special token of the prompt
  size_t n_fixed = 0;         // tokens before min_anchor
  std::vector<Token> tokens;  // committed tokens = KV sequence 0 (when no draft)
  std::vector<size_t> ends;   // end offset in text of each token
  // ends[n_fixed..] are exact (false after pieces that did not spell the text, until a
  // re-encoding from min_anchor spells it again; TokenAnchor then finds no anchor).
  bool ends_ok = true;
  std::vector<float> last_logits;
  size_t n_prompt_tokens = 0;
  size_t n_cached = 0;  // prompt tokens reused from the previous request's KV cache
  // Committed tokens at the end of `tokens` not in KV sequence 0 (a last step's,
  // Session::Commit), whose logits are not in last_logits either.
  size_t undecoded = 0;
  bool touched = false;  // this session changed the model's KV memory
  std::vector<float> prompt_logits;
  double prompt_bpb = std::numeric_limits<double>::quiet_NaN();
  size_t prompt_bytes = 0;
  double prompt_fit_ms = 0;
  // The likelihoods measured or reused for the prompt (KvCache::nll) and the tokens they
  // belong to (the prompt's tokens as decoded: later re-encodings may change its tail).
  std::vector<float> token_nll;
  std::vector<Token> nll_tokens;
  Counters counters;  // this model's events (updated only by its own thread)

  // Where re-tokenizing an extension of the text starts: the nearest anchor before the
  // text's last byte that starts one of the committed tokens, and how many come before it.
  struct Start {
    Anchor anchor;
    size_t tokens = 0;
  };
  Start ReencodeStart() const;
  // The tokens of text + `more` (+ `end_token` when >= 0), re-tokenized from `start`.
  // InvalidArgument when the vocabulary cannot encode the text.
  // Its time goes to counters.align_ns.
  Status Reencode(const Start& start, const std::string& more, Token end_token, Reencoding* out);

  // The first token of `s` as this tokenizer writes s after the text and `before` (both
  // re-encoded from the last anchor): the token that starts where s starts; -1 when none
  // does (a token joins `before`'s end to s) or the text cannot be encoded. UniTE's
  // "first sub-token" of a string the model has no token for. Changes nothing.
  Token FirstToken(const std::string& before, const std::string& s);

  // Replaces the token ends from token k on with those of `suffix` (tokenized from `a`).
  void SetEnds(size_t k, const std::vector<Token>& suffix, Anchor a);
  // Decodes tokens[from..] into sequence 0 and keeps the last logits.
  Status DecodeTail(size_t from);
  // Decodes the prompt from token `from` on into sequence 0 and measures the
  // log-likelihood of the tokens that counted[i] > 0 bytes say count (CountedTokenBytes):
  // prompt_bpb, prompt_bytes, token_nll. Asks for at most `max_logit_floats` logits per
  // decode. A counted token at or before `from` (its logits are not decoded) takes its
  // likelihood from cached_nll. REQUIRES: each of those is known there (ReusablePrefix).
  Status DecodeMeasuredPrompt(const std::vector<size_t>& counted, size_t max_logit_floats,
                              size_t from, const std::vector<float>& cached_nll);

 private:
  // The nearest anchor below `limit` that starts a committed token; k: tokens before it.
  Anchor TokenAnchor(size_t limit, size_t* k) const;
};

// Length of the common prefix of two token lists.
size_t CommonPrefix(const std::vector<Token>& a, const std::vector<Token>& b);
// The prompt cache: how many of `prompt`'s tokens can stay in a KV cache that holds
// `cached`: the common prefix, less the last prompt token (its logits start the
// generation) and whatever precedes the first counted token (counted[i] > 0: token i's
// likelihood is measured, which needs the logits after token i - 1) whose likelihood the
// cache does not know.
size_t ReusablePrefix(const KvCache& cached, const std::vector<Token>& prompt,
                      const std::vector<size_t>& counted);

}  // namespace coolfusion
