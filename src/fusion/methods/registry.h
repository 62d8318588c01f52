// The table of fusion methods: each method's name, how to make it, and what it needs of
// a request. The engine, the server and the tools read it; no code outside a method's own
// file (methods/NAME.cc, which defines its MethodSpec) and this table names a method.
//
// Adding a method: write methods/NAME.cc with a class derived from FusionMethod (method.h)
// and its `extern const MethodSpec kNameMethod`, then add one row to kMethods in
// registry.cc and the file to src/CMakeLists.txt (docs/design.md, "Adding a method").
#pragma once

#include <coolfusion/options.h>
#include <coolfusion/status.h>

#include <memory>
#include <string>
#include <string_view>

namespace coolfusion {

class FusionMethod;

struct MethodSpec {
  const char* name;  // as --method and coolfusion.method take it
  std::unique_ptr<FusionMethod> (*make)();
  // Generates with the first model that takes part, alone: no fusion, no prompt weights
  // (`eval` runs it once per model).
  bool one_model = false;
  // Reads the models' vocabulary union (MethodContext::vocab), built at first use.
  bool vocab_union = false;
  // Why the method cannot follow a grammar (--grammar, --json-schema, response_format);
  // null: it can.
  const char* no_grammar = nullptr;
  // Why the method picks the most likely text only: sampling (temperature) and repetition
  // penalties are refused; null: it honours them.
  const char* greedy_only = nullptr;
  // Drafts every model's text through Session::MakeDraft from the session's state, so
  // that token healing at the prompt's end (Session::Start's heal) applies; false: the
  // method reads the models' tokens or logits itself, and the prompt is not healed.
  bool token_healing = false;
  // The gate (PeerOptions::gate: the leading model's choice taken alone where it is that
  // sure) when a request leaves it unset, under --score auto; under an explicit rule it is
  // 1 (the ensemble decides everywhere: the papers' rules). < 0: the method has no gate
  // and a request that sets one is refused.
  double auto_gate = -1;
  // Weighs each model at each step by its confidence in its own candidate
  // (ScoringOptions::confidence); false: a request that turns it on is refused.
  bool confidence = false;
};

// The method `name` names ("": the default); null when none does.
const MethodSpec* FindMethod(std::string_view name);
const MethodSpec& DefaultMethodSpec();
// The methods that can follow a grammar and fuse, as a list for messages ("a, b or c").
const std::string& MethodsFollowingGrammar();
// The methods that have a gate, as a list for messages ("a, b and c").
const std::string& MethodsWithGate();
// The methods that weigh models by their confidence (MethodSpec::confidence), likewise.
const std::string& MethodsWithConfidence();

// An option of a request that its method cannot honour.
enum class Unhonoured {
  kNone,
  kGrammar,
  kTemperature,
  kFrequencyPenalty,
  kPresencePenalty,
  kRepeatPenalty,
  kGate,
  kConfidence,
};
// The first option of `o` (in the order above) that `m` cannot honour; kNone when it
// honours them all. A request for one model alone (only_model) is never refused here.
Unhonoured FirstUnhonoured(const MethodSpec& m, const GenerateOptions& o);
// The gate `o` asks of `m`: PeerOptions::gate, or when unset the method's default (see
// MethodSpec::auto_gate); 1 for a method without a gate.
double GateOf(const MethodSpec& m, const GenerateOptions& o);
// The engine's error for it (naming the CLI flags and request fields); Ok for kNone.
Status CheckMethodOptions(const MethodSpec& m, const GenerateOptions& o);

}  // namespace coolfusion
