// Tool calls (chat/tool_calls.h, chat/tool_call_parser.h): the request's tools read and
// refused where malformed, the answer's grammar run by llama.cpp's grammar engine over a
// real vocabulary (what it lets through and what not), and calls read back from whole and
// streamed answers.
#include "chat/tool_calls.h"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "backend/grammar.h"
#include "chat/tool_call_parser.h"
#include "support/vocab.h"

namespace coolfusion::chat {
namespace {

using json = nlohmann::ordered_json;

const json kTools = json::parse(R"([
  {"type": "function", "function": {"name": "get_weather", "description": "a city's weather",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"},
      "unit": {"enum": ["c", "f"]}}, "required": ["city", "unit"]}}},
  {"type": "function", "function": {"name": "add",
    "parameters": {"type": "object", "properties": {"a": {"type": "integer"},
      "b": {"type": "integer"}}, "required": ["a", "b"]}}}])");

ToolSet Parse(const json& tools, const json& choice = nullptr, const json& parallel = nullptr) {
  ToolSet set;
  ToolError err;
  EXPECT_TRUE(ParseToolSet(&tools, &choice, &parallel, &set, &err)) << err.message;
  return set;
}

ToolError Refuse(const json& tools, const json& choice = nullptr, const json& parallel = nullptr) {
  ToolSet set;
  ToolError err;
  EXPECT_FALSE(ParseToolSet(&tools, &choice, &parallel, &set, &err));
  return err;
}

TEST(ToolSet, ReadsOpenAIsFields) {
  ToolSet s = Parse(kTools);
  ASSERT_EQ(s.tools.size(), 2u);
  EXPECT_EQ(s.tools[0].name, "get_weather");
  EXPECT_EQ(s.tools[0].description, "a city's weather");
  EXPECT_EQ(s.choice, ToolChoice::kAuto);
  EXPECT_TRUE(s.parallel);
  EXPECT_TRUE(s.on());
  s = Parse(kTools, json::parse(R"({"type": "function", "function": {"name": "add"}})"), false);
  EXPECT_EQ(s.choice, ToolChoice::kNamed);
  EXPECT_EQ(s.named, "add");
  EXPECT_FALSE(s.parallel);
  EXPECT_FALSE(Parse(kTools, "none").on());
  EXPECT_EQ(Parse(kTools, "required").choice, ToolChoice::kRequired);
  // A tool without parameters takes an empty object.
  s = Parse(json::parse(R"([{"type": "function", "function": {"name": "now"}}])"));
  EXPECT_EQ(s.tools[0].parameters["type"], "object");
}

TEST(ToolSet, MalformedToolsAreRefusedNamingTheField) {
  json many = json::array();
  for (int i = 0; i < 200; ++i)
    many.push_back({{"type", "function"}, {"function", {{"name", "f" + std::to_string(i)}}}});
  EXPECT_EQ(Refuse(many).param, "tools");
  json long_description = kTools;
  long_description[0]["function"]["description"] = std::string(1 << 20, 'x');
  EXPECT_EQ(Refuse(long_description).param, "tools[0].function.description");
  json bad = kTools;
  bad[1]["function"]["parameters"] = 5;
  EXPECT_EQ(Refuse(bad).param, "tools[1].function.parameters");
  bad = kTools;
  bad[1]["function"]["name"] = "no spaces allowed";
  EXPECT_EQ(Refuse(bad).param, "tools[1].function.name");
  bad = kTools;
  bad[1]["function"]["name"] = "get_weather";
  EXPECT_EQ(Refuse(bad).param, "tools[1].function.name");  // a duplicate
  bad = kTools;
  bad[0]["type"] = "code_interpreter";
  EXPECT_EQ(Refuse(bad).param, "tools[0].type");
  EXPECT_EQ(Refuse("x").param, "tools");
  EXPECT_EQ(
      Refuse(kTools, json::parse(R"({"type": "function", "function": {"name": "nope"}})")).param,
      "tool_choice");
  EXPECT_EQ(Refuse(kTools, "sometimes").param, "tool_choice");
  EXPECT_EQ(Refuse(kTools, nullptr, "yes").param, "parallel_tool_calls");
  EXPECT_EQ(Refuse(json::array(), "required").param, "tool_choice");
}

