// Limits on grammars and JSON schemas (backend/grammar_limits.h), checked before llama.cpp's
// parser and converter run, and patch 0005 (a repetition {m,n} with m > n is a parse error
// in llama.cpp itself).
#include "backend/grammar_limits.h"

#include <gtest/gtest.h>
#include <llama.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>

#include "backend/grammar.h"
#include "support/paths.h"
#include "support/vocab.h"

namespace coolfusion {
namespace {

#ifdef COOLFUSION_SANITIZED
constexpr double kSlow = 5;
#else
constexpr double kSlow = 1;
#endif

double SecondsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string Message(const Status& st) { return st.ok() ? "ok" : st.message(); }

TEST(GrammarLimits, RepetitionsOutsideTheLimitsAreRefusedBeforeParsing) {
  auto lm = testing::LoadVocabOnly("gpt-2");
  ASSERT_TRUE(lm);
  std::unique_ptr<Grammar> g;
  // llama.cpp would take an empty grammar for none.
  EXPECT_EQ(Message(Grammar::Create(*lm, "", &g)), "grammar: it is empty");
  const auto t0 = std::chrono::steady_clock::now();
  Status st = Grammar::Create(*lm, "root ::= \"a\"{3,2}", &g);
  EXPECT_EQ(Message(st), "grammar: repetition {3,2} at byte 12: its minimum is above its maximum");
  EXPECT_LT(SecondsSince(t0), 2 * kSlow);
  st = Grammar::Create(*lm, "root ::= [a-z]{ 0 , 2001 }", &g);
  EXPECT_EQ(Message(st),
            "grammar: repetition { 0 , 2001 } at byte 14: a count above 2000 is not supported");
  st = Grammar::Create(*lm, "root ::= \"a\"{99999999999999999999999}", &g);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(Message(st).find("a count above 2000"), std::string::npos) << Message(st);
  // Inside strings, classes and comments braces are text; in bounds a repetition parses.
  EXPECT_TRUE(Grammar::Create(*lm, "root ::= \"{3,2}\" [{}] x{2,3} # {3,2}\nx ::= \"b\"", &g).ok())
      << Message(Grammar::Create(*lm, "root ::= \"{3,2}\" [{}] x{2,3} # {3,2}\nx ::= \"b\"", &g));
  EXPECT_TRUE(Grammar::Create(*lm, "root ::= \"a\"{1999} \"b\"{0,} \"c\"{1,1999}", &g).ok());
  // "At most 2000" holds at 2000 (patch 0009: stock llama.cpp refused it with its own words).
  st = Grammar::Create(*lm, "root ::= \"a\"{2000} \"c\"{0,2000}", &g);
  EXPECT_TRUE(st.ok()) << Message(st);
  std::string gbnf;
  st = ConvertJsonSchema(R"({"type": "string", "maxLength": 2000})", &gbnf);
  ASSERT_TRUE(st.ok()) << Message(st);
  EXPECT_TRUE(Grammar::Create(*lm, gbnf, &g).ok());
}

// Patch 0005, without our check in front: llama.cpp's own parser refuses {3,2} at once
// (stock llama.cpp wraps max - min around and builds rules until memory runs out).
TEST(GrammarLimits, LlamaCppsParserRefusesAMinimumAboveTheMaximum) {
  llama_model_params mp = llama_model_default_params();
  mp.vocab_only = true;
  llama_model* m = llama_model_load_from_file(testing::Vocab("gpt-2").c_str(), mp);
  ASSERT_NE(m, nullptr);
  // In a child process with an alarm: without the patch the parser would take the
  // machine's memory (~200 MB/s) instead of failing this test.
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    alarm((unsigned)(5 * kSlow));
    llama_sampler* s =
        llama_sampler_init_grammar(llama_model_get_vocab(m), "root ::= \"a\"{3,2}", "root");
    _exit(s == nullptr ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status)) << "the parser did not return within " << 5 * kSlow
                                 << " s (killed by signal " << WTERMSIG(status) << ")";
  EXPECT_EQ(WIFEXITED(status) ? WEXITSTATUS(status) : -1, 0) << "the grammar parsed";
  llama_model_free(m);
}

Status Convert(const std::string& schema) {
  std::string gbnf;
  return ConvertJsonSchema(schema, &gbnf);
}

TEST(SchemaLimits, BoundsThatNoValueCanMeetAreRefusedNamingTheField) {
  EXPECT_EQ(Message(Convert(R"({"type": "string", "minLength": 10, "maxLength": 2})")),
            "json_schema: minLength (10) is above maxLength (2): no value can match");
  EXPECT_EQ(Message(Convert(R"({"type": "object", "properties": {"tags": {"type": "array",
              "items": {"type": "string"}, "minItems": 5, "maxItems": 1}}})")),
            "json_schema: properties.tags.minItems (5) is above maxItems (1): no value can match");
  EXPECT_EQ(Message(Convert(R"({"type": "integer", "minimum": 9, "maximum": 3})")),
            "json_schema: minimum (9) is above maximum (3): no value can match");
  EXPECT_EQ(
      Message(Convert(R"({"type": "integer", "exclusiveMinimum": 3, "exclusiveMaximum": 3})")),
      "json_schema: exclusiveMinimum (3) is equal to exclusiveMaximum (3): no value can match");
  EXPECT_EQ(Message(Convert(R"({"anyOf": [{"type": "string"},
              {"type": "array", "items": {"type": "string", "minLength": 3, "maxLength": 1}}]})")),
            "json_schema: anyOf[1].items.minLength (3) is above maxLength (1): no value can match");
  EXPECT_EQ(
      Message(Convert(R"({"type": "string", "minLength": 18446744073709551616})")),
      "json_schema: minLength must be an integer from 0 to 2000 (got 1.8446744073709552e+19)");
  EXPECT_EQ(Message(Convert(R"({"type": "string", "maxLength": -1})")),
            "json_schema: maxLength must be an integer from 0 to 2000 (got -1)");
  EXPECT_EQ(Message(Convert(R"({"type": "array", "maxItems": "3"})")),
            "json_schema: maxItems must be an integer from 0 to 2000 (got \"3\")");
  EXPECT_EQ(Message(Convert(R"({"type": "integer", "minimum": "0"})")),
            "json_schema: minimum must be a number (got \"0\")");
  // A property named like a keyword is a name, not a keyword.
  EXPECT_TRUE(Convert(R"({"type": "object", "properties": {"minLength": {"type": "string"}},
                         "required": ["minLength"]})")
                  .ok());
  // In bounds: converted.
  EXPECT_TRUE(Convert(R"({"type": "string", "minLength": 2, "maxLength": 10})").ok());
  EXPECT_TRUE(Convert(R"({"type": "integer", "minimum": 3, "maximum": 3})").ok());
}

