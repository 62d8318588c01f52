// Grammars: llama.cpp's grammar sampler over each vocabulary (backend/grammar.h), JSON
// schemas through llama.cpp's converter, and constrained fusion across tokenizers.
#include "backend/grammar.h"

#include <coolfusion/engine.h>
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "support/open.h"
#include "support/paths.h"
#include "support/vocab.h"

namespace coolfusion {
namespace {

using testing::BoundaryVocabs;
using testing::Open;
using testing::Shared;
using testing::Tiny;
using testing::Vocab;
using testing::Zoo;

// An object with a string, an integer, an enum and an array of strings; some required.
const char kSchema[] = R"({"type": "object", "properties": {
  "name": {"type": "string"}, "age": {"type": "integer"},
  "color": {"enum": ["red", "green", "blue"]},
  "tags": {"type": "array", "items": {"type": "string"}}},
  "required": ["name", "age", "color"]})";

// The first token whose piece is exactly `piece`, -1 if none.
Token TokenOf(const LlamaModel& lm, std::string_view piece) {
  for (Token t = 0; t < lm.n_vocab(); ++t) {
    if (!lm.IsControl(t) && lm.Piece(t) == piece) return t;
  }
  return -1;
}

TEST(Grammar, AGrammarThatDoesNotParseSaysWhy) {
  auto lm = testing::LoadVocabOnly("gpt-2");
  ASSERT_TRUE(lm);
  std::unique_ptr<Grammar> g;
  Status st = Grammar::Create(*lm, "root ::= x", &g);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(st.message(), "grammar: Undefined rule identifier 'x'");
  st = Grammar::Create(*lm, "root = \"a\"", &g);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("expecting ::="), std::string::npos) << st.message();
  EXPECT_TRUE(Grammar::Create(*lm, "root ::= \"a\"", &g).ok());
}

TEST(Grammar, AbsurdGrammarsAndSchemasAreClearErrors) {
  auto lm = testing::LoadVocabOnly("gpt-2");
  ASSERT_TRUE(lm);
  std::unique_ptr<Grammar> g;
  // llama.cpp's parser recurses: nested parentheses would overflow the stack.
  const std::string deep =
      "root ::= " + std::string(100000, '(') + "\"a\"" + std::string(100000, ')');
  Status st = Grammar::Create(*lm, deep, &g);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("grammar: it is ", 0), 0u) << st.message();
  const std::string nested = "root ::= " + std::string(300, '(') + "\"a\"" + std::string(300, ')');
  EXPECT_EQ(Grammar::Create(*lm, nested, &g).message(),
            "grammar: parentheses nested deeper than 256");
  const std::string quoted = "root ::= \"" + std::string(300, '(') + "\"";  // in a literal
  EXPECT_TRUE(Grammar::Create(*lm, quoted, &g).ok());
  std::string schema;
  for (int i = 0; i < 100000; ++i) schema += R"({"type": "array", "items": )";
  schema += R"({"type": "string"})" + std::string(100000, '}');
  std::string gbnf;
  EXPECT_EQ(JsonSchemaToGrammar(schema, &gbnf).message(),
            "json_schema: nested deeper than 64 levels");
}

