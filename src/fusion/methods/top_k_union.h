// UniTE's fused distribution at one position (Yao et al., arXiv 2410.03777): the union of
// every model's k most likely next tokens, as strings; each model gives each string its
// probability, that of its own token for the string or, where its vocabulary has none,
// that of the first sub-token of the string (its first token of the string as its
// tokenizer writes it at this point of the text, TokenPosition::first_token; the longest
// token of its vocabulary that begins the string where none starts there); each model's
// values are
// normalized over the union (UniTE's softmax over the union's logits) and averaged with
// the request's weights. Used by unite.cc at every position and by safe.cc where SAFE
// ensembles.
#pragma once

#include <cstdint>
#include <vector>

#include "fusion/methods/token_level.h"

namespace coolfusion {

struct FusedEntries {
  std::vector<int32_t> entries;  // the union, in order of first appearance
  std::vector<double> p;         // each entry's fused probability (they sum to 1)
};

// Model v's k most likely entries (control tokens skipped; its end tokens are one entry).
void TopEntries(const VocabUnion& vocab, int v, const std::vector<float>& probs, int k,
                std::vector<int32_t>* out);

// The fused distribution over the union of the top-k entries of every model with a
// weight > 0 in `pos`.
void TopKUnion(const TokenPosition& pos, int k, FusedEntries* out);

// The entry of `f` with the highest probability that `allowed` accepts; -1 if none.
int BestAllowed(const FusedEntries& f, const std::function<bool(int32_t)>& allowed);

}  // namespace coolfusion
