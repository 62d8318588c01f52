#include "fusion/step_aligner.h"

#include <algorithm>

#include "align/word_breaks.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {
// A cut before a UTF-8 continuation byte would split a character (or sit next to a
// stray byte a model emitted): never a boundary.
bool IsContinuation(char c) { return ((unsigned char)c & 0xC0) == 0x80; }
}  // namespace

void StepAligner::Prepare(const Session& s) {
  s_ = &s;
  const size_t n = s.n_models();
  active_.clear();
  tails_.assign(n, std::string());
  anchors_.assign(n, Anchor());
  checkers_.assign(n, StraddleChecker());
  windows_.assign(n, std::string());
  checker_fresh_.assign(n, false);
  icu_tail_.clear();
  for (size_t v = 0; v < n; ++v) {
    if (!s.active((int)v)) continue;
    active_.push_back((int)v);
    const std::string& t = s.text((int)v);
    const Anchor a = FindAnchor(t, t.empty() ? 0 : t.size() - 1, s.min_anchor((int)v));
    tails_[v] = t.substr(a.pos);
    anchors_[v] = Anchor{0, a.fragment_start};
    if (icu_tail_.empty()) icu_tail_ = tails_[v];
  }
}

void StepAligner::Words(const std::string& gen, std::vector<size_t>* out) {
  out->clear();
  std::string text = icu_tail_ + gen.substr(0, CompleteUtf8Prefix(gen));
  std::vector<size_t> all;
  WordBoundaries(text, &all);
  for (size_t b : all) {
    if (b >= icu_tail_.size()) out->push_back(b - icu_tail_.size());
  }
}

Status StepAligner::Straddle(int v, const std::string& gen, size_t pos, bool* free) {
  if (!checker_fresh_[v] || checked_gen_ != gen) {
    if (checked_gen_ != gen) {
      std::fill(checker_fresh_.begin(), checker_fresh_.end(), false);
      checked_gen_ = gen;
    }
    windows_[v] = tails_[v] + gen;
    Status st = checkers_[v].Reset(&s_->tokenizer(v), windows_[v], anchors_[v]);
    if (!st.ok()) {  // this model cannot encode the draft: no boundary is common
      *free = false;
      return Status::Ok();
    }
    checker_fresh_[v] = true;
  }
  const size_t p = tails_[v].size() + pos;
  if (p == 0) {
    *free = true;  // a fragment start is always a token boundary
    return Status::Ok();
  }
  ++checks_;
  Status st = checkers_[v].StraddleFree(p, free);
  if (!st.ok()) *free = false;
  return Status::Ok();
}

Status StepAligner::FindCut(const Draft& d, bool common, size_t* cut_tokens) {
  *cut_tokens = 0;
  Words(d.text, &words_);
  if (words_.size() < 2) return Status::Ok();
  // A boundary counts once a whole word segment follows it: the last boundary before
  // the end of the (complete) text confirms all before it.
  const size_t confirmed_limit = words_[words_.size() - 2];
  for (size_t k = 0; k < d.tokens.size(); ++k) {
    const size_t e = d.ends[k];
    if (e == 0) continue;
    if (e > confirmed_limit) break;
    if (e < d.text.size() && IsContinuation(d.text[e])) continue;
    if (!std::binary_search(words_.begin(), words_.end(), e)) continue;
    bool ok = true;
    for (int v : active_) {
      if (!common && v != d.model) continue;
      bool free = false;
      CF_RETURN_IF_ERROR(Straddle(v, d.text, e, &free));
      if (!free) {
        ok = false;
        break;
      }
    }
    if (ok) {
      *cut_tokens = k + 1;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

size_t StepAligner::LastWordCut(const Draft& d) {
  Words(d.text, &words_);
  if (words_.size() < 2) return 0;
  const size_t confirmed_limit = words_[words_.size() - 2];
  size_t best = 0;
  for (size_t k = 0; k < d.tokens.size(); ++k) {
    const size_t e = d.ends[k];
    if (e == 0 || e > confirmed_limit) continue;
    if (e < d.text.size() && IsContinuation(d.text[e])) continue;
    if (std::binary_search(words_.begin(), words_.end(), e)) best = k + 1;
  }
  return best;
}

Status StepAligner::StartOk(const std::string& gen, bool* ok) {
  *ok = true;
  if (gen.empty() || icu_tail_.empty()) return Status::Ok();
  if (IsContinuation(gen[0])) {
    *ok = false;
    return Status::Ok();
  }
  // (a) the step's start is a word boundary of tail + gen
  std::string text = icu_tail_ + gen.substr(0, CompleteUtf8Prefix(gen));
  std::vector<size_t> all;
  WordBoundaries(text, &all);
  if (!std::binary_search(all.begin(), all.end(), icu_tail_.size())) {
    *ok = false;
    return Status::Ok();
  }
  // (b) no model's token straddles it
  for (int v : active_) {
    bool free = false;
    CF_RETURN_IF_ERROR(Straddle(v, gen, 0, &free));
    if (!free) {
      *ok = false;
      return Status::Ok();
    }
  }
  return Status::Ok();
}

}  // namespace coolfusion
