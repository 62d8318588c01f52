#include "output.h"

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "base/json_number.h"
#include "base/utf8.h"

namespace coolfusion::cli {

std::string SafeUtf8(const std::string& s) { return ToValidUtf8(s); }

nlohmann::json ModelReportsJson(const std::vector<ModelReport>& models) {
  nlohmann::json a = nlohmann::json::array();
  for (const ModelReport& m : models) {
    a.push_back({{"prompt_bits_per_byte", JsonNumber(m.prompt_bits_per_byte)},
                 {"prompt_bytes", m.prompt_bytes},
                 {"weight", m.weight},
                 {"sat_out", m.sat_out},
                 {"active", m.active}});
  }
  return a;
}

std::string WeightsLine(const Ensemble& e, const std::vector<ModelReport>& models) {
  std::string line = "[weights]";
  char buf[160];
  for (size_t v = 0; v < models.size(); ++v) {
    const ModelReport& m = models[v];
    const std::string stem =
        v < e.size() ? std::filesystem::path(e.info(v).path).stem().string() : std::string("?");
    char fit[64] = "prompt not measured";
    if (!std::isnan(m.prompt_bits_per_byte))
      std::snprintf(fit, sizeof fit, "%.3g bits/byte (%zu bytes)", m.prompt_bits_per_byte,
                    m.prompt_bytes);
    std::snprintf(buf, sizeof buf, "%s m%zu %s: %s weight %.3g%s", v ? " |" : "", v + 1,
                  stem.c_str(), fit, m.weight,
                  m.sat_out  ? " sat out"
                  : m.active ? ""
                             : " left out");
    line += buf;
  }
  return line;
}

std::string ParticipationLine(const Ensemble& e, const GenerationResult& r) {
  if (r.models.size() < 2) return "";
  double best = INFINITY;
  for (const ModelReport& m : r.models) {
    if (m.active && std::isfinite(m.prompt_bits_per_byte))
      best = std::min(best, m.prompt_bits_per_byte);
  }
  std::string took, sat, left;
  char buf[256];
  for (size_t v = 0; v < r.models.size(); ++v) {
    const ModelReport& m = r.models[v];
    const std::string& name = e.info(v).name;
    if (m.active) {
      std::snprintf(buf, sizeof buf, "%s%s (weight %.2g)", took.empty() ? "" : ", ", name.c_str(),
                    m.weight);
      took += buf;
    } else if (m.sat_out && !m.sat_out_for_prompt) {
      sat += (sat.empty() ? "" : ", ") + name +
             " (its weight=, times --calibrate's factor, is under --sit-out of the largest)";
    } else if (m.sat_out) {
      std::snprintf(buf, sizeof buf,
                    "%s%s (%.2g bits per byte of the prompt against %.2g: it reads this prompt "
                    "far worse)",
                    sat.empty() ? "" : ", ", name.c_str(), m.prompt_bits_per_byte, best);
      sat += buf;
    } else {
      left +=
          (left.empty() ? "" : ", ") + name + " (cannot encode the prompt or its context is full)";
    }
  }
  std::string line = "models: " + took;
  if (!sat.empty()) line += "; sat out: " + sat;
  if (!left.empty()) line += "; left out: " + left;
  return line;
}

nlohmann::json ResultJson(const Ensemble& e, const GenerateOptions& o, const GenerationResult& r) {
  using nlohmann::json;
  json j;
  j["text"] = SafeUtf8(r.text);
  j["stop_reason"] = StopReasonName(r.stop_reason);
  j["method"] = MethodName(o.method);
  json models = json::array();
  for (size_t i = 0; i < e.size(); ++i) models.push_back(e.info(i).path);
  j["models"] = models;
  json segs = json::array();
  for (const Segment& s : r.segments) {
    json js;
    js["text"] = SafeUtf8(s.text);
    js["winner"] = s.winner;
    js["aligned"] = s.aligned;
    if (s.merged) js["merged"] = true;
    json cands = json::array();
    for (const Candidate& c : s.candidates) {
      json jc;
      jc["model"] = c.writers.empty() ? -1 : c.writers.front();
      jc["writers"] = c.writers;
      jc["text"] = SafeUtf8(c.text);
      if (c.ends_generation) jc["ends_generation"] = true;
      json ppl = json::array();
      for (double p : c.ppl) ppl.push_back(JsonNumber(p));
      jc["ppl"] = ppl;
      jc["mean_ppl"] = JsonNumber(c.score);
      cands.push_back(jc);
    }
    js["candidates"] = cands;
    js["tokens_decoded"] = s.tokens_decoded;
    js["decode_calls"] = s.decode_calls;
    js["generate_ms"] = s.generate_ms;
    js["score_ms"] = s.score_ms;
    segs.push_back(js);
  }
  j["segments"] = segs;
  if (!r.answers.empty()) {
    json ans = json::array();
    for (size_t i = 0; i < r.answers.size(); ++i) {
      ans.push_back({{"text", SafeUtf8(r.answers[i])}, {"score", JsonNumber(r.answer_scores[i])}});
    }
    j["answers"] = ans;
  }
  j["n_new_tokens"] = r.n_new_tokens;
  j["score"] = ScoreRuleName(o.scoring.rule);
  j["prompt_weights"] = UsesPromptWeights(o.scoring);
  j["model_weights"] = ModelReportsJson(r.models);
  const Counters& c = r.counters;
  j["counters"] = {{"decode_calls", c.decode_calls},
                   {"tokens_decoded", c.tokens_decoded},
                   {"scoring_calls", c.scoring_calls},
                   {"candidates_scored", c.candidates_scored},
                   {"duplicate_candidates", c.duplicate_candidates},
                   {"retokenize_changes", c.retokenize_changes},
                   {"rollback_tokens", c.rollback_tokens},
                   {"boundary_checks", c.boundary_checks},
                   {"align_ms", (double)c.align_ns / 1e6},
                   {"merged_segments", c.merged_segments},
                   {"unencodable", c.unencodable},
                   {"prescored_tokens", c.prescored_tokens},
                   {"sat_out", c.sat_out},
                   {"gated_segments", c.gated_segments},
                   {"positions", c.positions},
                   {"fused_positions", c.fused_positions}};
  const Timings& t = r.timings;
  j["timings"] = {{"total_ms", t.total_ms},
                  {"prompt_ms", t.prompt_ms},
                  {"generate_ms", t.generate_ms},
                  {"score_ms", t.score_ms},
                  {"decode_ms", t.decode_ms},
                  {"prompt_fit_ms", t.prompt_fit_ms},
                  {"tokens_per_s", t.total_ms > 0 ? r.n_new_tokens * 1000.0 / t.total_ms : 0.0}};
  j["warnings"] = r.warnings;
  return j;
}

std::string TraceLine(size_t step, const Segment& seg) {
  std::string line = "[step " + std::to_string(step) + "] winner=m" +
                     std::to_string(seg.winner + 1) + " " +
                     nlohmann::json(SafeUtf8(seg.text)).dump();
  auto writers = [](const Candidate& c) {
    std::string w;
    for (int v : c.writers) w += (w.empty() ? "m" : " m") + std::to_string(v + 1);
    return w;
  };
  char buf[128];
  if (seg.candidates.size() == 1) {
    // Nothing was scored: every perplexity would be NaN.
    const Candidate& c = seg.candidates[0];
    line += (c.writers.size() > 1 ? " | all agreed (" : " | one candidate (") + writers(c) + ")";
  } else {
    for (size_t i = 0; i < seg.candidates.size(); ++i) {
      const Candidate& c = seg.candidates[i];
      line += (i == (size_t)seg.winning_candidate) ? " | *c" : " | c";
      line += std::to_string(i + 1) + " by " + writers(c) + " " +
              nlohmann::json(SafeUtf8(c.text)).dump() + " ppl=[";
      for (size_t v = 0; v < c.ppl.size(); ++v) {
        if (std::isnan(c.ppl[v]))
          std::snprintf(buf, sizeof buf, "%s-", v ? "," : "");
        else
          std::snprintf(buf, sizeof buf, "%s%.3g", v ? "," : "", c.ppl[v]);
        line += buf;
      }
      std::snprintf(buf, sizeof buf, "] score=%.4g", c.score);
      line += buf;
    }
    if (!seg.weights.empty()) {
      line += " | w=[";
      for (size_t v = 0; v < seg.weights.size(); ++v) {
        std::snprintf(buf, sizeof buf, "%s%.3g", v ? "," : "", seg.weights[v]);
        line += buf;
      }
      line += "]";
    }
    if (seg.gated) line += " | gated: the leading model was sure";
  }
  std::snprintf(buf, sizeof buf, " | gen %.2f ms, score %.2f ms", seg.generate_ms, seg.score_ms);
  line += buf;
  return line;
}

}  // namespace coolfusion::cli