// Never silently widened: what llama.cpp's converter would drop (it turns an unsupported
// regex into "any string", ignores bounds on numbers, unknown formats and a dozen keywords)
// is refused, naming the field.
TEST(SchemaLimits, ConstraintsTheConverterWouldDropAreRefusedNamingTheField) {
  const struct {
    const char* schema;
    const char* message;
  } cases[] = {
      {R"({"type": "string", "pattern": "abc"})",
       "json_schema: pattern: pattern is not supported (not anchored with '^' and '$')"},
      {R"({"type": "object", "properties": {"id": {"type": "string", "pattern": "^(?=a)b$"}}})",
       "json_schema: properties.id.pattern: pattern is not supported (unsupported group syntax)"},
      {R"({"type": "string", "pattern": "^(a{40}){60}$"})",
       "json_schema: pattern: repetition counts (nested ones multiplied) above 2000 are not "
       "supported"},
      {R"({"type": "string", "pattern": "^a{2001}$"})",
       "json_schema: pattern: repetition counts (nested ones multiplied) above 2000 are not "
       "supported"},
      {R"({"type": "string", "pattern": "^a+$", "maxLength": 3})",
       "json_schema: pattern with maxLength is not supported (only the pattern would be "
       "enforced)"},
      {R"({"type": "string", "pattern": 5})", "json_schema: pattern must be a string"},
      {R"({"type": "string", "format": "email"})",
       "json_schema: format \"email\" is not supported (supported: date, time, date-time, uuid)"},
      {R"({"type": "number", "minimum": 0})",
       "json_schema: minimum is supported only with \"type\": \"integer\""},
      {R"({"type": "integer", "maximum": 2.5})",
       "json_schema: maximum must be an integer within +-10^18 (got 2.5)"},
      {R"({"type": "integer", "minimum": 1e30})",
       "json_schema: minimum must be an integer within +-10^18 (got 1e+30)"},
      {R"({"type": "array", "items": {"type": "integer", "multipleOf": 3}})",
       "json_schema: items.multipleOf is not supported (the grammar cannot enforce it)"},
      {R"({"type": "array", "uniqueItems": true})",
       "json_schema: uniqueItems is not supported (the grammar cannot enforce it)"},
      {R"({"not": {"type": "string"}})",
       "json_schema: not is not supported (the grammar cannot enforce it)"},
      {R"({"type": "object", "maxProperties": 2})",
       "json_schema: maxProperties is not supported (the grammar cannot enforce it)"},
  };
  for (const auto& c : cases) EXPECT_EQ(Message(Convert(c.schema)), c.message) << c.schema;
  // What the converter does honour, and no-op values of dropped keywords, still convert.
  for (const char* ok : {R"({"type": "string", "pattern": "^[a-z]{2,8}(-[0-9]+)?$"})",
                         R"({"type": "string", "format": "date-time"})",
                         R"({"type": "array", "items": {"type": "string"}, "uniqueItems": false})",
                         R"({"type": "object", "minProperties": 0, "patternProperties": {}})"}) {
    EXPECT_TRUE(Convert(ok).ok()) << ok << ": " << Message(Convert(ok));
  }
}

