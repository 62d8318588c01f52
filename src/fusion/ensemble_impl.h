// What an Ensemble holds (engine.h's Ensemble::Impl), for the files that implement its
// calls (engine.cc, score.cc), and the boundary every public call runs behind.
#pragma once

#include <coolfusion/engine.h>

#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "align/vocab_union.h"
#include "backend/llama_model.h"
#include "fusion/model_view.h"

namespace coolfusion {

class Ensemble::Impl {
 public:
  std::vector<std::unique_ptr<LlamaModel>> models;
  std::vector<ModelInfo> infos;
  std::vector<double> weights;
  std::vector<std::string> keys;  // ModelKey of each model (PreparedPrompt)
  // The prompt cache: per model, what its KV sequence 0 holds after the last request that
  // ended well (no tokens: unknown, nothing is reused).
  std::vector<KvCache> kv_cache;
  // The vocabularies' union (unite, gac), built at the first request that needs it.
  std::unique_ptr<VocabUnion> vocab_union;

  const VocabUnion& Union() {
    if (!vocab_union) {
      vocab_union = std::make_unique<VocabUnion>();
      for (const auto& m : models) {
        const LlamaModel* lm = m.get();
        vocab_union->Add(*lm, lm->n_vocab(), [lm](Token t) {
          if (lm->IsEog(t)) return VocabUnion::Kind::kEnd;
          if (lm->IsSuppressed(t) || lm->IsControl(t)) return VocabUnion::Kind::kControl;
          return VocabUnion::Kind::kText;
        });
      }
    }
    return *vocab_union;
  }
};

// The public API's boundary: no exception crosses it (std::bad_alloc, std::system_error
// from a thread that cannot start, anything from a library); each becomes kInternal.
template <class F>
Status Guarded(const char* what, F&& f) {
  try {
    return f();
  } catch (const std::bad_alloc&) {
    return Status::Internal(std::string("out of memory while ") + what);
  } catch (const std::exception& e) {
    return Status::Internal(std::string("unexpected error while ") + what + ": " + e.what());
  } catch (...) {
    return Status::Internal(std::string("unexpected error while ") + what);
  }
}

}  // namespace coolfusion
