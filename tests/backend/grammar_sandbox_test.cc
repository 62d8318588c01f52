// Hostile schemas and grammars (issue 31): the sandbox that compiles them in a child
// process (backend/grammar_sandbox.h), the root fixes in llama.cpp's converter (patch
// 0007), and the budget on the grammar engine at run time (patch 0008, GrammarBudget).
#include "backend/grammar_sandbox.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <string>
#include <thread>

#include "backend/grammar.h"
#include "base/utf8.h"
#include "support/vocab.h"

namespace coolfusion {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

bool Contains(const Status& st, const std::string& part) {
  return st.message().find(part) != std::string::npos;
}

// `ambiguity` copies of x in a row, x being five optional "a": the grammar engine keeps a
// parse stack for every way to read the a's so far.
std::string AmbiguousGrammar(int copies) {
  std::string g = "root ::=";
  for (int i = 0; i < copies; ++i) g += " x";
  return g + " \"b\"\nx ::= \"a\"? \"a\"? \"a\"? \"a\"? \"a\"?\n";
}

// A chain of n definitions, each a $ref to the next, reached from a property.
std::string RefChain(int n) {
  std::string defs;
  for (int i = 0; i < n; ++i)
    defs +=
        "\"d" + std::to_string(i) + "\": {\"$ref\": \"#/$defs/d" + std::to_string(i + 1) + "\"},";
  return R"({"type": "object", "properties": {"x": {"$ref": "#/$defs/d0"}}, "$defs": {)" + defs +
         "\"d" + std::to_string(n) + "\": {\"type\": \"integer\"}}}";
}

TEST(GrammarSandbox, ConvertsAndChecksWhatIsFine) {
  ASSERT_FALSE(SandboxExecutable().empty()) << "coolfusion-sandbox is not built";
  std::string gbnf;
  Status st = SandboxedJsonSchemaToGrammar(
      R"({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})", &gbnf);
  ASSERT_TRUE(st.ok()) << st.message();
  std::string same;
  ASSERT_TRUE(
      ConvertJsonSchema(
          R"({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]})",
          &same)
          .ok());
  EXPECT_EQ(gbnf, same);  // the converter's own output
  EXPECT_TRUE(SandboxedCheckGrammar("root ::= \"yes\" | \"no\"").ok());
  st = SandboxedCheckGrammar("root ::= x");
  EXPECT_EQ(st.message(), "grammar: Undefined rule identifier 'x'");
}

TEST(GrammarSandbox, EachFindingOfRound2IsAnErrorNamingTheField) {
  const auto t0 = Clock::now();
  std::string gbnf;
  // 1. a self-referencing schema (looped in the converter until the stack overflowed)
  Status st = SandboxedJsonSchemaToGrammar(
      R"({"allOf":[{"$ref":"#/$defs/a"}],"$defs":{"a":{"$ref":"#/$defs/a"}}})", &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "json_schema: ") && Contains(st, "circular $ref")) << st.message();
  // the variant: a cycle of two
  st = SandboxedJsonSchemaToGrammar(
      R"({"allOf":[{"$ref":"#/$defs/a"}],"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}})",
      &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.message();
  // 3. a 100,000-character property name (std::regex overflowed the stack)
  st = SandboxedJsonSchemaToGrammar(R"({"type":"object","properties":{")" +
                                        std::string(100000, '@') + R"(":{"type":"integer"}}})",
                                    &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "json_schema: ")) << st.message();
  // 4. a $ref chain of 20,000 definitions (minutes, then a segfault), and of 200
  st = SandboxedJsonSchemaToGrammar(RefChain(20000), &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "$ref")) << st.message();
  st = SandboxedJsonSchemaToGrammar(RefChain(200), &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "$ref chain deeper than 64")) << st.message();
  // 8. a grammar whose text is small but expands to gigabytes (8 KB: +1.3 GB before)
  st = SandboxedCheckGrammar("root ::= \"" + std::string(8000, 'a') + "\"{1999}");
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "grammar: ")) << st.message();
#ifndef COOLFUSION_SANITIZED  // ASan's allocator aborts where glibc's throws bad_alloc
  EXPECT_TRUE(Contains(st, "MB")) << st.message();
#endif
  // token references by text name one vocabulary's tokens
  st = SandboxedCheckGrammar("root ::= <think>");
  EXPECT_TRUE(Contains(st, "token references")) << st.message();
  EXPECT_LT(SecondsSince(t0), 30);
}

