#include "align/token_alignment.h"

#include <algorithm>
#include <cassert>

#include <unicode/uchar.h>

#include "align/word_breaks.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {

bool IsLetter(char32_t c) { return c != 0 && (U_GET_GC_MASK((UChar32)c) & U_GC_L_MASK) != 0; }

// "x| y": a single space between a character that is not a space or a control and a
// letter, and no piece joins that character to the space.
bool IsSpaceAnchor(std::string_view text, size_t a, const Tokenizer& tok) {
  const char32_t before = DecodeUtf8Before(text, a);
  size_t len = 0;
  const char32_t after = DecodeUtf8(text, a + 1, &len);
  if (before == 0 || u_isUWhiteSpace((UChar32)before) || u_iscntrl((UChar32)before) ||
      (U_GET_GC_MASK((UChar32)before) & U_GC_CF_MASK) != 0 || !IsLetter(after)) {
    return false;
  }
  return !tok.Joins(before, U' ');
}

// "文|。": an anchor mark right after a letter, and no piece joins them (nor, with a
// dummy prefix, the prefix's space to the mark).
bool IsMarkAnchor(std::string_view text, size_t a, const Tokenizer& tok) {
  size_t len = 0;
  const char32_t mark = DecodeUtf8(text, a, &len);
  if (!IsAnchorMark(mark)) return false;
  const char32_t before = DecodeUtf8Before(text, a);
  if (!IsLetter(before) || tok.Joins(before, mark)) return false;
  return !(tok.AddsSpacePrefix() && tok.Joins(U' ', mark));
}

// Whether text[pos] lies inside a well-formed UTF-8 character.
bool InsideCharacter(std::string_view text, size_t pos) {
  size_t start = pos;
  while (start > 0 && pos - start < 3 && ((unsigned char)text[start] & 0xC0) == 0x80) --start;
  size_t len = 0;
  DecodeUtf8(text, start, &len);
  return len > 0 && start + len > pos;
}

// What llama.cpp's tokenizers spell instead of a text byte, and how far a piece got
// into it (a spelling may be split between tokens).
struct Substitute {
  const char* bytes = nullptr;  // null: none under way
  size_t done = 0;
};

// Matches `piece` against text[*pos:] byte by byte, allowing the two spellings of
// llama.cpp that differ from the text: BPE tokenizers put U+FFFD (EF BF BD) for each
// byte that is not part of a well-formed character, and SentencePiece's byte fallback
// can spell an escaped space as the bytes of "▁" (E2 96 81) when a truncated character
// runs into it. Either stands for one text byte, consumed when it starts.
bool SpellWithSubstitutes(std::string_view piece, std::string_view text, size_t* pos,
                          Substitute* sub) {
  static constexpr char kReplacement[] = "\xEF\xBF\xBD";
  static constexpr char kEscapedSpace[] = "\xE2\x96\x81";
  for (char b : piece) {
    if (sub->bytes != nullptr) {
      if (b != sub->bytes[sub->done]) return false;
      if (++sub->done == 3) *sub = Substitute();
    } else if (*pos >= text.size()) {
      return false;
    } else if (InsideCharacter(text, *pos) && text[*pos] == b) {
      ++*pos;
    } else if (b == kReplacement[0] && !InsideCharacter(text, *pos)) {
      ++*pos;
      *sub = Substitute{kReplacement, 1};
    } else if (b == kEscapedSpace[0] && text[*pos] == ' ') {
      ++*pos;
      *sub = Substitute{kEscapedSpace, 1};
    } else {
      return false;
    }
  }
  return true;
}

// Whether a byte in the 3 before `a` announces a sequence that runs past it (a truncated
// character, or a byte like 0xFF: llama.cpp's SentencePiece tokenizer takes a character's
// length from its first byte's high bits alone, so it takes the next bytes into it).
bool SequenceRunsInto(std::string_view text, size_t a) {
  for (size_t j = a > 3 ? a - 3 : 0; j < a; ++j) {
    const unsigned char c = (unsigned char)text[j];
    const size_t len = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    if (j + len > a) return true;
  }
  return false;
}

}  // namespace

Anchor FindAnchor(std::string_view text, size_t limit, size_t min_pos, const Tokenizer& tok) {
  if (text.size() < 3) return Anchor{min_pos, true};
  if (limit + 2 > text.size()) limit = text.size() - 2;
  for (size_t a = limit; a > min_pos; --a) {
    const unsigned char c = (unsigned char)text[a];
    if ((c == ' ' || c >= 0xC2) && SequenceRunsInto(text, a)) continue;
    if (c == ' ' && IsSpaceAnchor(text, a, tok)) return Anchor{a, false, true};
    if (c >= 0xC2 && IsMarkAnchor(text, a, tok)) return Anchor{a, false, false};
  }
  return Anchor{min_pos, true};
}

Status TokenizeFrom(const Tokenizer& tok, std::string_view text, Anchor a,
                    std::vector<Token>* out) {
  std::string_view tail = text.substr(std::min(a.pos, text.size()));
  if (a.fragment_start || !tok.AddsSpacePrefix()) return tok.Tokenize(tail, false, false, out);
  if (a.space) {
    // The tokenizer re-adds the anchor space as its dummy prefix.
    assert(tail.size() >= 2 && "an anchored text holds more than its anchor space");
    tail.remove_prefix(1);
    return tok.Tokenize(tail, false, false, out);
  }
  // A mark anchor: the dummy prefix comes out as a lone space token (FindAnchor checked
  // that no piece joins it to the mark); drop it.
  CF_RETURN_IF_ERROR(tok.Tokenize(tail, false, false, out));
  if (out->empty() || tok.Piece(out->front()) != " ") {
    return Status::Internal("the tokenizer joined its dummy prefix to an anchor mark");
  }
  out->erase(out->begin());
  return Status::Ok();
}

bool TokenEnds(const Tokenizer& tok, const std::vector<Token>& tokens, std::string_view text,
               Anchor a, std::vector<size_t>* ends) {
  ends->clear();
  ends->reserve(tokens.size());
  // With a dummy prefix at a fragment start, the pieces spell one extra leading space.
  size_t extra = (a.fragment_start && tok.AddsSpacePrefix() && !tokens.empty()) ? 1 : 0;
  size_t pos = a.pos;
  Substitute sub;
  for (Token t : tokens) {
    std::string_view piece = tok.Piece(t);
    if (extra > 0 && !piece.empty() && piece[0] == ' ') {
      piece.remove_prefix(1);
      extra = 0;
    }
    if (sub.bytes == nullptr && text.substr(std::min(pos, text.size()), piece.size()) == piece) {
      pos += piece.size();
    } else if (!SpellWithSubstitutes(piece, text, &pos, &sub)) {
      return false;
    }
    ends->push_back(pos);
  }
  return pos == text.size() && sub.bytes == nullptr;
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
  // A cut before a continuation byte splits a character (or sits before a stray byte):
  // never a boundary. The prefix's truncated character could otherwise be spelled by the
  // same tokens as the text's bytes after p (a U+FFFD in the text), which the definition
  // alone would take for a boundary.
  if (((unsigned char)text_[p] & 0xC0) == 0x80) return Status::Ok();
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
