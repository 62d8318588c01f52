// VocabUnion: the union of several vocabularies by the bytes their tokens spell, for the
// token-level methods (unite, gac). Two tokenizers that spell the same string with
// different ids (SentencePiece's "▁the" and GPT-2's "Ġthe" both spell " the") meet in
// one entry; a vocabulary's duplicates (a byte-fallback token and a piece of the same
// byte) meet there too. Every end-of-generation token of every model is the one entry
// kEnd; control tokens that are not an end have no entry.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "backend/tokenizer.h"

namespace coolfusion {

class VocabUnion {
 public:
  static constexpr int32_t kEnd = 0;    // end of generation
  static constexpr int32_t kNone = -1;  // a control token: no entry

  enum class Kind { kText, kEnd, kControl };
  // Adds the next model's vocabulary (tokens [0, n_vocab)); `kind` says what each token
  // is. Models are numbered in the order they are added.
  void Add(const Tokenizer& tok, int32_t n_vocab, const std::function<Kind(Token)>& kind);

  size_t n_models() const { return entry_.size(); }
  int32_t size() const { return (int32_t)bytes_.size(); }  // entries, kEnd included
  // The bytes entry u spells ("" for kEnd).
  const std::string& bytes(int32_t u) const { return bytes_[(size_t)u]; }
  // Model m's token t's entry (kEnd, or kNone for a control token).
  int32_t Entry(int m, Token t) const { return entry_[(size_t)m][(size_t)t]; }
  // Model m's token that spells entry u; -1 when its vocabulary has none. When several do
  // (a byte-fallback token and a piece of the same byte; several end tokens), the one
  // with the largest score[t] when `score` (its probabilities or logits) is given, else
  // the lowest id.
  Token TokenOf(int m, int32_t u, const float* score = nullptr) const;
  // Whether models a and b have the same vocabulary (every token id spells the same).
  bool SameVocabulary(int a, int b) const { return entry_[(size_t)a] == entry_[(size_t)b]; }
  // The entry that spells `bytes`, kNone when no vocabulary has it.
  int32_t Find(std::string_view bytes) const;
  // Model m's longest token whose bytes begin `text` (what its tokenizer starts the text
  // with, for almost every text), -1 when none does.
  Token LongestPrefixToken(int m, std::string_view text) const;

 private:
  std::deque<std::string> bytes_{std::string()};
  std::unordered_map<std::string_view, int32_t> index_;  // keys view bytes_' strings
  std::vector<std::vector<int32_t>> entry_;              // per model, per token
  // Per model: entry -> its token, for the entries the model spells.
  std::vector<std::unordered_map<int32_t, Token>> token_of_;
  // Per model: the entries several of its tokens spell, and those tokens.
  std::vector<std::unordered_map<int32_t, std::vector<Token>>> shared_;
  size_t max_bytes_ = 0;
};

}  // namespace coolfusion
