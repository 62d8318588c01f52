#include "fusion/constraint.h"

namespace coolfusion {

Status Constraint::Start(const LlamaModel& lm, const std::string& gbnf,
                         std::shared_ptr<GrammarBudget> budget) {
  start_.reset();
  committed_.reset();
  draft_.reset();
  if (gbnf.empty()) return Status::Ok();
  CF_RETURN_IF_ERROR(Grammar::Create(lm, gbnf, &start_, std::move(budget)));
  committed_ = start_->Clone();
  return Status::Ok();
}

void Constraint::ResetToPrompt() {
  if (!start_) return;
  committed_ = start_->Clone();
  draft_.reset();
}

Status Constraint::BeginDraft(const std::vector<Token>& carried) {
  if (!committed_) return Status::Ok();
  draft_ = committed_->Clone();
  for (Token t : carried) {
    if (!draft_->Allows(t)) {
      if (draft_->budget().failed()) return draft_->budget().error();
      return Status::Internal("a carried token left the grammar");
    }
    draft_->Accept(t);
  }
  return Status::Ok();
}

void Constraint::Drafted(Token t) {
  if (draft_) draft_->Accept(t);
}

bool Constraint::Commit(const std::vector<Token>* own, const std::string& text) {
  if (!committed_) return true;
  draft_.reset();
  if (own == nullptr) return committed_->AcceptText(text);
  for (Token t : *own) {
    if (!committed_->Allows(t)) return false;
    committed_->Accept(t);
  }
  return true;
}

bool Constraint::Allows(const std::string& text, bool eog) const {
  if (!committed_) return true;
  std::unique_ptr<Grammar> g = committed_->Clone();
  return g->AcceptText(text) && (!eog || g->Complete());
}

}  // namespace coolfusion
