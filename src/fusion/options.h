// The checks of a request's options that need no model, and the names of their values
// (include/coolfusion/options.h, engine.h).
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/status.h>

#include <cstddef>

namespace coolfusion {

// The largest -n; more than any context holds (kNoTokenLimit runs up to it).
inline constexpr int kMaxNewTokens = 1 << 24;

// Every option in range, and the method's table entry satisfied (methods/registry.h):
// InvalidArgument naming the flag otherwise. `n_models`: the ensemble's size.
Status CheckOptions(const GenerateOptions& o, size_t n_models);

}  // namespace coolfusion
