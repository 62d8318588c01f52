// SAFE's verification (safe.cc): a model reads another model's draft after its own
// committed text, in one batched decode, without committing anything.
#pragma once

#include <string>
#include <vector>

#include "fusion/model_view.h"

namespace coolfusion {

// Model m's reading of `more` after its committed text: its tokens of text + more,
// re-encoded from its last anchor, decoded in one batch into KV sequence `seq`
// (Session::reading_seq(): dropped at the next Commit or DropDrafts). Touches only m.
struct Verification {
  bool ends_ok = false;  // token starts are exact (else no position can be trusted)
  // m's tokens from the first that differs from its committed ones, where each starts
  // relative to the end of the committed text (negative: it begins inside it, joining
  // the committed text to `more`), and the logits that predict each; `before` has one
  // more row: the logits after the last token.
  std::vector<Token> tokens;
  std::vector<long> starts;
  std::vector<std::vector<float>> before;
};
// `tokens` (may be null): the drafter's own tokens, spelling `more`, read as they are
// instead of re-encoding (for a model with the drafter's vocabulary).
Status Verify(ModelView& m, int seq, const std::string& more, const std::vector<Token>* tokens,
              Verification* out);

}  // namespace coolfusion