// The answer's grammar, over the qwen2 vocabulary; Accepts: whether `text` is a whole
// answer it allows.
class AnswerGrammarTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lm_ = coolfusion::testing::LoadVocabOnly("qwen2");
    ASSERT_TRUE(lm_);
  }
  std::string Gbnf(const ToolSet& set) {
    std::string gbnf;
    const Status st = AnswerGrammar(set, ConvertJsonSchema, &gbnf);
    EXPECT_TRUE(st.ok()) << st.message();
    return gbnf;
  }
  bool Accepts(const std::string& gbnf, const std::string& text) {
    std::unique_ptr<Grammar> g;
    const Status st = Grammar::Create(*lm_, gbnf, &g);
    EXPECT_TRUE(st.ok()) << st.message() << "\n" << gbnf;
    if (!st.ok()) return false;
    return g->AcceptText(text) && g->Complete();
  }
  std::unique_ptr<LlamaModel> lm_;
};

const char kWeather[] =
    "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"unit\": "
    "\"c\"}}\n</tool_call>";
const char kAdd[] =
    "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}\n</tool_call>";

TEST_F(AnswerGrammarTest, AutoTakesTextOrCallsWithArgumentsOfTheirSchema) {
  const std::string g = Gbnf(Parse(kTools));
  EXPECT_TRUE(Accepts(g, "It is sunny."));
  EXPECT_TRUE(Accepts(g, ""));
  EXPECT_TRUE(Accepts(g, "<tool_cal is not a call, nor is <tool_callx"));
  EXPECT_TRUE(Accepts(g, kWeather));
  EXPECT_TRUE(Accepts(g, std::string("Let me look.\n") + kWeather + "\n" + kAdd));
  // Arguments outside the schema, an unknown function, a call left open, text after calls.
  EXPECT_FALSE(Accepts(
      g,
      "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": \"1\", \"b\": 2}}\n</tool_call>"));
  EXPECT_FALSE(
      Accepts(g, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1}}\n</tool_call>"));
  EXPECT_FALSE(Accepts(g, "<tool_call>\n{\"name\": \"rm\", \"arguments\": {}}\n</tool_call>"));
  EXPECT_FALSE(Accepts(g, "<tool_call>\n{\"name\": \"add\", \"arguments\": {\"a\": 1, \"b\": 2}}"));
  EXPECT_FALSE(Accepts(g, std::string(kAdd) + " and more text"));
}

TEST_F(AnswerGrammarTest, RequiredAndNamedTakeOnlyCalls) {
  const std::string required = Gbnf(Parse(kTools, "required"));
  EXPECT_TRUE(Accepts(required, kWeather));
  EXPECT_TRUE(Accepts(required, std::string(kWeather) + "\n" + kAdd));
  EXPECT_FALSE(Accepts(required, "It is sunny."));
  EXPECT_FALSE(Accepts(required, ""));
  const std::string named = Gbnf(
      Parse(kTools, json::parse(R"({"type": "function", "function": {"name": "add"}})"), false));
  EXPECT_TRUE(Accepts(named, kAdd));
  EXPECT_FALSE(Accepts(named, kWeather));
  EXPECT_FALSE(Accepts(named, std::string(kAdd) + "\n" + kAdd));  // parallel_tool_calls false
}

TEST_F(AnswerGrammarTest, RefsInsideAToolsSchemaStillResolve) {
  const json tools = json::parse(R"([{"type": "function", "function": {"name": "tree",
    "parameters": {"type": "object", "properties": {"node": {"$ref": "#/$defs/node"}},
      "required": ["node"], "$defs": {"node": {"type": "object",
        "properties": {"v": {"type": "integer"}, "kids": {"type": "array",
          "items": {"$ref": "#/$defs/node"}}}, "required": ["v"]}}}}}])");
  const std::string g = Gbnf(Parse(tools, "required"));
  EXPECT_TRUE(Accepts(g,
                      "<tool_call>\n{\"name\": \"tree\", \"arguments\": {\"node\": {\"v\": 1, "
                      "\"kids\": [{\"v\": 2}]}}}\n</tool_call>"));
  EXPECT_FALSE(Accepts(g,
                       "<tool_call>\n{\"name\": \"tree\", \"arguments\": {\"node\": {\"kids\": "
                       "[]}}}\n</tool_call>"));
}

// A tool's properties keep the client's order: in the instructions and in the calls.
TEST_F(AnswerGrammarTest, PropertiesKeepTheClientsOrder) {
  const ToolSet set = Parse(json::parse(R"([{"type": "function", "function": {"name": "f",
    "parameters": {"type": "object", "properties": {"zeta": {"type": "integer"},
      "alpha": {"type": "integer"}}, "required": ["zeta", "alpha"]}}}])"),
                            "required");
  const std::string s = ToolInstructions(set);
  EXPECT_LT(s.find("zeta"), s.find("alpha")) << s;
  EXPECT_TRUE(Accepts(Gbnf(set),
                      "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"zeta\": 1, \"alpha\": "
                      "2}}\n</tool_call>"));
}

