// The grammar and schema path of a request (issue 22): GBNF text through our limits into
// llama.cpp's parser, JSON schemas through our limits and llama.cpp's converter, then the
// converted grammar through the parser. Any input either becomes a grammar or is an
// InvalidArgument; none may take unbounded memory or time (scripts/fuzz.sh runs this target
// with -rss_limit_mb and a per-input -timeout), crash or trip a sanitizer.
#include <cstdint>
#include <memory>
#include <string>

#include "backend/grammar.h"
#include "backend/llama_model.h"
#include "support/paths.h"

namespace {

const coolfusion::LlamaModel& Vocab() {
  static coolfusion::LlamaModel* m = [] {
    coolfusion::ModelOptions mo;
    mo.path = coolfusion::testing::TinyModelDir() + "/rand-gpt-2.gguf";
    mo.vocab_only = true;
    std::unique_ptr<coolfusion::LlamaModel> p;
    if (!coolfusion::LlamaModel::Load(mo, 1, 0, &p).ok()) __builtin_trap();
    return p.release();
  }();
  return *m;
}

void Expect(const coolfusion::Status& st) {
  // Refusals are InvalidArgument with a message; nothing else is expected here.
  if (!st.ok() && (st.code() != coolfusion::Status::Code::kInvalidArgument || st.message().empty()))
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coolfusion;
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data + 1), size - 1);
  std::unique_ptr<Grammar> g;
  if (data[0] & 1) {  // a JSON schema
    std::string gbnf;
    const Status st = ConvertJsonSchema(text, &gbnf);
    Expect(st);
    if (!st.ok()) return 0;
    Expect(Grammar::Create(Vocab(), gbnf, &g));
  } else {  // GBNF
    Expect(Grammar::Create(Vocab(), text, &g));
  }
  return 0;
}
