// StepAligner: finds where a draft may be cut in one fusion step. A cut is an end of
// one of the writer's own tokens that is (a) a UAX #29 word boundary confirmed by the
// text after it (a whole word segment follows) and (b) straddle-free for every model
// (Cool) or for the writer alone (cool-shortest). Only the last few words are
// re-encoded: each model's text is taken from an anchor just before the step's start.
#pragma once

#include <coolfusion/status.h>

#include <string>
#include <vector>

#include "align/token_alignment.h"
#include "fusion/session.h"

namespace coolfusion {

class StepAligner {
 public:
  // Takes each active model's text tail for this step. REQUIRES: session outlives use.
  void Prepare(const Session& session);
  // Smallest valid cut of `d` in tokens (0: none yet). `common`: every model must be
  // straddle-free, else only the writer.
  Status FindCut(const Draft& d, bool common, size_t* cut_tokens);
  // Whether the step's start stays a common word boundary when followed by `gen`.
  Status StartOk(const std::string& gen, bool* ok);
  // The last own token end that is a confirmed word boundary (0: none).
  size_t LastWordCut(const Draft& d);

  int64_t checks() const { return checks_; }

 private:
  Status Straddle(int v, const std::string& gen, size_t pos, bool* free);
  void Words(const std::string& gen, std::vector<size_t>* out);

  const Session* s_ = nullptr;
  std::vector<int> active_;
  std::vector<std::string> tails_;  // per model: text from its anchor
  std::vector<Anchor> anchors_;     // per model, relative to the tail
  std::string icu_tail_;
  std::vector<StraddleChecker> checkers_;
  std::vector<std::string> windows_;
  std::string checked_gen_;  // gen the checkers were reset for
  std::vector<bool> checker_fresh_;
  std::vector<size_t> words_;
  int64_t checks_ = 0;
};

}  // namespace coolfusion
