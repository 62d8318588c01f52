// Opening an ensemble in a test: one thread per model (tests run side by side, sanitized
// builds too). Returns null with the failure recorded; callers ASSERT_TRUE the result.
#pragma once

#include <coolfusion/engine.h>

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

namespace coolfusion::testing {

inline std::unique_ptr<Ensemble> Open(const std::vector<std::string>& paths, int n_ctx = 0) {
  std::vector<ModelOptions> mo;
  for (const auto& p : paths) {
    ModelOptions o;
    o.path = p;
    o.n_ctx = n_ctx;
    o.n_threads = 1;
    mo.push_back(o);
  }
  std::unique_ptr<Ensemble> e;
  Status st = Ensemble::Open(mo, &e);
  if (!st.ok()) {
    ADD_FAILURE() << st.message();
    return nullptr;
  }
  return e;
}

}  // namespace coolfusion::testing