TEST_F(AnswerGrammarTest, ASchemaTheConverterRefusesNamesItsTool) {
  json tools = kTools;
  tools[1]["function"]["parameters"]["properties"]["a"] = {{"type", 12}};
  std::string gbnf;
  int bad = -1;
  const Status st = AnswerGrammar(Parse(tools), ConvertJsonSchema, &gbnf, &bad);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(bad, 1);
  // A good tool with $refs before it is tried alone with its refs where it then stands,
  // so the bad one is still the one named.
  json with_refs = json::array({json::parse(R"({"type": "function", "function": {"name": "ok",
    "parameters": {"type": "object", "properties": {"n": {"$ref": "#/$defs/n"}},
      "$defs": {"n": {"type": "integer"}}}}})"),
                                json::parse(R"({"type": "function", "function": {"name": "tree",
    "parameters": {"type": "object", "properties": {"n": {"$ref": "#/$defs/n"}},
      "$defs": {"n": {"type": "integer"}}}}})"),
                                tools[1]});
  bad = -1;
  EXPECT_EQ(AnswerGrammar(Parse(with_refs), ConvertJsonSchema, &gbnf, &bad).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(bad, 2);
}

TEST(ToolCallParser, ReadsContentAndCalls) {
  std::string content;
  std::vector<ToolCall> calls;
  ParseToolCalls(std::string("Let me look.\n") + kWeather + "\n" + kAdd, &content, &calls);
  EXPECT_EQ(content, "Let me look.");
  ASSERT_EQ(calls.size(), 2u);
  EXPECT_EQ(calls[0].name, "get_weather");
  EXPECT_EQ(json::parse(calls[0].arguments), json::parse(R"({"city": "Paris", "unit": "c"})"));
  EXPECT_EQ(calls[1].name, "add");
  EXPECT_EQ(calls[0].id.rfind("call_", 0), 0u);
  EXPECT_NE(calls[0].id, calls[1].id);
  // No call: all content, a partial tag included; a call cut off: dropped.
  content.clear();
  calls.clear();
  ParseToolCalls("a <tool_ca", &content, &calls);
  EXPECT_EQ(content, "a <tool_ca");
  EXPECT_TRUE(calls.empty());
  content.clear();
  ParseToolCalls("<tool_call>\n{\"name\": \"add\", \"argu", &content, &calls);
  EXPECT_EQ(content, "");
  EXPECT_TRUE(calls.empty());
}

TEST(ToolCallParser, AStreamGivesTheSameAsTheWhole) {
  const std::string text = std::string("Sure.  \n") + kWeather + "\n" + kAdd;
  for (size_t step : {1, 2, 3, 7, 1000}) {
    ToolCallParser p;
    std::string content;
    std::vector<ToolCall> calls;
    for (size_t i = 0; i < text.size(); i += step) {
      const size_t before = content.size();
      p.Feed(std::string_view(text).substr(i, step), &content, &calls);
      // Nothing of a tag or of the whitespace before it is ever shown as content.
      EXPECT_EQ(content.find('<', before), std::string::npos) << step;
    }
    p.Finish(&content);
    EXPECT_EQ(content, "Sure.") << step;
    ASSERT_EQ(calls.size(), 2u) << step;
    EXPECT_EQ(calls[1].arguments, R"({"a":1,"b":2})");
  }
}

TEST(ToolCalls, HistoryIsWrittenInTheEnvelope) {
  EXPECT_EQ(CallsText({{"call_1", "add", R"({"a": 1, "b": 2})"}}),
            "<tool_call>\n{\"name\":\"add\",\"arguments\":{\"a\":1,\"b\":2}}\n</tool_call>");
  EXPECT_EQ(ResultsText({"3", "sunny"}),
            "<tool_response>\n3\n</tool_response>\n<tool_response>\nsunny\n</tool_response>");
  // The instructions name every tool and the envelope; none when tools are off.
  const std::string s = ToolInstructions(Parse(kTools, "required"));
  EXPECT_NE(s.find("\"name\":\"get_weather\""), std::string::npos) << s;
  EXPECT_NE(s.find("<tool_call>"), std::string::npos);
  EXPECT_EQ(ToolInstructions(Parse(kTools, "none")), "");
}

}  // namespace
}  // namespace coolfusion::chat
