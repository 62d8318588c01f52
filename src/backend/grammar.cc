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
}  // namespace

Status Grammar::Create(const LlamaModel& lm, const std::string& gbnf,
                       std::unique_ptr<Grammar>* out) {
  CF_RETURN_IF_ERROR(CheckGrammarLimits(gbnf));
  ClearLastBackendError();
  llama_sampler* s = llama_sampler_init_grammar(static_cast<const llama_vocab*>(lm.vocab_handle()),
                                                gbnf.c_str(), "root");
  if (s == nullptr) {
    std::string why = FirstBackendErrorOnThisThread();
    const std::string prefix = "parse: error parsing grammar: ";
    if (const size_t at = why.find(prefix); at != std::string::npos)
      why = why.substr(at + prefix.size());
    if (why.empty()) why = "it does not parse";
    return Status::InvalidArgument("grammar: " + why);
  }
  out->reset(new Grammar(lm, s));
  return Status::Ok();
}

Grammar::~Grammar() { llama_sampler_free(s_); }

std::unique_ptr<Grammar> Grammar::Clone() const {
  return std::unique_ptr<Grammar>(new Grammar(*lm_, llama_sampler_clone(s_)));
}

bool Grammar::Allows(Token t) const {
  llama_token_data d{t, 0.0f, 0.0f};
  llama_token_data_array a{&d, 1, -1, false};
  llama_sampler_apply(s_, &a);
  return d.logit != kMinusInf;
}

bool Grammar::Complete() const { return lm_->eos() >= 0 && Allows(lm_->eos()); }

void Grammar::Accept(Token t) { llama_sampler_accept(s_, t); }

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
  llama_sampler_apply(s_, &a);
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
