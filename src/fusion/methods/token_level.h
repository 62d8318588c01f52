// The loop of the token-level methods (unite.cc, gac.cc): at every position each active
// model's next-token distribution is read from its logits, the method picks one entry of
// the vocabulary union (align/vocab_union.h), and that entry's text is committed to every
// model: a model with a token that spells it appends that token, the others re-encode
// the text from their last anchor (ModelView::Reencode). Where every active model's most
// likely token spells the same entry, that entry is taken without asking the method
// (no ensembling: `-m A -m A` is A's greedy text), and Counters::fused_positions does not
// count the position.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "align/vocab_union.h"
#include "fusion/method.h"

namespace coolfusion {

// What a token-level method sees at one position.
struct TokenPosition {
  const VocabUnion* vocab;
  // Per model (empty for a model not taking part): its probabilities over its vocabulary
  // (softmax of its logits) and its most likely text or end token's entry.
  std::vector<std::vector<float>> probs;
  std::vector<int32_t> top;
  std::vector<double> weights;  // the request's weights, 0 for models not taking part
  int leader = -1;              // the active model with the largest weight (first on ties)
  // Model v's first token of a string as its tokenizer writes it here (-1: none starts
  // where the string starts); null: the longest token that begins the string.
  std::function<Token(int v, const std::string& s)> first_token;
};

class TokenPicker {
 public:
  virtual ~TokenPicker() = default;
  // The entry to commit: the best by the method's fused score among those `allowed`
  // accepts (the request's grammar); *fused: whether the models' distributions were
  // combined (false when one model's choice stood, e.g. GaC's gate).
  // InvalidArgument when no entry the method considers is allowed.
  virtual Status Pick(const TokenPosition& pos, const std::function<bool(int32_t)>& allowed,
                      int32_t* entry, bool* fused) = 0;
};

// Runs the loop until the end, the token budget, a stop string or a full context.
Status RunTokenLevel(MethodContext& ctx, TokenPicker& picker, GenerationResult* out);

}  // namespace coolfusion
