// A double as JSON, for every layer that writes JSON (the server's responses, the CLI's
// --json): JSON has no NaN or infinity, so those are null ("cannot be told"), e.g. the
// perplexity of a text a model cannot encode or the bits per byte of a prompt not measured.
//
// Header-only, and the one file in base that includes nlohmann's JSON: base itself does not
// link it, so only targets that link nlohmann_json include this (coolfusion_server, the CLI).
#pragma once

#include <cmath>
#include <nlohmann/json.hpp>

namespace coolfusion {

inline nlohmann::json JsonNumber(double x) {
  if (std::isnan(x) || std::isinf(x)) return nullptr;
  return x;
}

}  // namespace coolfusion