TEST(GrammarSandbox, LimitsFoundUnderARefAreCheckedToo) {
  std::string gbnf;
  // 6. a schema under a key the checker does not walk, reached by $ref
  std::string props;
  for (int i = 0; i < 3000; ++i)
    props += "\"p" + std::to_string(i) + "\": {\"type\": \"integer\"},";
  props.pop_back();
  Status st = SandboxedJsonSchemaToGrammar(
      R"({"$ref": "#/hidden/o", "hidden": {"o": {"type": "object", "properties": {)" + props +
          "}}}}",
      &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "optional properties")) << st.message();
  st = SandboxedJsonSchemaToGrammar(
      R"({"$ref": "#/x/n", "x": {"n": {"type": "integer", "minimum": 1.5, "maximum": 1e30}}})",
      &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "$ref(#/x/n).minimum must be an integer")) << st.message();
  // Found trying again: a remote $ref converted to "any value" (nothing is fetched), and a
  // $ref that is not a string was nlohmann's exception text.
  st = SandboxedJsonSchemaToGrammar(
      R"({"type": "object", "properties": {"a": {"$ref": "https://example.com/s.json"}}})", &gbnf);
  EXPECT_EQ(st.message(),
            "json_schema: properties.a.$ref \"https://example.com/s.json\": only references "
            "inside the schema (#/...) are supported");
  st = SandboxedJsonSchemaToGrammar(R"({"$ref": 5})", &gbnf);
  EXPECT_EQ(st.message(), "json_schema: $ref must be a string");
}

TEST(GrammarSandbox, MessagesQuotingTheInputAreCutOnACharacter) {
  // Found by fuzz_structured: the parser's error quotes the rest of the grammar, and a
  // message cut at a byte count inside a character made the error body throw (a 500).
  std::string e;
  for (int i = 0; i < 300; ++i) e += "\xc3\xa9";
  Status st = SandboxedCheckGrammar("a" + e);  // "expecting ::= at a\xc3\xa9..."
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(IsValidUtf8(st.message())) << st.message();
  std::string gbnf;
  st = SandboxedJsonSchemaToGrammar(R"({"$ref": "#/a/b)" + e.substr(0, 120) + R"(", "a": {"b)" +
                                        e.substr(0, 120) +
                                        R"(": {"type": "integer", "minimum": 1.5}}})",
                                    &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(IsValidUtf8(st.message())) << st.message();
  EXPECT_TRUE(Contains(st, "minimum")) << st.message();
}

TEST(SchemaConverter, RootFixesHoldInProcess) {
  // Without patch 0007 each of these crashes this process or loops for minutes.
  std::string gbnf;
  Status st = ConvertJsonSchema(R"({"type":"object","properties":{")" + std::string(100000, '@') +
                                    R"(":{"type":"integer"}}})",
                                &gbnf);
  EXPECT_TRUE(st.ok() || Contains(st, "json_schema")) << st.message();
  st = ConvertJsonSchema(R"({"allOf":[{"$ref":"#/$defs/a"}],"$defs":{"a":{"$ref":"#/$defs/a"}}})",
                         &gbnf);
  EXPECT_TRUE(Contains(st, "circular $ref")) << st.message();
  st = ConvertJsonSchema(RefChain(200), &gbnf);
  EXPECT_TRUE(Contains(st, "$ref chain deeper than 64")) << st.message();
  // Stock llama.cpp skipped the $defs beside a root $ref: "any JSON value".
  ASSERT_TRUE(
      ConvertJsonSchema(
          R"({"$ref": "#/$defs/n", "$defs": {"n": {"$ref": "#/$defs/m"}, "m": {"type": "integer"}}})",
          &gbnf)
          .ok());
  EXPECT_EQ(gbnf.find("string ::="), std::string::npos) << gbnf;
  EXPECT_NE(gbnf.find("integer ::="), std::string::npos) << gbnf;
  st = ConvertJsonSchema(R"({"type":"object","properties":{"x":{"$ref":"#/$defs/none"}}})", &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  // An error about a ref names it, never the (large) schema around it.
  std::string big =
      R"({"type":"object","properties":{"x":{"$ref":"#/$defs/big/5000"}}, "$defs": {"big": [)";
  for (int i = 0; i < 2000; ++i) big += "{\"type\": \"string\"},";
  big.pop_back();
  st = ConvertJsonSchema(big + "]}}", &gbnf);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_LT(st.message().size(), 500u) << st.message().size();
}

// A stand-in for the sandbox executable: a shell script.
class FakeSandbox {
 public:
  explicit FakeSandbox(const std::string& body) {
    path_ = ::testing::TempDir() + "fake-sandbox-" + std::to_string(::getpid()) + "-" +
            std::to_string(counter_++);
    std::ofstream(path_) << "#!/bin/sh\n" << body << "\n";
    ::chmod(path_.c_str(), 0755);
    ::setenv("COOLFUSION_SANDBOX", path_.c_str(), 1);
  }
  ~FakeSandbox() {
    ::unsetenv("COOLFUSION_SANDBOX");
    std::remove(path_.c_str());
  }

 private:
  static inline int counter_ = 0;
  std::string path_;
};

