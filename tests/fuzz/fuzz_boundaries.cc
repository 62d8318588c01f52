// Common-boundary detection against the definition, on real vocabularies. The first
// byte picks two of the seven tokenizers; the rest is the text.
#include <cstdint>
#include <string>

#include "align/token_alignment.h"
#include "align/word_breaks.h"
#include "base/utf8.h"
#include "support/reference.h"
#include "vocabs.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coolfusion;
  if (size < 1) return 0;
  auto& vocabs = fuzz::Vocabs();
  const size_t a = data[0] % vocabs.size(), b = (data[0] / vocabs.size()) % vocabs.size();
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::vector<const Tokenizer*> toks{vocabs[a].model.get(), vocabs[b].model.get()};
  std::vector<size_t> got;
  const Status st = CommonWordBoundaries(toks, text, &got);
  if (!IsValidUtf8(text)) {
    if (st.ok()) __builtin_trap();  // invalid UTF-8 must be an error
    return 0;
  }
  std::vector<size_t> want;
  const bool ref_ok = testing::ReferenceBoundaries(
      {llama_model_get_vocab(vocabs[a].raw), llama_model_get_vocab(vocabs[b].raw)}, text, &want);
  if (st.ok() != ref_ok) __builtin_trap();
  if (st.ok() && got != want) __builtin_trap();
  return 0;
}
