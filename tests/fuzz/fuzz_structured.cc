// The schema and grammar path through the server's whole request handling (issue 31): a
// request body with a GBNF grammar or a JSON schema goes through ParseRequest, which
// compiles it in the sandbox (coolfusion-sandbox, a child process under hard limits), and
// then, as a session does, the grammar is started for two models' vocabularies under one
// GrammarBudget and followed for a few steps: Mask over logits derived from the input, the
// writer's best allowed token accepted, the other model following its text, a few bytes of
// the input tried after it.
//
// The first byte of an input chooses the body (bits 0-1):
//   0  {"prompt": ..., "grammar": <the rest as a string>}                    (/completion)
//   1  {"prompt": ..., "json_schema": <the rest as JSON, else as a string>}  (/completion)
//   2  {"messages": ..., "response_format": {"type": "json_schema", "json_schema":
//        {"name": "f", "schema": <the rest as JSON, else as a string>}}}     (/v1/chat/...)
//   3  the rest is the whole body (bit 2: a chat body)
//
// Checked, any of them a finding (__builtin_trap):
//   - a refusal is a 4xx with a message in valid UTF-8 (nlohmann's dump throws on anything
//     else: a 500), its JSON error body parses and is at most twice the body plus 4 KiB
//     (issue 31's finding 7: a 100 MB error answer); a 503 (the sandbox busy or missing,
//     an Internal error such as a leaked descriptor) cannot happen to one request at a
//     time, so it is a finding too;
//   - the sandbox's child neither died of a signal (other than its CPU or wall-clock kill)
//     nor reported undefined behaviour (its sanitizer's exit code is set to 77 here);
//   - a request that parses with a grammar: starting it for each model is Ok, or
//     InvalidArgument with a message, or Cancelled; every step stays within the budget; when
//     the budget fails its error is InvalidArgument "grammar: ..." (a 400 through
//     ErrorFromStatus) or Cancelled; a token that Mask left is accepted by the same state.
// Time and memory per input are bounded by the sandbox's limits (8 s wall, 5 s CPU, 1 GiB)
// and the budget here (200 ms per grammar call, the request "cancelled" after 1.5 s);
// scripts/fuzz.sh adds libFuzzer's -timeout and -rss_limit_mb above them, so that either
// firing is a finding, never a legitimate slow input.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "backend/grammar.h"
#include "backend/grammar_sandbox.h"
#include "backend/llama_model.h"
#include "base/utf8.h"
#include "fusion/constraint.h"
#include "server/openai.h"
#include "support/paths.h"

