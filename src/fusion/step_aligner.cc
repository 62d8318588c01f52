#include "fusion/step_aligner.h"

#include <algorithm>

#include "align/word_breaks.h"
#include "base/thread_cpu_timer.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {
// A cut before a UTF-8 continuation byte would split a character (or sit next to a
// stray byte a model emitted): never a boundary.
bool IsContinuation(char c) { return ((unsigned char)c & 0xC0) == 0x80; }
}  // namespace

void StepAligner::Prepare(const std::vector<Input>& models) {
  const ThreadCpuTimer timer(&ns_);
  const size_t n = models.size();
  tokenizers_.assign(n, nullptr);
  active_.clear();
  tails_.assign(n, std::string());
  anchors_.assign(n, Anchor());
  checkers_.assign(n, StraddleChecker());
  windows_.assign(n, std::string());
  checker_fresh_.assign(n, false);
  icu_tail_.clear();
  for (size_t v = 0; v < n; ++v) {
    if (models[v].tokenizer == nullptr) continue;
    active_.push_back((int)v);
    tokenizers_[v] = models[v].tokenizer;
    const std::string_view t = models[v].text;
    const Anchor a =
        FindAnchor(t, t.empty() ? 0 : t.size() - 1, models[v].min_anchor, *models[v].tokenizer);
    tails_[v] = std::string(t.substr(a.pos));
    anchors_[v] = Anchor{0, a.fragment_start, a.space};
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

bool StepAligner::StraddleFree(int v, const std::string& gen, size_t pos) {
  if (!checker_fresh_[v] || checked_gen_ != gen) {
    if (checked_gen_ != gen) {
      std::fill(checker_fresh_.begin(), checker_fresh_.end(), false);
      checked_gen_ = gen;
    }
    windows_[v] = tails_[v] + gen;
    // A model that cannot encode the draft has no boundary in it (none is common).
    if (!checkers_[v].Reset(tokenizers_[v], windows_[v], anchors_[v]).ok()) return false;
    checker_fresh_[v] = true;
  }
  const size_t p = tails_[v].size() + pos;
  if (p == 0) return true;  // a fragment start is always a token boundary
  ++checks_;
  bool free = false;
  return checkers_[v].StraddleFree(p, &free).ok() && free;
}

size_t StepAligner::FindCut(const Draft& d, bool common) {
  const ThreadCpuTimer timer(&ns_);
  Words(d.text, &words_);
  if (words_.size() < 2) return 0;
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
      if (!StraddleFree(v, d.text, e)) {
        ok = false;
        break;
      }
    }
    if (ok) return k + 1;
  }
  return 0;
}

size_t StepAligner::LastWordCut(const Draft& d) {
  const ThreadCpuTimer timer(&ns_);
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

bool StepAligner::StartOk(const std::string& gen) {
  const ThreadCpuTimer timer(&ns_);
  if (gen.empty() || icu_tail_.empty()) return true;
  if (IsContinuation(gen[0])) return false;
  // (a) the step's start is a word boundary of tail + gen
  std::string text = icu_tail_ + gen.substr(0, CompleteUtf8Prefix(gen));
  std::vector<size_t> all;
  WordBoundaries(text, &all);
  if (!std::binary_search(all.begin(), all.end(), icu_tail_.size())) return false;
  // (b) no model's token straddles it
  for (int v : active_) {
    if (!StraddleFree(v, gen, 0)) return false;
  }
  return true;
}

}  // namespace coolfusion
