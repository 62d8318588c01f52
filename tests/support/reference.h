// The definition of a common word boundary, computed the slow, direct way for tests:
// every byte offset p in (0, len] where ICU's word BreakIterator reports a boundary and,
// for every tokenizer, the tokenization of text[:p] is a prefix of the tokenization of
// text. Talks to ICU's C++ API and llama.h directly, sharing no code with the engine.
#pragma once

#include <string>
#include <vector>

struct llama_vocab;

namespace coolfusion::testing {

// Returns false when a tokenizer throws on the text.
bool ReferenceBoundaries(const std::vector<const llama_vocab*>& vocabs, const std::string& text,
                         std::vector<size_t>* out);

}  // namespace coolfusion::testing
