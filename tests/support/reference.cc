#include "reference.h"

#include <llama.h>
#include <unicode/brkiter.h>
#include <unicode/utext.h>

#include <memory>

namespace coolfusion::testing {

namespace {
bool Tok(const llama_vocab* v, const std::string& s, std::vector<llama_token>* out) {
  out->assign(s.size() + 8, 0);
  try {
    int n = llama_tokenize(v, s.data(), (int)s.size(), out->data(), (int)out->size(), false, false);
    if (n < 0) return false;
    out->resize(n);
  } catch (...) {
    return false;
  }
  return true;
}
}  // namespace

bool ReferenceBoundaries(const std::vector<const llama_vocab*>& vocabs, const std::string& text,
                         std::vector<size_t>* out) {
  out->clear();
  UErrorCode st = U_ZERO_ERROR;
  std::unique_ptr<icu::BreakIterator> bi(
      icu::BreakIterator::createWordInstance(icu::Locale::getRoot(), st));
  UText* ut = utext_openUTF8(nullptr, text.data(), (int64_t)text.size(), &st);
  bi->setText(ut, st);
  std::vector<std::vector<llama_token>> full(vocabs.size());
  for (size_t i = 0; i < vocabs.size(); ++i) {
    if (!Tok(vocabs[i], text, &full[i])) {
      utext_close(ut);
      return false;
    }
  }
  std::vector<llama_token> prefix;
  for (size_t p = 1; p <= text.size(); ++p) {
    if (p < text.size() && ((unsigned char)text[p] & 0xC0) == 0x80) continue;  // inside a character
    if (!bi->isBoundary((int32_t)p)) continue;
    bool ok = true;
    for (size_t i = 0; ok && i < vocabs.size(); ++i) {
      if (!Tok(vocabs[i], text.substr(0, p), &prefix))
        ok = false;
      else
        ok = prefix.size() <= full[i].size() &&
             std::equal(prefix.begin(), prefix.end(), full[i].begin());
    }
    if (ok) out->push_back(p);
  }
  utext_close(ut);
  return true;
}

}  // namespace coolfusion::testing
