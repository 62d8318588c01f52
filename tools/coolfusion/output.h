// Printing results: the --json shape of `generate` and the per-step --trace lines.
#pragma once

#include <coolfusion/engine.h>

#include <nlohmann/json.hpp>
#include <string>

namespace coolfusion::cli {

// {"text", "stop_reason", "method", "models", "segments": [{"text", "winner",
//  "candidates": [{"model", "writers", "text", "ppl", "mean_ppl", ...}], ...}],
//  "n_new_tokens", "counters", "timings", "warnings"}
nlohmann::json ResultJson(const Ensemble& e, const GenerateOptions& o, const GenerationResult& r);

// [{"prompt_bits_per_byte", "prompt_bytes", "weight", "sat_out", "active"}] per model.
nlohmann::json ModelReportsJson(const std::vector<ModelReport>& models);
// "[weights] m0: 0.31 bits/byte (83 bytes) weight 1 | m1: ..." for --trace.
std::string WeightsLine(const std::vector<ModelReport>& models);

// Which models took part in a fused answer and why the others did not, in words:
// "models: a.gguf (weight 1), b.gguf (weight 0.4); sat out: c.gguf (3.1 bits per byte of
// the prompt against 0.2: it reads this prompt far worse); left out: d.gguf (cannot encode
// the prompt)". Empty for a single model.
std::string ParticipationLine(const Ensemble& e, const GenerationResult& r);

// One line per committed segment for --trace.
std::string TraceLine(size_t step, const Segment& seg);

// JSON-safe copy of possibly invalid UTF-8 (invalid bytes become U+FFFD).
std::string SafeUtf8(const std::string& s);

}  // namespace coolfusion::cli
