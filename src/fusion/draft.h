// The data of one fusion step: each model's draft (its own continuation of the shared
// text), what the others see of it while it is written (DraftNews), and the distinct
// candidates the step chooses from. Plain values shared by the session, the scorer, the
// lock-step of drafts and the methods.
#pragma once

#include <cstddef>
#include <limits>
#include <string>
#include <vector>

#include "backend/tokenizer.h"

namespace coolfusion {

// A model's own continuation of the shared text, sampled token by token.
struct Draft {
  int model = -1;
  std::vector<Token> tokens;  // sampled tokens; the last may be a look-ahead
  std::vector<size_t> ends;   // end of each token's piece in `text`
  // Pieces of all sampled tokens; after token healing (Session::Start's heal), without the
  // prompt's tail that the first piece starts with (it is the prompt's text).
  std::string text;
  std::vector<std::vector<float>> after;  // after[k]: logits after decoding tokens[k]
  int n_decoded = 0;                      // tokens[0..n_decoded) are in the KV cache
  bool eog = false;                       // the model emitted end-of-generation after `text`
  Token eog_token = -1;
  bool context_full = false;   // stopped because the context is full
  bool grammar_stuck = false;  // stopped: the grammar needs what no token of this model gives
  // The candidate the draft proposes: tokens[0..cut_tokens), ending the generation when
  // cut_eog.
  size_t cut_tokens = 0;
  bool cut_eog = false;
  bool aligned = true;   // the cut is a common word boundary
  bool start_ok = true;  // the shared text's end stays a common boundary before it

  std::string Candidate() const { return text.substr(0, cut_tokens ? ends[cut_tokens - 1] : 0); }
  // Whether this draft wrote `text` (ending the generation when `eog`) as its candidate.
  bool Wrote(const std::string& text, bool eog) const {
    return cut_eog == eog && Candidate() == text;
  }
  // What is left of the draft past its first `cut` tokens (their KV cells and logits
  // kept): the start of the writer's next draft when this one won.
  Draft Past(size_t cut) const;
};

// Another model's draft text so far (or its candidate, once it is done).
struct DraftNews {
  int model = -1;
  std::string text;
};

// A distinct candidate of one step.
struct StepCandidate {
  std::string text;
  bool eog = false;
  std::vector<int> writers;  // the models that drafted it (empty: cool+r's fused answer)
  bool start_ok = true;
};

// A candidate's likelihood under one model: its negative log-likelihood in nats over
// `events` scored events (its tokens, and its end or word end when those count); inf when
// the model cannot encode it.
struct Likelihood {
  double nll = std::numeric_limits<double>::infinity();
  size_t events = 0;
};

}  // namespace coolfusion
