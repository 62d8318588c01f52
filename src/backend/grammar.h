// Grammar: a GBNF grammar (llama.cpp's grammar sampler) over one model's vocabulary, and
// where in it the text written so far stands. In an ensemble each model has its own: it
// masks the model's drafts, and it follows the committed text whoever wrote it, fed one
// character at a time through the model's own single-character tokens (the grammar
// works on text, so any tokens that spell the text leave it in the same state).
//
// Not thread-safe; one per model and session (Clone for a draft).
#pragma once

#include <coolfusion/status.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "backend/grammar_limits.h"
#include "backend/llama_model.h"

struct llama_sampler;

namespace coolfusion {

// What one request's grammars (every model's, and their clones) may take of llama.cpp's
// grammar engine, which can multiply its parse stacks without end on an ambiguous
// grammar: at most `max_stacks` stacks at once, at most `call_ms` per grammar call (a
// token's mask, an accept, the start state), and the work stops when `cancelled` (polled
// at most every 50 ms during a call, never concurrently) says so. The first limit hit fails
// every later call of every grammar sharing the budget (Allows false, Mask leaves
// nothing), so that the generation ends; error() says why. Thread-safe.
class GrammarBudget {
 public:
  explicit GrammarBudget(size_t max_stacks = kMaxGrammarStacks, int call_ms = kMaxGrammarCallMs,
                         std::function<bool()> cancelled = nullptr);
  bool failed() const { return failed_.load(std::memory_order_acquire); }
  // Why the work stopped: InvalidArgument ("grammar: ..."), or Cancelled when `cancelled`
  // said so; Ok while nothing failed.
  Status error() const;

 private:
  friend class Grammar;
  struct Call;
  static bool ShouldAbort(void* call);
  // Why the guard stopped `call`: Cancelled, or InvalidArgument "grammar: <what_took> took
  // more than <call_ms> ms"; Ok when it stopped for neither (a stack bound, or another
  // grammar of the request failing).
  Status Stopped(const Call& call, const std::string& what_took) const;
  bool PollCancelled();
  void Fail(Status why);

  const size_t max_stacks_;
  const int call_ms_;
  const std::function<bool()> cancelled_;
  std::mutex poll_mu_;
  std::chrono::steady_clock::time_point last_poll_;  // guarded by poll_mu_
  std::atomic<bool> failed_{false};
  mutable std::mutex mu_;
  Status error_;  // guarded by mu_
};

class Grammar {
 public:
  // Parses `gbnf` (start rule "root") for lm's vocabulary. A grammar that does not parse is
  // InvalidArgument naming the parser's complaint ("grammar: expecting ::= at ..."); so is
  // one over 64 KiB, with parentheses nested deeper than 256 (llama.cpp's parser
  // recurses), with a repetition over the limits of grammar_limits.h, or whose start state
  // breaks the budget's limits. `budget` null: a budget of its own with the defaults.
  static Status Create(const LlamaModel& lm, const std::string& gbnf, std::unique_ptr<Grammar>* out,
                       std::shared_ptr<GrammarBudget> budget = nullptr);
  ~Grammar();
  Grammar(const Grammar&) = delete;
  Grammar& operator=(const Grammar&) = delete;

  std::unique_ptr<Grammar> Clone() const;

  // Whether token t may come next. An end-of-generation token: whether the text so far is
  // a complete sentence of the grammar. Every call below does nothing (false, or all
  // masked) once the budget has failed.
  bool Allows(Token t) const;
  bool Complete() const;  // Allows(an end-of-generation token); false if the model has none
  // Advances past token t. REQUIRES: Allows(t) and t is not end-of-generation.
  void Accept(Token t);
  // Advances past `text`. False when the text leaves the grammar, or holds a character
  // this model has no single token for; the state is then unspecified (discard it).
  bool AcceptText(std::string_view text);
  // Sets logits[t] to -inf for every token of the vocabulary the grammar does not allow
  // next (tokens already at -inf are not examined). Returns how many remain.
  int Mask(float* logits) const;
  // Among the tokens left by Mask, the one that closes open structure soonest: a piece
  // starting with '"', then ']', then '}', shorter first, most likely first; -1 if none
  // such. What drafts use when the token budget runs low (session.h), so that JSON
  // closes before max_tokens instead of stopping in the middle of a string.
  Token ClosingToken(const float* masked_logits) const;

  const LlamaModel& model() const { return *lm_; }
  const GrammarBudget& budget() const { return *budget_; }

 private:
  Grammar(const LlamaModel& lm, llama_sampler* s, std::shared_ptr<GrammarBudget> budget)
      : lm_(&lm), s_(s), budget_(std::move(budget)) {}
  // Runs f (a call into llama.cpp's grammar) under the budget; false when the budget has
  // failed, before or during the call.
  template <typename F>
  bool Guarded(F&& f) const;

  const LlamaModel* lm_;
  llama_sampler* s_;
  std::shared_ptr<GrammarBudget> budget_;
};

// llama.cpp's JSON-schema-to-GBNF converter (its common library), for --json-schema and
// response_format. A schema that is not a JSON object, or that the converter does not
// support, or nested deeper than 64 levels, or over the limits of grammar_limits.h
// (checked before conversion), is InvalidArgument naming why. `schema_json` is
// the schema's JSON text.
Status ConvertJsonSchema(const std::string& schema_json, std::string* gbnf);

// The GBNF of any JSON object (response_format {"type": "json_object"}).
const std::string& JsonObjectGbnf();

}  // namespace coolfusion
