// Grammar: a GBNF grammar (llama.cpp's grammar sampler) over one model's vocabulary, and
// where in it the text written so far stands. In an ensemble each model has its own: it
// masks the model's drafts, and it follows the committed text whoever wrote it, fed one
// character at a time through the model's own single-character tokens (the grammar
// works on text, so any tokens that spell the text leave it in the same state).
//
// Not thread-safe; one per model and session (Clone for a draft).
#pragma once

#include <coolfusion/status.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "backend/llama_model.h"

struct llama_sampler;

namespace coolfusion {

class Grammar {
 public:
  // Parses `gbnf` (start rule "root") for lm's vocabulary. A grammar that does not parse is
  // InvalidArgument naming the parser's complaint ("grammar: expecting ::= at ..."); so is
  // one over 64 KiB, with parentheses nested deeper than 256 (llama.cpp's parser
  // recurses) or with a repetition over the limits of grammar_limits.h.
  static Status Create(const LlamaModel& lm, const std::string& gbnf,
                       std::unique_ptr<Grammar>* out);
  ~Grammar();
  Grammar(const Grammar&) = delete;
  Grammar& operator=(const Grammar&) = delete;

  std::unique_ptr<Grammar> Clone() const;

  // Whether token t may come next. An end-of-generation token: whether the text so far is
  // a complete sentence of the grammar.
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

 private:
  Grammar(const LlamaModel& lm, llama_sampler* s) : lm_(&lm), s_(s) {}
  const LlamaModel* lm_;
  llama_sampler* s_;
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