namespace {

using namespace coolfusion;
using Clock = std::chrono::steady_clock;

constexpr int kCallMs = 200;      // the budget's time per grammar call
constexpr int kRequestMs = 1500;  // then the request counts as cancelled (a client that left)
constexpr int kSteps = 6;         // simulated generation steps
constexpr int kSandboxUbExit = 77;

[[noreturn]] void Finding(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_structured: %s: %s\n", what, detail.substr(0, 2000).c_str());
  std::fflush(stderr);
  __builtin_trap();
}

// Two vocabularies as an ensemble has them: byte-level BPE and SentencePiece with byte
// fallback (vocab-only, loaded once).
const std::vector<std::unique_ptr<LlamaModel>>& Models() {
  static auto* v = [] {
    auto* out = new std::vector<std::unique_ptr<LlamaModel>>();
    for (const char* name : {"gpt-2", "llama-spm"}) {
      ModelOptions mo;
      mo.path = testing::Tiny(name);
      mo.vocab_only = true;
      std::unique_ptr<LlamaModel> p;
      if (!LlamaModel::Load(mo, 1, 0, &p).ok()) Finding("cannot load", mo.path);
      out->push_back(std::move(p));
    }
    return out;
  }();
  return *v;
}

std::string Show(const Status& st) {
  return "code " + std::to_string((int)st.code()) + ": " + st.message();
}

uint64_t Mix(uint64_t x) {  // splitmix64
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

// COOLFUSION_FUZZ_VERBOSE=1: one line per input saying how it ended (running seeds by hand).
bool Verbose() {
  static const bool v = std::getenv("COOLFUSION_FUZZ_VERBOSE") != nullptr;
  return v;
}

void ExpectBudget(const GrammarBudget& b) {
  if (Verbose())
    std::fprintf(stderr, "  budget: %s\n",
                 b.failed() ? Show(b.error()).substr(0, 200).c_str() : "ok");
  if (!b.failed()) return;
  const Status e = b.error();
  if (e.code() == Status::Code::kCancelled) return;
  if (e.code() != Status::Code::kInvalidArgument || e.message().rfind("grammar: ", 0) != 0)
    Finding("budget error", Show(e));
  const server::ApiError api = server::ErrorFromStatus(e);
  if (api.status != 400 || api.message.empty()) Finding("budget error as an answer", Show(e));
  (void)nlohmann::json::parse(server::ErrorBody(api));
}

// The steps of a generation under the request's grammar, as session.cc runs them.
void Follow(const std::string& gbnf, uint64_t seed, const std::string& tail) {
  const auto deadline = Clock::now() + std::chrono::milliseconds(kRequestMs);
  auto budget = std::make_shared<GrammarBudget>(kMaxGrammarStacks, kCallMs,
                                                [deadline] { return Clock::now() > deadline; });
  const auto& models = Models();
  std::vector<Constraint> c(models.size());
  std::vector<bool> active(models.size(), true);
  for (size_t m = 0; m < models.size(); ++m) {
    const Status st = c[m].Start(*models[m], gbnf, budget);
    if (st.ok()) continue;
    if (st.code() == Status::Code::kCancelled) return;
    // Parses in the sandbox but not here: a budget's limit, or a token id past this
    // vocabulary; either is a 400 naming the field.
    if (st.code() != Status::Code::kInvalidArgument || st.message().empty())
      Finding("starting the grammar", Show(st));
    ExpectBudget(*budget);
    return;
  }
  for (int step = 0; step < kSteps && !budget->failed(); ++step) {
    const size_t w = (size_t)step % models.size();
    if (!active[w]) continue;
    const LlamaModel& lm = *models[w];
    const Status begun = c[w].BeginDraft({});
    if (!begun.ok()) {
      if (!budget->failed()) Finding("BeginDraft", Show(begun));
      break;
    }
    std::vector<float> logits(lm.n_vocab());
    for (int t = 0; t < lm.n_vocab(); ++t)
      logits[t] = (float)(Mix(seed ^ ((uint64_t)step << 40) ^ (uint64_t)t) & 0xffff) / 4096.0f;
    c[w].Mask(logits.data());
    Token best = -1;
    for (int t = 0; t < lm.n_vocab(); ++t) {
      if (logits[t] == -std::numeric_limits<float>::infinity() || lm.IsEog(t)) continue;
      if (best < 0 || logits[t] > logits[best]) best = t;
    }
    if (Verbose()) std::fprintf(stderr, "  step %d: model %zu writes token %d\n", step, w, best);
    if (best < 0) break;  // only the end is left, or nothing (the budget failed)
    if (!c[w].draft()->Allows(best)) {
      if (budget->failed()) break;
      Finding("Mask left a token the draft does not allow", std::to_string(best));
    }
    c[w].Drafted(best);
    const std::string text(lm.Piece(best));
    const std::vector<Token> own = {best};
    if (!c[w].Commit(&own, text)) {
      if (budget->failed()) break;
      Finding("Mask left a token the committed state does not allow", std::to_string(best));
    }
    for (size_t o = 0; o < models.size(); ++o) {
      if (o != w && active[o]) active[o] = c[o].Commit(nullptr, text);  // false: cannot follow
    }
    // A few bytes of the input after it, and the end (a stop string's check).
    const size_t at = tail.empty() ? 0 : (size_t)(Mix(seed + step) % tail.size());
    const std::string probe = tail.substr(at, 1 + (size_t)(seed >> (step * 3)) % 4);
    for (size_t m = 0; m < models.size(); ++m) {
      if (active[m]) (void)c[m].Allows(probe, (seed >> step) & 1);
    }
  }
  ExpectBudget(*budget);
}

// The sandbox's own words for a child that died of a signal or of its sanitizer (exit code
// 77), at the start of the message: parse errors quote the input after their own words.
bool SandboxChildFailed(const std::string& message) {
  for (const char* field : {"grammar", "json_schema"}) {
    const std::string failed = std::string(field) + ": compiling it failed (";
    if (message.rfind(failed + "the compiler crashed", 0) == 0 ||
        message == failed + "exit code " + std::to_string(kSandboxUbExit) + ")")
      return true;
  }
  return false;
}

std::string AsString(const std::string& text) {
  return nlohmann::json(text).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// The text itself when it is JSON (accept() checks without building: no recursion on deep
// input here, the server's parser is the one under test), else the text as a string.
std::string JsonOrString(const std::string& text) {
  return nlohmann::json::accept(text) ? text : AsString(text);
}

}  // namespace

// Finds the sandbox before the first input (a missing one would make every schema a 503),
// and makes a sanitizer report in the child an exit code of its own, 77, with the deadly
// signals left as signals: the child's stderr is /dev/null, so its exit status is all the
// parent sees. The parent's sanitizer read its options at start; only the child sees these.
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (SandboxExecutable().empty()) Finding("setup", "coolfusion-sandbox not found");
  const std::string child =
      ":halt_on_error=1:abort_on_error=0:exitcode=" + std::to_string(kSandboxUbExit) +
      ":handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0"
      ":handle_sigill=0:detect_leaks=0";
  for (const char* var : {"UBSAN_OPTIONS", "ASAN_OPTIONS"}) {
    const char* was = std::getenv(var);
    setenv(var, ((was != nullptr ? std::string(was) : std::string()) + child).c_str(), 1);
  }
  Models();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  std::string body;
  bool chat = false;
  switch (data[0] & 3) {
    case 0: body = R"({"prompt": "a", "n_predict": 4, "grammar": )" + AsString(rest) + "}"; break;
    case 1:
      body = R"({"prompt": "a", "n_predict": 4, "json_schema": )" + JsonOrString(rest) + "}";
      break;
    case 2:
      chat = true;
      body = R"({"messages": [{"role": "user", "content": "x"}], "response_format": )"
             R"({"type": "json_schema", "json_schema": {"name": "f", "schema": )" +
             JsonOrString(rest) + "}}}";
      break;
    default: chat = (data[0] & 4) != 0; body = rest;
  }
  server::ApiRequest r;
  server::ApiError e;
  const std::vector<std::string> ids = {"coolfusion", "a", "b"};
  const bool parsed = server::ParseRequest(body, chat, server::Limits(), ids, &r, &e);
  if (Verbose())
    std::fprintf(stderr, "input: %zu bytes, mode %d: %s\n", size, data[0] & 3,
                 parsed ? ("parsed, grammar of " +
                           std::to_string(r.request.options.grammar.size()) + " bytes")
                              .c_str()
                        : (std::to_string(e.status) + " " + e.message.substr(0, 160)).c_str());
  if (!parsed) {
    if (e.status == 503) Finding("503 with one request at a time", e.message);
    if (e.status < 400 || e.status >= 500 || e.message.empty())
      Finding("refusal", std::to_string(e.status) + " " + e.message);
    if (SandboxChildFailed(e.message))
      Finding("the sandbox's child crashed or reported undefined behaviour", e.message);
    // nlohmann's dump throws on invalid UTF-8: the server would answer 500, not this 4xx.
    if (!IsValidUtf8(e.message)) Finding("a refusal's message is not valid UTF-8", e.message);
    const std::string answer = server::ErrorBody(e);
    (void)nlohmann::json::parse(answer);
    if (answer.size() > 4096 + 2 * body.size())
      Finding("error answer larger than the request", std::to_string(answer.size()));
    return 0;
  }
  const std::string& gbnf = r.request.options.grammar;
  if (gbnf.empty()) return 0;
  if (r.grammar_param.empty()) Finding("a grammar without the field it came from", gbnf);
  uint64_t seed = 0xcbf29ce484222325ULL;  // FNV-1a of the input
  for (size_t i = 0; i < size; ++i) seed = (seed ^ data[i]) * 0x100000001b3ULL;
  Follow(gbnf, seed, rest);
  return 0;
}
