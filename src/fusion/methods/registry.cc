#include "fusion/methods/registry.h"

#include <coolfusion/engine.h>

#include <iterator>

namespace coolfusion {

// Each defined in its method's file.
extern const MethodSpec kSingleMethod, kCoolMethod, kCoolShortestMethod, kRerankMethod,
    kCoolRerankMethod, kUniteMethod, kGacMethod, kAdaFuseMethod, kSafeMethod;

namespace {

// One row per method, in the order help and errors list them.
const MethodSpec* const kMethods[] = {
    &kSingleMethod, &kCoolMethod, &kCoolShortestMethod, &kRerankMethod, &kCoolRerankMethod,
    &kUniteMethod,  &kGacMethod,  &kAdaFuseMethod,      &kSafeMethod,
};
const MethodSpec& kDefault = kCoolMethod;

// "a, b, c or d" (or "a, b, c, d" with `last` ", ").
std::string Join(bool (*keep)(const MethodSpec&), const char* last) {
  std::string s;
  size_t left = 0;
  for (const MethodSpec* m : kMethods) left += keep(*m);
  for (const MethodSpec* m : kMethods) {
    if (!keep(*m)) continue;
    --left;
    s += m->name;
    if (left > 1) s += ", ";
    if (left == 1) s += last;
  }
  return s;
}

}  // namespace

const MethodSpec* FindMethod(std::string_view name) {
  if (name.empty()) return &kDefault;
  for (const MethodSpec* m : kMethods) {
    if (name == m->name) return m;
  }
  return nullptr;
}

const MethodSpec& DefaultMethodSpec() { return kDefault; }

const std::string& MethodsWithGate() {
  static const std::string list =
      Join([](const MethodSpec& m) { return m.auto_gate >= 0; }, " and ");
  return list;
}

const std::string& MethodsWithConfidence() {
  static const std::string list = Join([](const MethodSpec& m) { return m.confidence; }, " and ");
  return list;
}
const std::string& MethodsFollowingGrammar() {
  static const std::string list =
      Join([](const MethodSpec& m) { return m.no_grammar == nullptr && !m.one_model; }, " or ");
  return list;
}

Unhonoured FirstUnhonoured(const MethodSpec& m, const GenerateOptions& o) {
  if (o.only_model >= 0) return Unhonoured::kNone;
  if (m.no_grammar != nullptr && !o.grammar.empty()) return Unhonoured::kGrammar;
  if (m.auto_gate < 0 && o.peer.gate != 0) return Unhonoured::kGate;
  if (!m.confidence && o.scoring.confidence == Switch::kOn) return Unhonoured::kConfidence;
  if (m.greedy_only == nullptr) return Unhonoured::kNone;
  const SamplingOptions& so = o.sampling;
  if (so.temperature > 0) return Unhonoured::kTemperature;
  if (so.frequency_penalty != 0) return Unhonoured::kFrequencyPenalty;
  if (so.presence_penalty != 0) return Unhonoured::kPresencePenalty;
  if (so.repeat_penalty != 1) return Unhonoured::kRepeatPenalty;
  return Unhonoured::kNone;
}

Status CheckMethodOptions(const MethodSpec& m, const GenerateOptions& o) {
  const std::string name = m.name;
  switch (FirstUnhonoured(m, o)) {
    case Unhonoured::kNone: return Status::Ok();
    case Unhonoured::kGrammar:
      return Status::InvalidArgument(
          name + " cannot follow a grammar (response_format, --grammar, --json-schema): " +
          m.no_grammar + "; use " + MethodsFollowingGrammar());
    case Unhonoured::kTemperature:
      return Status::InvalidArgument(name + " " + m.greedy_only +
                                     ": --temp (temperature) must be 0");
    case Unhonoured::kFrequencyPenalty:
    case Unhonoured::kPresencePenalty:
    case Unhonoured::kRepeatPenalty:
      return Status::InvalidArgument(
          name +
          " does not apply repetition penalties (--repeat-penalty, presence_penalty, "
          "frequency_penalty)");
    case Unhonoured::kGate:
      return Status::InvalidArgument(
          name + " has no gate (--gate, coolfusion.gate): " + MethodsWithGate() + " have one");
    case Unhonoured::kConfidence:
      return Status::InvalidArgument(name +
                                     " does not weigh the models by their confidence "
                                     "(--confidence, coolfusion.confidence): " +
                                     MethodsWithConfidence() + " do");
  }
  return Status::Ok();
}

double GateOf(const MethodSpec& m, const GenerateOptions& o) {
  if (m.auto_gate < 0) return 1;
  if (o.peer.gate > 0) return o.peer.gate;
  return o.scoring.rule == ScoreRule::kAuto ? m.auto_gate : 1;
}

// The public names (engine.h).

const std::string& MethodList() {
  static const std::string list = Join([](const MethodSpec&) { return true; }, ", ");
  return list;
}

bool IsMethod(std::string_view name) { return !name.empty() && FindMethod(name) != nullptr; }

const char* MethodName(std::string_view name) {
  const MethodSpec* m = FindMethod(name);
  return m == nullptr ? "unknown" : m->name;
}

const char* DefaultMethod() { return kDefault.name; }

bool IsSingleModelMethod(std::string_view name) {
  const MethodSpec* m = FindMethod(name);
  return m != nullptr && m->one_model;
}

const char* SingleModelMethod() {
  for (const MethodSpec* m : kMethods) {
    if (m->one_model) return m->name;
  }
  return kDefault.name;
}

}  // namespace coolfusion