std::string ObjectWithOptionalProperties(size_t n) {
  std::string s = R"({"type": "object", "properties": {)";
  for (size_t i = 0; i < n; ++i) {
    s += (i ? ", " : "") + std::string("\"p") + std::to_string(i) + "\": {\"type\": \"integer\"}";
  }
  return s + "}}";
}

TEST(SchemaLimits, ManyOptionalPropertiesAreRefusedAtOnce) {
  EXPECT_EQ(Message(Convert(ObjectWithOptionalProperties(101))),
            "json_schema: properties has 101 optional properties, more than the 100 supported "
            "(name more of them in \"required\")");
  // 2,000 took 11.8 s to convert, 10,000 never ended, 80,000 passed 3 GB.
  for (size_t n : {2000, 10000, 80000}) {
    const auto t0 = std::chrono::steady_clock::now();
    Status st = Convert(ObjectWithOptionalProperties(n));
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << n;
    EXPECT_EQ(Message(st).rfind("json_schema: ", 0), 0u) << Message(st);
    EXPECT_LT(SecondsSince(t0), 2 * kSlow) << n;
  }
  // At the limit the conversion is quick (its cost grows with the cube of the count).
  const auto t0 = std::chrono::steady_clock::now();
  Status st = Convert(ObjectWithOptionalProperties(kMaxSchemaOptionalProperties));
  EXPECT_TRUE(st.ok() || st.message().find("bytes, more than") != std::string::npos) << Message(st);
  EXPECT_LT(SecondsSince(t0), 2 * kSlow);
  // Required properties do not count as optional.
  std::string required = ObjectWithOptionalProperties(150);
  required.pop_back();
  required += ", \"required\": [";
  for (int i = 0; i < 100; ++i)
    required += (i ? ", " : "") + std::string("\"p") + std::to_string(i) + "\"";
  required += "]}";
  EXPECT_TRUE(CheckJsonSchemaLimits(required).ok()) << Message(CheckJsonSchemaLimits(required));
}

TEST(SchemaLimits, PropertiesAndEnumValuesAreCountedOverTheWholeSchema) {
  std::string s = R"({"type": "object", "properties": {)";
  for (int i = 0; i < 60; ++i) {
    s += (i ? ", " : "") + std::string("\"o") + std::to_string(i) +
         "\": " + ObjectWithOptionalProperties(90);
  }
  s += "}}";
  EXPECT_EQ(Message(CheckJsonSchemaLimits(s)).rfind("json_schema: more than 5000 properties", 0),
            0u)
      << Message(CheckJsonSchemaLimits(s));
  std::string e = R"({"enum": [)";
  for (int i = 0; i < 1001; ++i) e += (i ? ", " : "") + std::to_string(i);
  e += "]}";
  EXPECT_EQ(Message(CheckJsonSchemaLimits(e)),
            "json_schema: more than 1000 enum values in the schema (at enum)");
}

}  // namespace
}  // namespace coolfusion
