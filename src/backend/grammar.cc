#include "backend/grammar.h"

#include <json-schema-to-grammar.h>
#include <llama.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <exception>
#include <limits>
#include <tuple>

#include "backend/grammar_limits.h"
#include "backend/log.h"
#include "base/utf8.h"

namespace coolfusion {

namespace {
constexpr float kMinusInf = -std::numeric_limits<float>::infinity();
using Clock = std::chrono::steady_clock;
}  // namespace

// One guarded call: its deadline, and why the guard stopped it.
struct GrammarBudget::Call {
  GrammarBudget* budget;
  Clock::time_point deadline;
  bool timed_out = false;
  bool cancelled = false;
};

GrammarBudget::GrammarBudget(size_t max_stacks, int call_ms, std::function<bool()> cancelled)
    : max_stacks_(max_stacks), call_ms_(call_ms), cancelled_(std::move(cancelled)) {}

Status GrammarBudget::error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return error_;
}

void GrammarBudget::Fail(Status why) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!error_.ok()) return;  // the first reason stands
  error_ = std::move(why);
  failed_.store(true, std::memory_order_release);
}

bool GrammarBudget::PollCancelled() {
  if (!cancelled_) return false;
  std::unique_lock<std::mutex> lock(poll_mu_, std::try_to_lock);
  if (!lock.owns_lock()) return false;  // another thread is asking right now
  const auto now = Clock::now();
  if (now - last_poll_ < std::chrono::milliseconds(50)) return false;
  last_poll_ = now;
  return cancelled_();
}

bool GrammarBudget::ShouldAbort(void* data) {
  auto* call = static_cast<Call*>(data);
  if (call->budget->failed()) return true;  // another grammar of the request failed
  if (Clock::now() > call->deadline) {
    call->timed_out = true;
    return true;
  }
  if (call->budget->PollCancelled()) {
    call->cancelled = true;
    return true;
  }
  return false;
}

// Sets the calling thread's grammar guard for one call and clears it after.
class ThreadGuard {
 public:
  ThreadGuard(size_t max_stacks, void* call, bool (*abort)(void*)) {
    llama_grammar_set_thread_guard(max_stacks, abort, call);
  }
  ~ThreadGuard() { llama_grammar_set_thread_guard(0, nullptr, nullptr); }
  ThreadGuard(const ThreadGuard&) = delete;
  ThreadGuard& operator=(const ThreadGuard&) = delete;
};

Status GrammarBudget::Stopped(const Call& call, const std::string& what_took) const {
  if (call.cancelled) return Status::Cancelled("grammar: the request was cancelled");
  if (call.timed_out)
    return Status::InvalidArgument("grammar: " + what_took + " took more than " +
                                   std::to_string(call_ms_) + " ms");
  return Status::Ok();
}

template <typename F>
bool Grammar::Guarded(F&& f) const {
  GrammarBudget& b = *budget_;
  if (b.failed()) return false;
  GrammarBudget::Call call{&b, Clock::now() + std::chrono::milliseconds(b.call_ms_)};
  try {
    ThreadGuard guard(b.max_stacks_, &call, &GrammarBudget::ShouldAbort);
    f();
    return true;
  } catch (const std::exception& e) {
    Status why = b.Stopped(call, "one step of it");
    if (!why.ok() && why.code() != Status::Code::kCancelled)
      why = Status::InvalidArgument(why.message() + " (it is too ambiguous to follow)");
    // Stopped because another grammar of the request failed: its reason stands.
    if (why.ok() && !b.failed()) why = Status::InvalidArgument(std::string("grammar: ") + e.what());
    if (!why.ok()) b.Fail(std::move(why));
    return false;
  }
}

Status Grammar::Create(const LlamaModel& lm, const std::string& gbnf, std::unique_ptr<Grammar>* out,
                       std::shared_ptr<GrammarBudget> budget) {
  CF_RETURN_IF_ERROR(CheckGrammarLimits(gbnf));
  if (budget == nullptr) budget = std::make_shared<GrammarBudget>();
  if (budget->failed()) return budget->error();
  ClearLastBackendError();
  GrammarBudget::Call call{budget.get(),
                           Clock::now() + std::chrono::milliseconds(budget->call_ms_)};
  llama_sampler* s = nullptr;
  {
    ThreadGuard guard(budget->max_stacks_, &call, &GrammarBudget::ShouldAbort);
    s = llama_sampler_init_grammar(static_cast<const llama_vocab*>(lm.vocab_handle()), gbnf.c_str(),
                                   "root");
  }
  if (s == nullptr) CF_RETURN_IF_ERROR(budget->Stopped(call, "building its start state"));
  if (s == nullptr) {
    std::string why = FirstBackendErrorOnThisThread();
    const std::string prefix = "parse: error parsing grammar: ";
    if (const size_t at = why.find(prefix); at != std::string::npos)
      why = why.substr(at + prefix.size());
    if (why.empty()) why = "it does not parse";
    return Status::InvalidArgument("grammar: " + why);
  }
  out->reset(new Grammar(lm, s, std::move(budget)));
  return Status::Ok();
}

