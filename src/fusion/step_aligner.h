// StepAligner: finds where a draft may be cut in one fusion step. A cut is an end of
// one of the writer's own tokens that is (a) a UAX #29 word boundary confirmed by the
// text after it (a whole word segment follows) and (b) straddle-free for every model
// (Cool) or for the writer alone (cool-shortest). Only the last few words are
// re-encoded: each model's text is taken from an anchor just before the step's start.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "align/token_alignment.h"
#include "backend/tokenizer.h"
#include "fusion/draft.h"

namespace coolfusion {

class StepAligner {
 public:
  // One model as the aligner sees it at the start of a step: its tokenizer (null: the
  // model does not take part) and its text so far (prompt + committed text).
  struct Input {
    const Tokenizer* tokenizer = nullptr;
    std::string_view text;
    size_t min_anchor = 0;  // no anchor before this offset (the prompt's last special token)
  };
  // Takes each active model's text tail for this step (copied). REQUIRES: the tokenizers
  // outlive the aligner's use.
  void Prepare(const std::vector<Input>& models);
  // Smallest valid cut of `d` in tokens (0: none yet). `common`: every model must be
  // straddle-free, else only the writer. A model that cannot encode the draft has no
  // boundary in it.
  size_t FindCut(const Draft& d, bool common);
  // Whether the step's start stays a common word boundary when followed by `gen`.
  bool StartOk(const std::string& gen);
  // The last own token end that is a confirmed word boundary (0: none).
  size_t LastWordCut(const Draft& d);

  int64_t checks() const { return checks_; }
  int64_t ns() const { return ns_; }  // time in the calls above

 private:
  // Whether model v has a token boundary at `pos` of gen (false when it cannot encode it).
  bool StraddleFree(int v, const std::string& gen, size_t pos);
  void Words(const std::string& gen, std::vector<size_t>* out);

  std::vector<const Tokenizer*> tokenizers_;
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
  int64_t ns_ = 0;
};

}  // namespace coolfusion
