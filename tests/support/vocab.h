// A vocabulary-only GGUF of llama.cpp's models/ folder, loaded through the backend (no
// weights: tokenizer and grammar tests). Returns null with the failure recorded.
#pragma once

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "backend/llama_model.h"
#include "support/paths.h"

namespace coolfusion::testing {

inline std::unique_ptr<LlamaModel> LoadVocabOnly(const std::string& name) {
  ModelOptions mo;
  mo.path = Vocab(name);
  mo.vocab_only = true;
  std::unique_ptr<LlamaModel> m;
  Status st = LlamaModel::Load(mo, 1, 0, &m);
  EXPECT_TRUE(st.ok()) << st.message();
  return m;
}

}  // namespace coolfusion::testing
