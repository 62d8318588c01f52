#include "fusion/options.h"

#include <coolfusion/engine.h>

#include <cmath>

#include "base/utf8.h"
#include "fusion/methods/registry.h"

namespace coolfusion {

Status CheckOptions(const GenerateOptions& o, size_t n_models) {
  if (o.max_new_tokens <= 0 && o.max_new_tokens != kNoTokenLimit)
    return Status::InvalidArgument("-n must be > 0, or -1 for no limit");
  if (o.max_new_tokens > kMaxNewTokens)
    return Status::InvalidArgument("-n is absurdly large (max 16777216; -1: no limit)");
  if (o.max_segment_tokens <= 0) return Status::InvalidArgument("max segment tokens must be > 0");
  if (o.sampling.temperature < 0) return Status::InvalidArgument("--temp must be >= 0");
  if (!(o.sampling.top_p > 0 && o.sampling.top_p <= 1))
    return Status::InvalidArgument("--top-p must be in (0, 1]");
  const SamplingOptions& so = o.sampling;
  if (so.top_k < 0) return Status::InvalidArgument("--top-k must be >= 0");
  if (!(so.min_p >= 0 && so.min_p <= 1))
    return Status::InvalidArgument("--min-p must be in [0, 1]");
  if (!(so.repeat_penalty > 0 && std::isfinite(so.repeat_penalty)))
    return Status::InvalidArgument("--repeat-penalty must be a number > 0");
  if (!std::isfinite(so.presence_penalty) || !std::isfinite(so.frequency_penalty))
    return Status::InvalidArgument("--presence-penalty and --frequency-penalty must be finite");
  if (so.repeat_last_n < -1 || so.repeat_last_n > (1 << 20))
    return Status::InvalidArgument("--repeat-last-n must be in [-1, 1048576]");
  for (const auto& s : o.stop) {
    if (s.empty()) return Status::InvalidArgument("a stop string is empty");
  }
  if (o.only_model >= (int)n_models) return Status::InvalidArgument("no such model");
  if (!(o.scoring.prompt_temp > 0) || !std::isfinite(o.scoring.prompt_temp))
    return Status::InvalidArgument("--prompt-temp must be a number > 0");
  if (!(o.scoring.prompt_evidence >= 0 && o.scoring.prompt_evidence <= 1000))
    return Status::InvalidArgument("--prompt-evidence must be a number in [0, 1000]");
  if (!(o.scoring.sit_out >= 0 && o.scoring.sit_out < 1))
    return Status::InvalidArgument("--sit-out must be a number in [0, 1)");
  if (!(o.scoring.sweetspan_ratio >= 1))
    return Status::InvalidArgument("--sweetspan-ratio must be >= 1");
  const PeerOptions& p = o.peer;
  if (!(p.gate >= 0 && p.gate <= 1)) return Status::InvalidArgument("--gate must be in (0, 1]");
  if (p.unite_top_k < 1 || p.unite_top_k > 1000)
    return Status::InvalidArgument("--unite-top-k must be in [1, 1000]");
  if (!(p.adafuse_margin >= 0 && p.adafuse_margin <= 1))
    return Status::InvalidArgument("--adafuse-margin must be in [0, 1]");
  if (p.adafuse_words < 1 || p.adafuse_words > 64 || p.adafuse_beams < 1 || p.adafuse_beams > 16)
    return Status::InvalidArgument(
        "--adafuse-words must be in [1, 64] and --adafuse-beams in [1, 16]");
  if (p.safe_draft_tokens < 1 || p.safe_draft_tokens > 256)
    return Status::InvalidArgument("--safe-draft must be in [1, 256]");
  const MethodSpec* method = FindMethod(o.method);
  if (method == nullptr)
    return Status::InvalidArgument("unknown method '" + Utf8Excerpt(o.method, 64) + "' (one of " +
                                   MethodList() + ")");
  CF_RETURN_IF_ERROR(CheckMethodOptions(*method, o));
  return Status::Ok();
}

const char* StopReasonName(StopReason r) {
  switch (r) {
    case StopReason::kEndOfGeneration: return "eog";
    case StopReason::kStopString: return "stop";
    case StopReason::kMaxTokens: return "length";
    case StopReason::kContextFull: return "context";
    case StopReason::kCancelled: return "cancelled";
  }
  return "unknown";
}

bool ParseScoreRule(std::string_view name, ScoreRule* out) {
  if (name == "auto")
    *out = ScoreRule::kAuto;
  else if (name == "mean")
    *out = ScoreRule::kMeanPpl;
  else if (name == "geomean")
    *out = ScoreRule::kGeoMeanPpl;
  else if (name == "sweetspan")
    *out = ScoreRule::kSweetSpan;
  else if (name == "median")
    *out = ScoreRule::kMedianPpl;
  else
    return false;
  return true;
}

const char* ScoreRuleName(ScoreRule r) {
  switch (r) {
    case ScoreRule::kAuto: return "auto";
    case ScoreRule::kMeanPpl: return "mean";
    case ScoreRule::kGeoMeanPpl: return "geomean";
    case ScoreRule::kSweetSpan: return "sweetspan";
    case ScoreRule::kMedianPpl: return "median";
  }
  return "unknown";
}

namespace {
bool Resolve(Switch s, const ScoringOptions& o) {
  switch (s) {
    case Switch::kOn: return true;
    case Switch::kOff: return false;
    case Switch::kDefault: break;
  }
  return o.rule == ScoreRule::kAuto;
}
}  // namespace

bool UsesPromptWeights(const ScoringOptions& o) { return Resolve(o.prompt_weights, o); }
bool UsesWordEnds(const ScoringOptions& o) { return Resolve(o.word_end, o); }
bool UsesPerWord(const ScoringOptions& o) { return Resolve(o.per_word, o); }
bool UsesConfidence(const ScoringOptions& o) { return Resolve(o.confidence, o); }

}  // namespace coolfusion
