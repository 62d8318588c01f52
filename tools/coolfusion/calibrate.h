// --calibrate FILE: a weight per model from a handful of the user's solved rows.
//
// Each model answers every row of FILE alone (greedy, the prompt eval builds: "Question:
// ...\nAnswer:", zero-shot, stopped at "\nQuestion:", up to the longest worked answer's
// bytes + 16 tokens, 32 to 512; the command's sampling, -n and grammar do not apply), and its
// weight becomes its smoothed accuracy over the best model's: w = ((right + 1) / (rows + 2)) / max
// over the models. The weight multiplies the model's weight= (and so its prompt weight and
// confidence under --score auto): a model that is right less often weighs less in every step, the
// skill the prompt cannot show (docs/confidence.md). Nothing is trained.
//
// Each model's count is stored beside FILE (FILE.weights.json) and reused while FILE's
// content, the task, --token-healing and the model file (path, size, modification time)
// are the same: a model added to the ensemble is the only one run. A store that cannot be
// written is a warning.
#pragma once

#include <coolfusion/status.h>

#include <string>
#include <vector>

#include "args.h"

namespace coolfusion::cli {

struct Calibration {
  size_t rows = 0;
  std::vector<size_t> right;    // per model (0 where the model sits out: weight=0)
  std::vector<double> weights;  // per model, the factor its weight= was multiplied by
  bool reused = false;          // every count read from the store, none measured
  std::string store;            // the store's path ("" when it could not be written)
};

// The store's path for FILE.
std::string CalibrationStorePath(const std::string& file);

// Measures (or reuses) the weights for `args->calibrate` and multiplies each model's
// weight by its own. Errors: the file missing or not rows of a generation task, more than
// kMaxCalibrationRows rows, a model that fails to load. With one model taking part there is
// nothing to weigh: a note, and no run.
constexpr size_t kMaxCalibrationRows = 2000;
Status Calibrate(CommonArgs* args, Calibration* out);

}  // namespace coolfusion::cli
