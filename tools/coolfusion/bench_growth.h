// `coolfusion bench`'s cost-growth table (bench_growth.cc): fused time per new token
// against prompt length, number of models, script and chat turn.
#pragma once

#include <nlohmann/json.hpp>
#include <vector>

#include "args.h"

namespace coolfusion::cli {

// Prints the table and fills *out with its rows. REQUIRES: models.size() >= 2 (up to 4
// are used for the models row).
Status GrowthTable(const std::vector<ModelOptions>& models, const CommonArgs& a,
                   nlohmann::json* out);

}  // namespace coolfusion::cli
