// Vocab-only models shared by the fuzz targets, loaded once per process.
#pragma once

#include <llama.h>

#include <memory>
#include <string>
#include <vector>

#include "backend/llama_model.h"
#include "support/paths.h"

namespace coolfusion::fuzz {

struct Vocab {
  std::unique_ptr<LlamaModel> model;  // the engine's view
  llama_model* raw = nullptr;         // the reference's view (llama.h directly)
};

inline std::vector<Vocab>& Vocabs() {
  static std::vector<Vocab>* v = [] {
    auto* out = new std::vector<Vocab>();
    llama_log_set([](ggml_log_level, const char*, void*) {}, nullptr);
    for (const auto& name : testing::BoundaryVocabs()) {
      Vocab x;
      ModelOptions mo;
      mo.path = testing::Vocab(name);
      mo.vocab_only = true;
      if (!LlamaModel::Load(mo, 1, 0, &x.model).ok()) __builtin_trap();
      llama_model_params mp = llama_model_default_params();
      mp.vocab_only = true;
      x.raw = llama_model_load_from_file(mo.path.c_str(), mp);
      if (x.raw == nullptr) __builtin_trap();
      out->push_back(std::move(x));
    }
    return out;
  }();
  return *v;
}

}  // namespace coolfusion::fuzz

// Loads the vocabularies before the first input: under ASan that takes ~10 s, which
// libFuzzer would otherwise charge to the first input and report as a slow unit.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  coolfusion::fuzz::Vocabs();
  return 0;
}