TEST(Grammar, FollowsTextOnEveryVocabulary) {
  for (const std::string& name : BoundaryVocabs()) {
    SCOPED_TRACE(name);
    auto lm = testing::LoadVocabOnly(name);
    ASSERT_TRUE(lm);
    std::unique_ptr<Grammar> g;
    ASSERT_TRUE(Grammar::Create(*lm, R"(root ::= "{\"a\": " [0-9]+ "}" | "日本")", &g).ok());
    std::unique_ptr<Grammar> fresh = g->Clone();
    EXPECT_FALSE(g->Complete());
    ASSERT_TRUE(g->AcceptText("{\"a\": 1"));
    EXPECT_FALSE(g->Complete());
    const Token close = TokenOf(*lm, "}"), x = TokenOf(*lm, "x");
    ASSERT_GE(close, 0);
    ASSERT_GE(x, 0);
    EXPECT_TRUE(g->Allows(close));
    EXPECT_FALSE(g->Allows(x));
    std::unique_ptr<Grammar> before_end = g->Clone();
    ASSERT_TRUE(g->AcceptText("2}"));
    EXPECT_TRUE(g->Complete());
    EXPECT_FALSE(before_end->Complete());  // a clone keeps its own state
    EXPECT_FALSE(fresh->Clone()->AcceptText("{\"b\""));
    std::unique_ptr<Grammar> cjk = fresh->Clone();
    ASSERT_TRUE(cjk->AcceptText("日本"));  // multi-byte characters, by token or by byte
    EXPECT_TRUE(cjk->Complete());
  }
}

TEST(Grammar, MaskLeavesOnlyWhatMayFollowAndClosingPrefersAQuote) {
  auto lm = testing::LoadVocabOnly("llama-bpe");
  ASSERT_TRUE(lm);
  std::unique_ptr<Grammar> g;
  ASSERT_TRUE(Grammar::Create(*lm, R"(root ::= "{\"a\": " [0-9]+ "}")", &g).ok());
  ASSERT_TRUE(g->AcceptText("{\"a\": "));
  std::vector<float> logits(lm->n_vocab(), 0.0f);
  const int left = g->Mask(logits.data());
  EXPECT_GT(left, 9);
  EXPECT_LT(left, lm->n_vocab() / 10);
  for (Token t = 0; t < lm->n_vocab(); ++t) {
    if (logits[t] == 0.0f) {
      const std::string_view p = lm->Piece(t);
      ASSERT_FALSE(p.empty());
      EXPECT_TRUE(p[0] >= '0' && p[0] <= '9') << p;
    }
  }
  std::unique_ptr<Grammar> j;
  ASSERT_TRUE(Grammar::Create(*lm, JsonObjectGrammar(), &j).ok());
  ASSERT_TRUE(j->AcceptText("{\"k\": \"abc"));
  std::vector<float> all(lm->n_vocab(), 0.0f);
  ASSERT_GT(j->Mask(all.data()), 0);
  const Token c = j->ClosingToken(all.data());
  ASSERT_GE(c, 0);
  EXPECT_EQ(lm->Piece(c), "\"");  // the shortest piece that closes the string
  // Once the object is complete (only whitespace or the end may follow): the end.
  ASSERT_TRUE(j->AcceptText("\"}"));
  std::vector<float> done(lm->n_vocab(), 0.0f);
  ASSERT_GT(j->Mask(done.data()), 1);
  EXPECT_EQ(j->ClosingToken(done.data()), lm->eos());
}

TEST(JsonSchema, ConvertsWithLlamaCppsConverterOrSaysWhyNot) {
  std::string gbnf;
  ASSERT_TRUE(JsonSchemaToGrammar(kSchema, &gbnf).ok());
  EXPECT_NE(gbnf.find("root ::="), std::string::npos);
  EXPECT_NE(gbnf.find("\"\\\"red\\\"\""), std::string::npos) << gbnf;  // the enum's values
  auto lm = testing::LoadVocabOnly("qwen2");
  ASSERT_TRUE(lm);
  std::unique_ptr<Grammar> g;
  ASSERT_TRUE(Grammar::Create(*lm, gbnf, &g).ok());
  ASSERT_TRUE(g->AcceptText(R"({"name": "x", "age": 3, "color": "red"})"));
  EXPECT_TRUE(g->Complete());
  ASSERT_TRUE(Grammar::Create(*lm, gbnf, &g).ok());
  EXPECT_FALSE(g->AcceptText(R"({"name": "x", "age": 3, "color": "pink")"));
  Status st = JsonSchemaToGrammar("[1]", &gbnf);
  EXPECT_EQ(st.message(), "json_schema: it must be a JSON object");
  st = JsonSchemaToGrammar("{bad", &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(st.message().rfind("json_schema: ", 0), 0u) << st.message();
  st = JsonSchemaToGrammar(R"({"properties": {"x": {"$ref": "#/defs/none"}}})", &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("#/defs/none"), std::string::npos) << st.message();
}

Request SchemaRequest(const std::string& prompt, int max_tokens = 160) {
  Request r;
  r.prompt = prompt;
  r.options.max_new_tokens = max_tokens;
  EXPECT_TRUE(JsonSchemaToGrammar(kSchema, &r.options.grammar).ok());
  return r;
}

// The output parses and follows kSchema; generation ended because the grammar did.
void ExpectSchemaJson(const GenerationResult& g) {
  EXPECT_EQ(g.stop_reason, StopReason::kEndOfGeneration) << g.text;
  const nlohmann::json j = nlohmann::json::parse(g.text, nullptr, false);
  ASSERT_TRUE(j.is_object()) << g.text;
  ASSERT_TRUE(j.contains("name") && j["name"].is_string()) << g.text;
  ASSERT_TRUE(j.contains("age") && j["age"].is_number_integer()) << g.text;
  ASSERT_TRUE(j.contains("color") && j["color"].is_string()) << g.text;
  EXPECT_TRUE(j["color"] == "red" || j["color"] == "green" || j["color"] == "blue") << g.text;
  if (j.contains("tags")) {
    ASSERT_TRUE(j["tags"].is_array()) << g.text;
    for (const auto& t : j["tags"]) EXPECT_TRUE(t.is_string()) << g.text;
  }
  for (const auto& [k, v] : j.items()) {
    EXPECT_TRUE(k == "name" || k == "age" || k == "color" || k == "tags") << g.text;
  }
}

#ifdef COOLFUSION_SANITIZED
const char* const kPrompts[] = {"1 + 2 ="};
#else
const char* const kPrompts[] = {"Once upon a time", "Tom said", "The cat",
                                "1 + 2 =", "A girl named"};
#endif

TEST(GrammarFusion, FusedAnswersAreSchemaJsonAcrossTokenizers) {
  const std::vector<std::vector<std::string>> sets = {
      {Shared("stories260K"), Shared("aidreams260K")},
      {Tiny("llama-spm"), Tiny("gpt-2"), Tiny("qwen2")},
      {Zoo("a"), Zoo("b"), Zoo("c")},
  };
  for (const auto& set : sets) {
    auto e = Open(set, 512);
    ASSERT_TRUE(e);
    for (const char* p : kPrompts) {
      for (std::string m : {"cool", "rerank"}) {
        SCOPED_TRACE(set[0] + " / " + p + " / " + MethodName(m));
        // The tiny models may wander in the whitespace the schema's grammar allows after a
        // value: 400 tokens lets every answer reach its end (stories260K + aidreams260K on
        // "1 + 2 =" takes 314 under the default).
        Request r = SchemaRequest(p, 400);
        r.options.method = m;
        GenerationResult g;
        Status st = e->Generate(r, nullptr, &g);
        ASSERT_TRUE(st.ok()) << st.message();
        ExpectSchemaJson(g);
      }
    }
  }
}

TEST(GrammarFusion, TwoOfTheSameModelGiveItsConstrainedGreedyText) {
  for (const std::string& a : {Shared("stories260K"), Tiny("gpt-2"), Tiny("llama-spm")}) {
    auto one = Open({a}, 512), two = Open({a, a}, 512);
    ASSERT_TRUE(one && two);
    for (const char* p : kPrompts) {
      SCOPED_TRACE(a + " / " + p);
      Request r = SchemaRequest(p);
      GenerationResult g1, g2, free_text;
      ASSERT_TRUE(one->Generate(r, nullptr, &g1).ok());
      ASSERT_TRUE(two->Generate(r, nullptr, &g2).ok());
      EXPECT_EQ(g1.text, g2.text);
      ExpectSchemaJson(g2);
      r.options.grammar.clear();
      ASSERT_TRUE(one->Generate(r, nullptr, &free_text).ok());
      EXPECT_NE(free_text.text.substr(0, 8), g1.text.substr(0, 8));  // the grammar mattered
    }
  }
}

TEST(GrammarFusion, AGrammarThatDoesNotParseIsRefusedBeforeGenerating) {
  auto e = Open({Tiny("gpt-2"), Tiny("qwen2")}, 256);
  ASSERT_TRUE(e);
  Request r;
  r.prompt = "x";
  r.options.grammar = "root ::= \"a\" b";
  EXPECT_EQ(e->Validate(r).message(), "grammar: Undefined rule identifier 'b'");
  GenerationResult g;
  EXPECT_EQ(e->Generate(r, nullptr, &g).code(), Status::Code::kInvalidArgument);
  r.options.grammar = R"(root ::= "yes" | "no")";
  ASSERT_TRUE(e->Generate(r, nullptr, &g).ok());
  EXPECT_TRUE(g.text == "yes" || g.text == "no") << g.text;
  EXPECT_EQ(g.stop_reason, StopReason::kEndOfGeneration);
}

TEST(Sampling, PenaltiesTopKAndMinPReachTheDrafts) {
  auto e = Open({Tiny("gpt-2"), Tiny("qwen2")}, 256);
  ASSERT_TRUE(e);
  auto run = [&](const SamplingOptions& s) {
    Request r;
    r.prompt = "Once upon a time";
    // Long enough for the penalties to meet a repetition (the text is cut at the budget).
    r.options.max_new_tokens = 96;
    r.options.sampling = s;
    // Scored without confidence weights: with them these random-weight models' fused text
    // has no token repeated within 96 (each step goes to the model surest of its own
    // random word), and a penalty has nothing to act on. What is tested is that the
    // sampling options reach the drafts, whatever the scoring. (Nor prompt weights: how
    // these random models read "time" moves the fused path, not what is tested.)
    r.options.scoring.confidence = Switch::kOff;
    r.options.scoring.prompt_weights = Switch::kOff;
    GenerationResult g;
    EXPECT_TRUE(e->Generate(r, nullptr, &g).ok());
    return g.text;
  };
  const std::string greedy = run(SamplingOptions());
  SamplingOptions rep, pres, freq;
  rep.repeat_penalty = 1.5f;
  pres.presence_penalty = 1.5f;
  freq.frequency_penalty = 1.5f;
  for (const SamplingOptions& s : {rep, pres, freq}) {
    const std::string t = run(s);
    EXPECT_NE(t, greedy);
    EXPECT_EQ(t, run(s));  // still greedy: deterministic
  }
  SamplingOptions hot, k1, p1;
  hot.temperature = 5.0f;
  hot.seed = 3;
  k1 = hot;
  k1.top_k = 1;  // only the most likely token: greedy again
  p1 = hot;
  p1.min_p = 1.0f;  // only tokens as likely as the best: greedy again
  EXPECT_NE(run(hot), greedy);
  EXPECT_EQ(run(k1), greedy);
  EXPECT_EQ(run(p1), greedy);
}

}  // namespace
}  // namespace coolfusion
