#include "align/token_alignment.h"

#include <algorithm>
#include <cassert>

#include "align/word_breaks.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {
bool IsAsciiGraphic(char c) { return c > 0x20 && c < 0x7F; }
bool IsAsciiLetter(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
}  // namespace

Anchor FindAnchor(std::string_view text, size_t limit, size_t min_pos) {
  if (text.size() < 3) return Anchor{min_pos, true};
  if (limit + 2 > text.size()) limit = text.size() - 2;
  for (size_t a = limit; a > min_pos; --a) {
    if (text[a] == ' ' && IsAsciiGraphic(text[a - 1]) && IsAsciiLetter(text[a + 1]))
      return Anchor{a, false};
  }
  return Anchor{min_pos, true};
}

Status TokenizeFrom(const Tokenizer& tok, std::string_view text, Anchor a,
                    std::vector<Token>* out) {
  std::string_view tail = text.substr(std::min(a.pos, text.size()));
  if (!a.fragment_start && tok.AddsSpacePrefix()) {
    // The tokenizer re-adds the anchor space as its dummy prefix.
    assert(tail.size() >= 2 && "an anchored text holds more than its anchor space");
    tail.remove_prefix(1);
  }
  return tok.Tokenize(tail, false, false, out);
}

bool TokenEnds(const Tokenizer& tok, const std::vector<Token>& tokens, std::string_view text,
               Anchor a, std::vector<size_t>* ends) {
  ends->clear();
  ends->reserve(tokens.size());
  // With a dummy prefix at a fragment start, the pieces spell one extra leading space.
  size_t extra = (a.fragment_start && tok.AddsSpacePrefix() && !tokens.empty()) ? 1 : 0;
  size_t pos = a.pos;
  for (Token t : tokens) {
    std::string_view piece = tok.Piece(t);
    if (extra > 0 && !piece.empty() && piece[0] == ' ') {
      piece.remove_prefix(1);
      extra = 0;
    }
    if (text.substr(std::min(pos, text.size()), piece.size()) != piece) return false;
    pos += piece.size();
    ends->push_back(pos);
  }
  return pos == text.size();
}

Status StraddleChecker::Reset(const Tokenizer* tok, std::string_view text, Anchor a) {
  tok_ = tok;
  text_ = text;
  anchor_ = a;
  CF_RETURN_IF_ERROR(TokenizeFrom(*tok, text, a, &tokens_));
  ends_ok_ = TokenEnds(*tok, tokens_, text, a, &ends_);
  return Status::Ok();
}

Status StraddleChecker::StraddleFree(size_t p, bool* free) {
  *free = false;
  if (p == text_.size()) {
    *free = true;
    return Status::Ok();
  }
  // A token boundary of the whole text is necessary when pieces spell the text exactly.
  if (ends_ok_ && !std::binary_search(ends_.begin(), ends_.end(), p)) return Status::Ok();
  CF_RETURN_IF_ERROR(TokenizeFrom(*tok_, text_.substr(0, p), anchor_, &prefix_));
  *free = prefix_.size() <= tokens_.size() &&
          std::equal(prefix_.begin(), prefix_.end(), tokens_.begin());
  return Status::Ok();
}

Status CommonWordBoundaries(const std::vector<const Tokenizer*>& tokenizers, std::string_view text,
                            std::vector<size_t>* out) {
  out->clear();
  CF_RETURN_IF_ERROR(CheckUtf8(text, "text"));
  std::vector<size_t> words;
  WordBoundaries(text, &words);
  std::vector<bool> keep(words.size(), true);
  StraddleChecker checker;
  for (const Tokenizer* t : tokenizers) {
    CF_RETURN_IF_ERROR(checker.Reset(t, text, Anchor{0, true}));
    for (size_t i = 0; i < words.size(); ++i) {
      if (!keep[i]) continue;
      bool free = false;
      CF_RETURN_IF_ERROR(checker.StraddleFree(words[i], &free));
      keep[i] = free;
    }
  }
  for (size_t i = 0; i < words.size(); ++i) {
    if (keep[i]) out->push_back(words[i]);
  }
  return Status::Ok();
}

}  // namespace coolfusion
