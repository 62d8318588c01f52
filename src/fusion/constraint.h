// Constraint: one model's place in the request's grammar over a generation (none when the
// request has no grammar). Three states: after the prompt (for methods that start over),
// after the committed text, and after the draft in progress. The committed state follows
// whatever text wins a step, whoever wrote it: the writer through its own tokens, the
// others through the text (Grammar::AcceptText), so that every model drafts from the
// same place in the grammar.
#pragma once

#include <coolfusion/status.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/grammar.h"

namespace coolfusion {

class Constraint {
 public:
  // Parses gbnf for lm (empty gbnf: no constraint), under `budget` (grammar.h; shared by
  // the request's constraints; null: one of its own).
  Status Start(const LlamaModel& lm, const std::string& gbnf,
               std::shared_ptr<GrammarBudget> budget = nullptr);
  bool on() const { return committed_ != nullptr; }
  void ResetToPrompt();  // back to the state after the prompt

  // A draft starts from the committed state; `carried` are its tokens taken over from the
  // previous step's look-ahead (drafted from this same state).
  Status BeginDraft(const std::vector<Token>& carried);
  const Grammar* draft() const { return draft_.get(); }  // null when off
  void Drafted(Token t);                                 // REQUIRES: draft()->Allows(t)

  // Moves the committed state past a committed step: `own` are the model's own tokens of
  // it when it wrote the text, else null and `text` is fed. False: this model cannot
  // follow the text (a character it has no single token for).
  bool Commit(const std::vector<Token>* own, const std::string& text);
  // Whether `text` (and then, with eog, the end) may follow the committed text.
  bool Allows(const std::string& text, bool eog) const;
  // Sets to -inf the logits of every token the committed state does not allow next.
  void Mask(float* logits) const {
    if (committed_) committed_->Mask(logits);
  }

 private:
  std::unique_ptr<Grammar> start_, committed_, draft_;
};

}  // namespace coolfusion
