// Where tests find their data: llama.cpp's vocab-only GGUFs, the shared pretrained tiny
// models, and the random-weight models the build makes (CMake passes the directories).
#pragma once

#include <string>
#include <vector>

namespace coolfusion::testing {

inline std::string VocabDir() { return COOLFUSION_VOCAB_DIR; }
inline std::string SharedModelDir() { return COOLFUSION_SHARED_MODEL_DIR; }
inline std::string TinyModelDir() { return COOLFUSION_TINY_MODEL_DIR; }
inline std::string CliPath() { return COOLFUSION_CLI; }
inline std::string MakeModelPath() { return COOLFUSION_MAKE_MODEL; }
inline std::string MakeTaskPath() { return COOLFUSION_MAKE_TASK; }
inline std::string TrainPath() { return COOLFUSION_TRAIN; }
inline std::string SourceDir() { return COOLFUSION_SOURCE_DIR; }
// The arguments the build gives coolfusion-make-model for the rand-* models.
inline std::string TinyModelArgs() { return COOLFUSION_TINY_MODEL_ARGS; }

inline std::string Vocab(const std::string& name) {
  return VocabDir() + "/ggml-vocab-" + name + ".gguf";
}
inline std::vector<std::string> BoundaryVocabs() {
  return {"llama-spm", "llama-bpe", "qwen2", "gpt-2", "phi-3", "falcon", "deepseek-coder"};
}
inline std::string Shared(const std::string& name) {
  return SharedModelDir() + "/" + name + ".gguf";
}
inline std::string Tiny(const std::string& vocab) {
  return TinyModelDir() + "/rand-" + vocab + ".gguf";
}
// The committed zoo (models/): "a", "b", "c", "b-weak".
inline std::string Zoo(const std::string& name) {
  return SourceDir() + "/models/arith3-" + name + ".gguf";
}

}  // namespace coolfusion::testing
