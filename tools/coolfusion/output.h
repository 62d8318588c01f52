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
// "[weights] m1 stories260K: 0.31 bits/byte (83 bytes) weight 1 | m2 aidreams260K: ..." for
// --trace ("prompt not measured" without prompt weights): m1, m2, ... are the models in -m
// order, as in TraceLine.
std::string WeightsLine(const Ensemble& e, const std::vector<ModelReport>& models);

// Which models took part in a fused answer and why the others did not, in words:
// "models: a.gguf (weight 1), b.gguf (weight 0.4); sat out: c.gguf (3.1 bits per byte of
// the prompt against 0.2: it reads this prompt far worse); left out: d.gguf (cannot encode
// the prompt)". Empty for a single model.
std::string ParticipationLine(const Ensemble& e, const GenerationResult& r);

// One line per committed segment for --trace: "[step 3] winner=m2 "text" | *c1 by m2
// "text" ppl=[1.9,2.3] score=2.1 | c2 by m1 ... | gen 1.20 ms, score 0.40 ms". Models are
// m1, m2, ... in -m order; a perplexity not measured is "-". A step with one candidate
// (nothing to score) says "all agreed (m1 m2)", or "one candidate (m1)" when one model
// wrote it, instead of its perplexities.
std::string TraceLine(size_t step, const Segment& seg);

// JSON-safe copy of possibly invalid UTF-8 (invalid bytes become U+FFFD).
std::string SafeUtf8(const std::string& s);

}  // namespace coolfusion::cli