TEST(GrammarSandbox, AnyFailureOfTheChildIsAnErrorNamingTheField) {
  // Failures no one listed: the child crashes, hangs, floods, or answers nonsense.
  SandboxLimits fast;
  fast.wall_ms = 1000;
  std::string gbnf;
  {
    FakeSandbox crash("kill -SEGV $$");
    Status st =
        SandboxedJsonSchemaToGrammar(R"({"type": "string", "title": "crash"})", &gbnf, fast);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
    EXPECT_TRUE(Contains(st, "json_schema: compiling it failed (the compiler crashed"))
        << st.message();
  }
  {
    FakeSandbox hang("exec sleep 30");
    const auto t0 = Clock::now();
    Status st = SandboxedCheckGrammar("root ::= \"hang\"", fast);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
    EXPECT_TRUE(Contains(st, "grammar: compiling it took more than")) << st.message();
    EXPECT_LT(SecondsSince(t0), 5);
  }
  {
    FakeSandbox flood("echo ok; exec yes aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
    Status st =
        SandboxedJsonSchemaToGrammar(R"({"type": "string", "title": "flood"})", &gbnf, fast);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
    EXPECT_TRUE(Contains(st, "larger than")) << st.message();
  }
  {
    FakeSandbox nonsense("echo maybe; exit 0");
    Status st = SandboxedCheckGrammar("root ::= \"nonsense\"", fast);
    EXPECT_EQ(st.code(), Status::Code::kInvalidArgument) << st.message();
  }
  {
    FakeSandbox fails("exit 7");
    Status st = SandboxedCheckGrammar("root ::= \"exit\"", fast);
    EXPECT_TRUE(Contains(st, "exit code 7")) << st.message();
  }
  ::setenv("COOLFUSION_SANDBOX", "/nonexistent/coolfusion-sandbox", 1);
  Status st = SandboxedCheckGrammar("root ::= \"missing\"", fast);
  ::unsetenv("COOLFUSION_SANDBOX");
  EXPECT_EQ(st.code(), Status::Code::kUnavailable) << st.message();
}

TEST(GrammarBudget, AnAmbiguousGrammarStopsWithinItsTimePerCall) {
  auto lm = testing::LoadVocabOnly("gpt-2");
  ASSERT_TRUE(lm);
  auto budget = std::make_shared<GrammarBudget>(kMaxGrammarStacks, /*call_ms=*/300);
  std::unique_ptr<Grammar> g;
  ASSERT_TRUE(Grammar::Create(*lm, AmbiguousGrammar(100), &g, budget).ok());
  const auto t0 = Clock::now();
  std::vector<float> logits(lm->n_vocab(), 0.0f);
  const bool followed = g->AcceptText("aaaa");  // each 'a' multiplies the parse stacks
  const int left = followed ? g->Mask(logits.data()) : 0;
  EXPECT_LT(SecondsSince(t0), 3.0);
  EXPECT_EQ(left, 0);
  ASSERT_TRUE(budget->failed());
  EXPECT_EQ(budget->error().code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(budget->error(), "grammar: ")) << budget->error().message();
  // Every later call of every grammar on the budget does nothing.
  EXPECT_FALSE(g->Allows(0));
  EXPECT_FALSE(g->Clone()->Allows(0));
}

TEST(GrammarBudget, ParseStacksAreBounded) {
  auto lm = testing::LoadVocabOnly("gpt-2");
  ASSERT_TRUE(lm);
  // 300 alternatives at the start: 300 stacks, over a budget of 100.
  std::string g300 = "root ::= ";
  for (int i = 0; i < 300; ++i) g300 += (i ? " | \"" : "\"") + std::to_string(i) + "x\"";
  std::unique_ptr<Grammar> g;
  Status st = Grammar::Create(*lm, g300, &g, std::make_shared<GrammarBudget>(100, 2000));
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_TRUE(Contains(st, "more than 100 parse states")) << st.message();
  EXPECT_TRUE(Grammar::Create(*lm, g300, &g, std::make_shared<GrammarBudget>(1000, 2000)).ok());
}

TEST(GrammarBudget, CancellingStopsAGrammarCallWithinItsPoll) {
  auto lm = testing::LoadVocabOnly("gpt-2");
  ASSERT_TRUE(lm);
  std::atomic<bool> cancel{false};
  auto budget = std::make_shared<GrammarBudget>(kMaxGrammarStacks, /*call_ms=*/60000,
                                                [&] { return cancel.load(); });
  std::unique_ptr<Grammar> g;
  ASSERT_TRUE(Grammar::Create(*lm, AmbiguousGrammar(100), &g, budget).ok());
  std::thread canceller([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    cancel = true;
  });
  const auto t0 = Clock::now();
  std::vector<float> logits(lm->n_vocab(), 0.0f);
  if (g->AcceptText("aaaa")) g->Mask(logits.data());
  const double took = SecondsSince(t0);
  canceller.join();
  EXPECT_LT(took, 1.5);  // the call's own limit is a minute
  ASSERT_TRUE(budget->failed());
  EXPECT_EQ(budget->error().code(), Status::Code::kCancelled) << budget->error().message();
}

}  // namespace
}  // namespace coolfusion