Grammar::~Grammar() { llama_sampler_free(s_); }

std::unique_ptr<Grammar> Grammar::Clone() const {
  return std::unique_ptr<Grammar>(new Grammar(*lm_, llama_sampler_clone(s_), budget_));
}

bool Grammar::Allows(Token t) const {
  llama_token_data d{t, 0.0f, 0.0f};
  llama_token_data_array a{&d, 1, -1, false};
  return Guarded([&] { llama_sampler_apply(s_, &a); }) && d.logit != kMinusInf;
}

bool Grammar::Complete() const { return lm_->eos() >= 0 && Allows(lm_->eos()); }

void Grammar::Accept(Token t) {
  Guarded([&] { llama_sampler_accept(s_, t); });
}

bool Grammar::AcceptText(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const size_t len = Utf8SequenceLength((unsigned char)text[i]);
    Token t = len > 1 && i + len <= text.size() ? lm_->CharToken(text.substr(i, len)) : -1;
    size_t step = len;
    if (t < 0) {  // one byte at a time (byte-fallback and byte-level vocabularies)
      t = lm_->CharToken(text.substr(i, 1));
      step = 1;
    }
    if (t < 0 || !Allows(t)) return false;
    Accept(t);
    i += step;
  }
  return true;
}

int Grammar::Mask(float* logits) const {
  const int n = lm_->n_vocab();
  std::vector<llama_token_data> cur;
  cur.reserve(n);
  for (Token t = 0; t < n; ++t) {
    if (logits[t] != kMinusInf) cur.push_back({t, logits[t], 0.0f});
  }
  llama_token_data_array a{cur.data(), cur.size(), -1, false};
  if (!Guarded([&] { llama_sampler_apply(s_, &a); })) {
    for (const llama_token_data& d : cur) logits[d.id] = kMinusInf;
    return 0;
  }
  int left = 0;
  for (const llama_token_data& d : cur) {
    if (d.logit == kMinusInf) {
      logits[d.id] = kMinusInf;
    } else {
      ++left;
    }
  }
  return left;
}

Token Grammar::ClosingToken(const float* logits) const {
  const Token eos = lm_->eos();
  if (eos >= 0 && logits[eos] != kMinusInf && Complete()) return eos;
  Token best = -1;
  std::tuple<int, size_t, float> best_key{};
  for (Token t = 0; t < lm_->n_vocab(); ++t) {
    if (logits[t] == kMinusInf || lm_->IsEog(t)) continue;
    const std::string_view p = lm_->Piece(t);
    if (p.empty()) continue;
    const int rank = p[0] == '"' ? 0 : p[0] == ']' ? 1 : p[0] == '}' ? 2 : -1;
    if (rank < 0) continue;
    const std::tuple<int, size_t, float> key{rank, p.size(), -logits[t]};
    if (best < 0 || key < best_key) {
      best = t;
      best_key = key;
    }
  }
  return best;
}

namespace {

// The converter's "JSON schema conversion failed:\n..." as one line.
std::string OneLine(std::string why) {
  while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
  for (char& c : why) {
    if (c == '\n') c = ' ';
  }
  return why;
}

}  // namespace

Status ConvertJsonSchema(const std::string& schema_json, std::string* gbnf) {
  std::vector<std::pair<std::string, std::string>> patterns;
  CF_RETURN_IF_ERROR(CheckJsonSchemaLimits(schema_json, &patterns));
  // Each regex alone first, so that one the converter cannot follow (patch 0006 makes
  // that an error, not "any string") is refused by its path.
  for (const auto& [path, pattern] : patterns) {
    try {
      json_schema_to_grammar(common_json{{"type", "string"}, {"pattern", pattern}},
                             /*force_gbnf=*/true);
    } catch (const std::exception& e) {
      std::string why = OneLine(e.what());
      const std::string prefix = "JSON schema conversion failed: ";
      if (why.rfind(prefix, 0) == 0) why.erase(0, prefix.size());
      return Status::InvalidArgument("json_schema: " + path + ": " + why);
    }
  }
  try {
    const common_json schema = common_json::parse(schema_json);
    if (!schema.is_object())
      return Status::InvalidArgument("json_schema: it must be a JSON object");
    *gbnf = json_schema_to_grammar(schema, /*force_gbnf=*/true);
  } catch (const std::exception& e) {
    return Status::InvalidArgument("json_schema: " + OneLine(e.what()));
  }
  return Status::Ok();
}

const std::string& JsonObjectGbnf() {
  static const std::string* g = [] {
    auto* s = new std::string;
    Status st = ConvertJsonSchema(R"({"type": "object"})", s);
    if (!st.ok()) std::abort();  // a fixed, supported schema
    return s;
  }();
  return *g;
}

}  // namespace coolfusion
