#include "align/vocab_union.h"

#include <algorithm>

namespace coolfusion {

void VocabUnion::Add(const Tokenizer& tok, int32_t n_vocab,
                     const std::function<Kind(Token)>& kind) {
  std::vector<int32_t> entries((size_t)n_vocab, kNone);
  std::unordered_map<int32_t, Token> own;
  std::unordered_map<int32_t, std::vector<Token>> shared;
  for (Token t = 0; t < n_vocab; ++t) {
    const Kind k = kind(t);
    if (k == Kind::kControl) continue;
    int32_t u = kEnd;
    if (k == Kind::kText) {
      const std::string_view piece = tok.Piece(t);
      if (piece.empty()) continue;
      auto it = index_.find(piece);
      if (it != index_.end()) {
        u = it->second;
      } else {
        u = (int32_t)bytes_.size();
        bytes_.emplace_back(piece);  // a deque: the strings index_ views never move
        index_.emplace(bytes_.back(), u);
        max_bytes_ = std::max(max_bytes_, piece.size());
      }
    }
    entries[(size_t)t] = u;
    auto [it, fresh] = own.emplace(u, t);  // keeps the lowest id
    if (!fresh) {
      std::vector<Token>& all = shared[u];
      if (all.empty()) all.push_back(it->second);
      all.push_back(t);
    }
  }
  entry_.push_back(std::move(entries));
  token_of_.push_back(std::move(own));
  shared_.push_back(std::move(shared));
}

Token VocabUnion::TokenOf(int m, int32_t u, const float* score) const {
  const auto& own = token_of_[(size_t)m];
  auto it = own.find(u);
  if (it == own.end()) return -1;
  if (score == nullptr) return it->second;
  const auto& shared = shared_[(size_t)m];
  auto all = shared.find(u);
  if (all == shared.end()) return it->second;
  Token best = all->second.front();
  for (Token t : all->second) {
    if (score[t] > score[best]) best = t;
  }
  return best;
}

int32_t VocabUnion::Find(std::string_view bytes) const {
  if (bytes.empty()) return kNone;
  auto it = index_.find(bytes);
  return it == index_.end() ? kNone : it->second;
}

Token VocabUnion::LongestPrefixToken(int m, std::string_view text) const {
  for (size_t n = std::min(text.size(), max_bytes_); n > 0; --n) {
    const int32_t u = Find(text.substr(0, n));
    if (u == kNone) continue;
    const Token t = TokenOf(m, u);
    if (t >= 0) return t;
  }
  return -1;
}

}  // namespace coolfusion
