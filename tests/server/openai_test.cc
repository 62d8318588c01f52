#include "server/openai.h"

#include "base/utf8.h"
#include "server/json_fields.h"

#include <gtest/gtest.h>

namespace coolfusion::server {
namespace {

const std::vector<std::string> kIds = {"coolfusion", "a", "b"};

ApiRequest Parse(const std::string& body, bool chat = true) {
  ApiRequest r;
  ApiError e;
  EXPECT_TRUE(ParseRequest(body, chat, Limits(), kIds, &r, &e)) << e.message;
  return r;
}

ApiError Reject(const std::string& body, bool chat = true) {
  ApiRequest r;
  ApiError e;
  EXPECT_FALSE(ParseRequest(body, chat, Limits(), kIds, &r, &e)) << body;
  return e;
}

TEST(OpenAi, ParsesAChatRequestWithEveryField) {
  const ApiRequest r =
      Parse(R"({"model": "coolfusion", "messages": [{"role": "system", "content": "be brief"},
      {"role": "user", "content": [{"type": "text", "text": "hi "}, {"type": "text", "text": "there"}]}],
      "max_tokens": 7, "temperature": 0.5, "top_p": 0.9, "seed": 3, "stop": ["\n", "END"], "stream": true,
      "stream_options": {"include_usage": true}, "coolfusion": {"method": "cool+r", "score": "geomean", "trace": true},
      "unknown_field": 1})");
  EXPECT_TRUE(r.chat && r.stream && r.include_usage && r.trace);
  ASSERT_EQ(r.request.messages.size(), 2u);
  EXPECT_EQ(r.request.messages[1].content, "hi there");
  EXPECT_EQ(r.request.options.max_new_tokens, 7);
  EXPECT_FLOAT_EQ(r.request.options.sampling.temperature, 0.5f);
  EXPECT_EQ(r.request.options.stop.size(), 2u);
  EXPECT_EQ(r.request.options.method, "cool+r");
  EXPECT_EQ(r.request.options.scoring.rule, ScoreRule::kGeoMeanPpl);
  EXPECT_EQ(r.request.options.only_model, -1);
}

TEST(OpenAi, PromptWeightFieldsAreHonouredOrRefused) {
  const ApiRequest d = Parse(R"({"messages": [{"role": "user", "content": "x"}]})");
  EXPECT_EQ(d.request.options.scoring.rule, ScoreRule::kAuto);  // the default
  const ApiRequest r =
      Parse(R"({"messages": [{"role": "user", "content": "x"}], "coolfusion": {"score": "mean",
      "prompt_weights": true, "word_end": false, "per_word": true, "prompt_temp": 0.5, "sit_out": 0.2}})");
  EXPECT_EQ(r.request.options.scoring.rule, ScoreRule::kMeanPpl);
  EXPECT_EQ(r.request.options.scoring.prompt_weights, Switch::kOn);
  EXPECT_EQ(r.request.options.scoring.word_end, Switch::kOff);
  EXPECT_EQ(r.request.options.scoring.per_word, Switch::kOn);
  EXPECT_EQ(d.request.options.scoring.per_word, Switch::kOff);
  EXPECT_DOUBLE_EQ(r.request.options.scoring.prompt_temp, 0.5);
  EXPECT_DOUBLE_EQ(r.request.options.scoring.sit_out, 0.2);
  const std::string pre = R"({"messages": [{"role": "user", "content": "x"}], "coolfusion": )";
  EXPECT_EQ(Reject(pre + R"({"prompt_weights": "yes"}})").param, "coolfusion.prompt_weights");
  EXPECT_EQ(Reject(pre + R"({"word_end": 1}})").param, "coolfusion.word_end");
  EXPECT_EQ(Reject(pre + R"({"per_word": "on"}})").param, "coolfusion.per_word");
  EXPECT_EQ(Reject(pre + R"({"prompt_temp": 0}})").param, "coolfusion.prompt_temp");
  EXPECT_EQ(Reject(pre + R"({"prompt_temp": "hot"}})").param, "coolfusion.prompt_temp");
  EXPECT_EQ(Reject(pre + R"({"sit_out": 1}})").param, "coolfusion.sit_out");
  EXPECT_EQ(Reject(pre + R"({"sit_out": -0.5}})").param, "coolfusion.sit_out");
  EXPECT_EQ(Reject(pre + R"({"score": "best"}})").param, "coolfusion.score");
}

// Issue 23: the peer methods by name, gac's gate in (0, 1], and an unknown method's 400
// listing every method.
TEST(OpenAi, PeerMethodFieldsAreHonouredOrRefused) {
  const std::string pre = R"({"messages": [{"role": "user", "content": "x"}], "coolfusion": )";
  EXPECT_EQ(Parse(pre + R"({"method": "unite"}})").request.options.method, "unite");
  EXPECT_EQ(Parse(pre + R"({"method": "safe"}})").request.options.method, "safe");
  const ApiRequest g = Parse(pre + R"({"method": "gac", "gate": 0.5}})");
  EXPECT_EQ(g.request.options.method, "gac");
  EXPECT_DOUBLE_EQ(g.request.options.peer.gate, 0.5);
  EXPECT_DOUBLE_EQ(Parse(pre + R"({"gate": 1}})").request.options.peer.gate, 1.0);
  // Unset: the method's own default (cool's 0.8 under auto, gac's 1).
  EXPECT_DOUBLE_EQ(Parse(pre + "{}}").request.options.peer.gate, 0.0);
  // A method without a gate refuses one, naming the field.
  for (const char* m : {"unite", "adafuse", "safe", "rerank"}) {
    const ApiError e = Reject(pre + R"({"method": ")" + m + R"(", "gate": 0.5}})");
    EXPECT_EQ(e.status, 400) << m;
    EXPECT_EQ(e.param, "coolfusion.gate") << m;
    EXPECT_NE(e.message.find("no gate"), std::string::npos) << e.message;
  }
  EXPECT_DOUBLE_EQ(Parse(pre + R"({"method": "cool+r", "gate": 0.7}})").request.options.peer.gate,
                   0.7);
  // Confidence weights: a boolean, honoured.
  EXPECT_EQ(Parse(pre + R"({"confidence": false}})").request.options.scoring.confidence,
            Switch::kOff);
  EXPECT_EQ(Parse(pre + R"({"confidence": true}})").request.options.scoring.confidence,
            Switch::kOn);
  EXPECT_EQ(Reject(pre + R"({"confidence": "yes"}})").param, "coolfusion.confidence");
  for (const char* bad : {"0", "1.5", "-0.2", "\"half\"", "null", "[0.5]", "true"}) {
    const ApiError e = Reject(pre + R"({"method": "gac", "gate": )" + bad + "}}");
    EXPECT_EQ(e.status, 400) << bad;
    EXPECT_EQ(e.param, "coolfusion.gate") << bad;
    EXPECT_NE(e.message.find("(0, 1]"), std::string::npos) << e.message;
  }
  // What a method cannot honour: a 400 naming the field.
  const std::string ada = R"({"messages": [{"role": "user", "content": "x"}], )";
  EXPECT_EQ(
      Reject(ada +
             R"("response_format": {"type": "json_object"}, "coolfusion": {"method": "adafuse"}})")
          .param,
      "response_format");
  EXPECT_EQ(
      Reject(ada + R"("grammar": "root ::= \"a\"", "coolfusion": {"method": "adafuse"}})").param,
      "grammar");
  EXPECT_EQ(Reject(ada + R"("temperature": 0.8, "coolfusion": {"method": "unite"}})").param,
            "temperature");
  EXPECT_EQ(Reject(ada + R"("presence_penalty": 0.5, "coolfusion": {"method": "gac"}})").param,
            "presence_penalty");
  EXPECT_EQ(Parse(ada + R"("temperature": 0.8, "coolfusion": {"method": "safe"}})")
                .request.options.sampling.temperature,
            0.8f);
  EXPECT_EQ(
      Parse(ada +
            R"("response_format": {"type": "json_object"}, "coolfusion": {"method": "safe"}})")
          .request.options.method,
      "safe");
  const ApiError m = Reject(pre + R"({"method": "magic"}})");
  EXPECT_EQ(m.param, "coolfusion.method");
  EXPECT_NE(m.message.find(MethodList()), std::string::npos) << m.message;
  EXPECT_NE(m.message.find("adafuse"), std::string::npos) << m.message;
}

// serve's flags are every request's defaults, for the methods that take them: a request
// naming a method without a gate (confidence weights, sampling) runs it, with no 400 for a
// field it never sent; token healing is left to the requests it can apply to. What a
// request sends itself is still refused where it cannot be honoured, naming the field.
TEST(OpenAi, ServerDefaultsApplyWhereTheMethodTakesThem) {
  Limits limits;
  limits.defaults.peer.gate = 0.5;
  limits.defaults.scoring.confidence = Switch::kOn;
  limits.defaults.token_healing = Switch::kOn;
  limits.defaults.sampling.temperature = 0.7f;
  auto parse = [&](const std::string& body, bool chat, ApiRequest* r, ApiError* e) {
    return ParseRequest(body, chat, limits, kIds, r, e);
  };
  ApiRequest r;
  ApiError e;
  const std::string raw = R"({"prompt": "x", "coolfusion": )";
  for (const char* m : {"unite", "rerank", "safe"}) {
    ASSERT_TRUE(parse(raw + R"({"method": ")" + m + R"("}})", false, &r, &e)) << m << e.message;
    EXPECT_EQ(r.request.options.peer.gate, 0.0) << m;
    EXPECT_EQ(r.request.options.scoring.confidence, Switch::kDefault) << m;
  }
  EXPECT_EQ(r.request.options.token_healing, Switch::kDefault);  // safe reads tokens itself
  ASSERT_TRUE(parse(raw + R"({"method": "unite"}})", false, &r, &e)) << e.message;
  EXPECT_EQ(r.request.options.sampling.temperature, 0.0f);  // unite is greedy
  // The server's own method keeps them all.
  ASSERT_TRUE(parse(raw + "{}}", false, &r, &e)) << e.message;
  EXPECT_EQ(r.request.options.peer.gate, 0.5);
  EXPECT_EQ(r.request.options.scoring.confidence, Switch::kOn);
  EXPECT_EQ(r.request.options.token_healing, Switch::kOn);
  EXPECT_EQ(r.request.options.sampling.temperature, 0.7f);
  // Chat: healing does not apply; the rest stays.
  ASSERT_TRUE(parse(R"({"messages": [{"role": "user", "content": "x"}]})", true, &r, &e))
      << e.message;
  EXPECT_EQ(r.request.options.token_healing, Switch::kDefault);
  EXPECT_EQ(r.request.options.peer.gate, 0.5);
  // Sent by the request itself: refused, naming the field.
  EXPECT_FALSE(parse(raw + R"({"method": "unite", "gate": 0.5}})", false, &r, &e));
  EXPECT_EQ(e.param, "coolfusion.gate");
  EXPECT_FALSE(parse(raw + R"({"method": "unite", "confidence": true}})", false, &r, &e));
  EXPECT_EQ(e.param, "coolfusion.confidence");
  EXPECT_FALSE(parse(R"({"prompt": "x", "temperature": 0.7, "coolfusion": {"method": "unite"}})",
                     false, &r, &e));
  EXPECT_EQ(e.param, "temperature");
  EXPECT_FALSE(parse(R"({"messages": [{"role": "user", "content": "x"}], "coolfusion": )"
                     R"({"token_healing": true}})",
                     true, &r, &e));
  EXPECT_EQ(e.param, "coolfusion.token_healing");
  EXPECT_FALSE(parse(raw + R"({"method": "gac", "token_healing": true}})", false, &r, &e));
  EXPECT_EQ(e.param, "coolfusion.token_healing");
}

TEST(OpenAi, ASourceModelIdMeansThatModelAlone) {
  EXPECT_EQ(Parse(R"({"model": "b", "messages": [{"role": "user", "content": "x"}]})")
                .request.options.only_model,
            1);
  EXPECT_EQ(Parse(R"({"prompt": "x"})", false).request.prompt, "x");
}

// Issue 24: a source model's id is its file name without ".gguf"; the file name itself
// names it too (answered with the id), and any other name is a 404 that lists the ids.
TEST(OpenAi, ASourceModelIsNamedByItsIdOrFileNameAndUnknownNamesListTheIds) {
  const ApiRequest r = Parse(R"({"model": "b.gguf", "prompt": "x"})", false);
  EXPECT_EQ(r.request.options.only_model, 1);
  EXPECT_EQ(r.model, "b");
  EXPECT_EQ(Parse(R"({"model": "a", "prompt": "x"})", false).request.options.only_model, 0);
  EXPECT_EQ(Parse(R"({"model": "coolfusion", "prompt": "x"})", false).request.options.only_model,
            -1);
  for (const char* name : {"c", "c.gguf", "/models/b.gguf", ".gguf", "coolfusion.gguf"}) {
    const ApiError e = Reject(std::string(R"({"prompt": "x", "model": ")") + name + "\"}", false);
    EXPECT_EQ(e.status, 404) << name;
    EXPECT_EQ(e.code, "model_not_found") << name;
    EXPECT_EQ(e.message, std::string("The model '") + name +
                             "' does not exist; this server has: coolfusion, a, b");
  }
  EXPECT_EQ(FindModelId(kIds, "a.gguf"), 1);
  EXPECT_EQ(FindModelId({"duo", "a"}, "coolfusion"), 0);  // whatever the alias
  // /v1/models shows file names, never where the files are.
  const auto j = ModelsBody(kIds, {"a.gguf", "b.gguf"});
  ASSERT_EQ(j.at("data").size(), 3u);
  EXPECT_EQ(j["data"][1]["id"], "a");
  EXPECT_EQ(j["data"][2]["coolfusion"]["file"], "b.gguf");
  EXPECT_EQ(j.dump().find('/'), std::string::npos) << j.dump();
}

// Issue 24: one default for max_tokens (serve's -n, 128) and one cap (--max-tokens, 2048),
// named as integers when a request passes it; n_predict -1 is the cap.
TEST(OpenAi, MaxTokensHasOneDefaultAndOneCapNamedAsIntegers) {
  const std::string m = R"({"messages": [{"role": "user", "content": "x"}], )";
  EXPECT_EQ(Limits().default_max_tokens, 128);
  EXPECT_EQ(Limits().max_tokens, 2048);
  EXPECT_EQ(
      Parse(R"({"messages": [{"role": "user", "content": "x"}]})").request.options.max_new_tokens,
      128);
  EXPECT_EQ(Parse(m + R"("max_tokens": 2048})").request.options.max_new_tokens, 2048);
  for (const char* v : {"2049", "0", "99999999999", "1.5", "\"8\""}) {
    const ApiError e = Reject(m + R"("max_tokens": )" + v + "}");
    EXPECT_EQ(e.param, "max_tokens") << v;
    EXPECT_EQ(e.message, "'max_tokens' must be an integer in [1, 2048]") << v;
  }
  EXPECT_EQ(Reject(m + R"("max_completion_tokens": 5000})").message,
            "'max_completion_tokens' must be an integer in [1, 2048]");
  EXPECT_EQ(Reject(m + R"("n_predict": -2})").message,
            "'n_predict' must be -1 (no limit) or an integer in [1, 2048]");
  EXPECT_EQ(Parse(m + R"("n_predict": -1})").request.options.max_new_tokens, 2048);
}

TEST(OpenAi, RejectsMalformedAndWronglyTypedBodies) {
  EXPECT_EQ(Reject("{not json").status, 400);
  EXPECT_EQ(Reject("[1, 2]").status, 400);
  EXPECT_EQ(Reject(R"({"messages": "hi"})").param, "messages");
  EXPECT_EQ(Reject(R"({"messages": []})").param, "messages");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "wizard", "content": "x"}]})").param,
            "messages[0].role");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": 5}]})").param,
            "messages[0].content");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": "10"})").param,
            "max_tokens");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 0})").param,
            "max_tokens");
  EXPECT_EQ(
      Reject(R"({"messages": [{"role": "user", "content": "x"}], "max_tokens": 999999})").param,
      "max_tokens");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "temperature": -1})").param,
            "temperature");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "stream": "yes"})").param,
            "stream");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "stop": [1]})").param,
            "stop");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "n": 2})").param, "n");
  EXPECT_EQ(
      Reject(
          R"({"messages": [{"role": "user", "content": "x"}], "coolfusion": {"method": "magic"}})")
          .param,
      "coolfusion.method");
  EXPECT_EQ(Reject(R"({"prompt": 5})", false).param, "prompt");
  // Type confusion in nested fields: a 400 naming the field, never an exception (a 500).
  EXPECT_EQ(
      Reject(R"({"messages": [{"role": "user", "content": [{"type": 5, "text": "x"}]}]})").param,
      "messages[0].content");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "stream": true,
                      "stream_options": {"include_usage": "yes"}})")
                .param,
            "stream_options.include_usage");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": "x"}], "cache_prompt": 1})").param,
            "cache_prompt");
  const ApiError e =
      Reject(R"({"model": "gpt-9", "messages": [{"role": "user", "content": "x"}]})");
  EXPECT_EQ(e.status, 404);
  EXPECT_EQ(e.code, "model_not_found");
}

// Must show: at least 30 malformed or type-confused bodies, nested fields included, each a
// 4xx naming the field (the same list is the fuzz corpus's type_confused_* seeds).
TEST(OpenAi, EveryMalformedFieldIsA400NamingIt) {
  const std::string m = R"("messages": [{"role": "user", "content": "x"}])";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("top_k": "5")", "top_k"},
      {R"("top_k": 2.5)", "top_k"},
      {R"("top_k": -1)", "top_k"},
      {R"("min_p": "0.1")", "min_p"},
      {R"("min_p": 2)", "min_p"},
      {R"("repeat_penalty": 0)", "repeat_penalty"},
      {R"("repeat_last_n": 1.5)", "repeat_last_n"},
      {R"("presence_penalty": 3)", "presence_penalty"},
      {R"("frequency_penalty": [1])", "frequency_penalty"},
      {R"("top_p": "all")", "top_p"},
      {R"("seed": -1)", "seed"},
      {R"("seed": 1.5)", "seed"},
      {R"("logprobs": 0)", "logprobs"},
      {R"("max_tokens": 5, "n_predict": 9)", "n_predict"},
      {R"("max_tokens": 5, "n_predict": true)", "n_predict"},
      {R"("max_completion_tokens": 5, "max_tokens": "5")", "max_tokens"},
      {R"("max_completion_tokens": 1.5)", "max_completion_tokens"},
      {R"("n_predict": "many")", "n_predict"},
      {R"("stream_options": 5)", "stream_options"},
      {R"("stream_options": {"include_usage": "yes"})", "stream_options.include_usage"},
      {R"("response_format": "json")", "response_format"},
      {R"("response_format": {"type": 1})", "response_format"},
      {R"("response_format": {"type": "xml"})", "response_format.type"},
      {R"("response_format": {"type": "json_schema"})", "response_format.json_schema"},
      {R"("response_format": {"type": "json_schema", "json_schema": []})",
       "response_format.json_schema"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"name": 3, "schema": {}}})",
       "response_format.json_schema.name"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"strict": "y", "schema": {}}})",
       "response_format.json_schema.strict"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"name": "x"}})",
       "response_format.json_schema.schema"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"schema": 5}})",
       "response_format.json_schema.schema"},
      {R"("response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "#/x"}}})",
       "response_format.json_schema.schema"},
      {R"("response_format": {"type": "json_object", "schema": "x"})", "response_format.schema"},
      {R"("grammar": 5)", "grammar"},
      {R"("grammar": "")", "grammar"},
      {R"("json_schema": "x")", "json_schema"},
      {R"("grammar": "root ::= \"a\"", "json_schema": {})", "json_schema"},
      {R"("grammar": "root ::= \"a\"", "response_format": {"type": "json_object"})",
       "response_format"},
      {R"("tools": [{"type": "function", "function": {"name": "f g"}}])", "tools[0].function.name"},
      {R"("tools": {"type": "function"})", "tools"},
      {R"("tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 7}}}])",
       "tools[0].function.parameters"},
      {R"("tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type":
          "function", "function": {"name": "g"}})",
       "tool_choice"},
      {R"("tools": [{"type": "function", "function": {"name": "f"}}], "json_schema": {})",
       "json_schema"},
      {R"("tool_choice": "sometimes")", "tool_choice"},
      {R"("tool_choice": "required")", "tool_choice"},
      {R"("functions": [{"name": "f"}])", "functions"},
      {R"("function_call": "auto")", "function_call"},
      {R"("parallel_tool_calls": "yes")", "parallel_tool_calls"},
      {R"("logprobs": true)", "logprobs"},
      {R"("top_logprobs": 2)", "top_logprobs"},
      {R"("logit_bias": {"50256": -100})", "logit_bias"},
      {R"("audio": {"voice": "alloy"})", "audio"},
      {R"("modalities": ["text", "audio"])", "modalities"},
      {R"("prediction": {"type": "content", "content": "x"})", "prediction"},
      {R"("store": true)", "store"},
      {R"("metadata": {"k": "v"})", "metadata"},
      {R"("reasoning_effort": "high")", "reasoning_effort"},
      {R"("service_tier": "flex")", "service_tier"},
      {R"("user": 7)", "user"},
      {R"("n": "1")", "n"},
      {R"("ignore_eos": true)", "ignore_eos"},
      {R"("mirostat": 2)", "mirostat"},
      {R"("typical_p": 0.5)", "typical_p"},
      {R"("n_probs": 3)", "n_probs"},
      {R"("coolfusion": [])", "coolfusion"},
      {R"("coolfusion": {"trace": 1})", "coolfusion.trace"},
  };
  for (const auto& [field, param] : cases) {
    const ApiError e = Reject("{" + m + ", " + field + "}");
    EXPECT_EQ(e.status, 400) << field;
    EXPECT_EQ(e.param, param) << field;
  }
  const std::vector<std::pair<std::string, std::string>> nested = {
      {R"({"messages": [{"role": "user", "content": "x", "name": 5}]})", "messages[0].name"},
      {R"({"messages": [{"role": "assistant", "content": null, "tool_calls": [{"id": "1"}]}]})",
       "messages[0].tool_calls[0].function.name"},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "assistant", "tool_calls":
          [{"id": "1", "type": "function", "function": {"name": "f", "arguments": "{x"}}]}]})",
       "messages[1].tool_calls[0].function.arguments"},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "3"}]})",
       "messages[1].tool_call_id"},
      {R"({"messages": [{"role": "user", "content": "x"}, {"role": "tool", "content": "3",
          "tool_call_id": "nope"}]})",
       "messages[1].tool_call_id"},
      {R"({"messages": [{"role": "user", "content": "x", "tool_calls": []}]})",
       "messages[0].tool_calls"},
      {R"({"messages": [{"role": 1, "content": "x"}]})", "messages[0].role"},
      {R"({"messages": [{"role": "user", "content": [{"type": "image_url"}]}]})",
       "messages[0].content"},
      {R"({"prompt": "x", "tools": [{"type": "function", "function": {"name": "f"}}]})", "tools"},
      {R"({"prompt": "x", "echo": true})", "echo"},
      {R"({"prompt": "x", "best_of": 3})", "best_of"},
      {R"({"prompt": "x", "suffix": "end"})", "suffix"},
      {R"({"prompt": "x", "logprobs": 5})", "logprobs"},
      {R"({"prompt": ["a", "b"]})", "prompt"},
      {R"({"prompt": "x", "echo": true, "logprobs": 1, "max_tokens": 2})", "max_tokens"},
      {R"({"prompt": "x", "echo": true, "logprobs": true})", "logprobs"},
      {R"({"prompt": "x", "echo": true, "logprobs": 1, "stream": true})", "stream"},
      {R"({"prompt": "x", "echo": true, "logprobs": 1, "grammar": "root ::= \"a\""})", "grammar"},
      {R"({"prompt": [1, "a"]})", "prompt"},
      {R"({"prompt": [[1, -2]], "echo": true, "logprobs": 0})", "prompt"},
      {R"({"prompt": [[]], "echo": true, "logprobs": 0})", "prompt"},
  };
  for (const auto& [body, param] : nested) {
    const bool chat = body.find("\"messages\"") != std::string::npos;
    const ApiError e = Reject(body, chat);
    EXPECT_EQ(e.status, 400) << body;
    EXPECT_EQ(e.param, param) << body;
  }
  EXPECT_GE(cases.size() + nested.size(), 30u);
}

// tools: the answer held to the envelope's grammar, the tools' instructions in the system
// message, earlier calls and their results written into the conversation in the envelope.
TEST(OpenAi, ToolsReachTheGrammarAndTheConversation) {
  const ApiRequest r = Parse(R"({"messages": [
      {"role": "system", "content": "Be brief."},
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "content": null, "tool_calls": [{"id": "call_1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]},
      {"role": "tool", "tool_call_id": "call_1", "content": "sunny"}],
    "tools": [{"type": "function", "function": {"name": "get_weather", "parameters":
      {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
    "tool_choice": "required"})");
  EXPECT_TRUE(r.tools.on());
  EXPECT_EQ(r.grammar_param, "tools");
  EXPECT_NE(r.request.options.grammar.find("get_weather"), std::string::npos);
  const std::vector<ChatMessage>& m = r.request.messages;
  ASSERT_EQ(m.size(), 4u);
  EXPECT_EQ(m[0].content.rfind("Be brief.\n\n# Tools", 0), 0u) << m[0].content;
  EXPECT_EQ(m[2].role, "assistant");
  EXPECT_EQ(
      m[2].content,
      "<tool_call>\n{\"name\":\"get_weather\",\"arguments\":{\"city\":\"Paris\"}}\n</tool_call>");
  EXPECT_EQ(m[3].role, "user");
  EXPECT_EQ(m[3].content, "<tool_response>\nsunny\n</tool_response>");
  // The tool's properties in the client's order (the body's JSON sorts nothing here).
  const ApiRequest ordered = Parse(R"({"messages": [{"role": "user", "content": "x"}],
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
      "properties": {"zeta": {"type": "integer"}, "alpha": {"type": "integer"}}}}}]})");
  const std::string& sys = ordered.request.messages[0].content;
  EXPECT_LT(sys.find("zeta"), sys.find("alpha")) << sys;
  // The user's next words after results join them: roles still alternate.
  const ApiRequest next = Parse(R"({"messages": [
      {"role": "user", "content": "Weather in Paris?"},
      {"role": "assistant", "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "get_weather", "arguments": "{}"}}]},
      {"role": "tool", "tool_call_id": "c1", "content": "sunny"},
      {"role": "user", "content": "And tomorrow?"}]})");
  ASSERT_EQ(next.request.messages.size(), 3u);
  EXPECT_EQ(next.request.messages[2].content,
            "<tool_response>\nsunny\n</tool_response>\n\nAnd tomorrow?");
  // tool_choice none: no instructions, no grammar; the history is still written.
  const ApiRequest none = Parse(R"({"messages": [{"role": "user", "content": "x"}],
    "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "none"})");
  EXPECT_FALSE(none.tools.on());
  EXPECT_TRUE(none.request.options.grammar.empty());
  ASSERT_EQ(none.request.messages.size(), 1u);
}

// Every field of the README's table that does something reaches the engine's options.
TEST(OpenAi, SamplerAndFormatFieldsAreHonoured) {
  const std::string m = R"({"messages": [{"role": "user", "content": "x"}], )";
  const ApiRequest s = Parse(m + R"("temperature": 0.7, "top_k": 40, "min_p": 0.05,
      "repeat_penalty": 1.1, "repeat_last_n": 32, "presence_penalty": 0.5,
      "frequency_penalty": -0.5, "n_predict": 9, "user": "u1", "logprobs": false,
      "tools": [], "logit_bias": {}, "modalities": ["text"], "service_tier": "auto"})");
  const SamplingOptions& o = s.request.options.sampling;
  EXPECT_EQ(o.top_k, 40);
  EXPECT_FLOAT_EQ(o.min_p, 0.05f);
  EXPECT_FLOAT_EQ(o.repeat_penalty, 1.1f);
  EXPECT_EQ(o.repeat_last_n, 32);
  EXPECT_FLOAT_EQ(o.presence_penalty, 0.5f);
  EXPECT_FLOAT_EQ(o.frequency_penalty, -0.5f);
  EXPECT_EQ(s.request.options.max_new_tokens, 9);
  EXPECT_TRUE(s.request.options.grammar.empty());
  const ApiRequest obj = Parse(m + R"("response_format": {"type": "json_object"}})");
  EXPECT_EQ(obj.request.options.grammar, JsonObjectGrammar());
  EXPECT_EQ(obj.grammar_param, "response_format");
  const ApiRequest sch = Parse(m + R"("response_format": {"type": "json_schema", "json_schema":
      {"name": "p", "strict": true, "schema": {"type": "object", "properties":
      {"k": {"enum": ["only"]}}, "required": ["k"]}}}})");
  EXPECT_NE(sch.request.options.grammar.find("only"), std::string::npos);
  const ApiRequest gr = Parse(m + R"("grammar": "root ::= \"a\""})");
  EXPECT_EQ(gr.request.options.grammar, R"(root ::= "a")");
  EXPECT_EQ(gr.grammar_param, "grammar");
  const ApiRequest js = Parse(m + R"("json_schema": {"type": "integer"}})");
  EXPECT_NE(js.request.options.grammar.find("root"), std::string::npos);
  EXPECT_TRUE(Parse(m + R"("response_format": {"type": "text"}})").request.options.grammar.empty());
  EXPECT_EQ(Parse(R"({"prompt": "x", "logprobs": null, "echo": false, "best_of": 1})", false)
                .request.prompt,
            "x");
  // echo with logprobs scores prompts: text, token ids, or a batch of either; max_tokens
  // 0 by default there, or 1.
  const ApiRequest echo =
      Parse(R"({"prompt": [[5, 6, 7], "a b"], "echo": true, "logprobs": 2})", false);
  EXPECT_TRUE(echo.echo);
  EXPECT_EQ(echo.logprobs, 2);
  EXPECT_EQ(echo.echo_new_tokens, 0);
  ASSERT_EQ(echo.prompts.size(), 2u);
  EXPECT_EQ(echo.prompts[0].tokens, (std::vector<int32_t>{5, 6, 7}));
  EXPECT_EQ(echo.prompts[1].text, "a b");
  EXPECT_EQ(Parse(R"({"prompt": [3, 4], "echo": true, "logprobs": 1, "max_tokens": 1})", false)
                .echo_new_tokens,
            1);
  const ApiRequest ids = Parse(R"({"prompt": [3, 4], "max_tokens": 2})", false);
  EXPECT_FALSE(ids.echo);
  EXPECT_EQ(ids.prompts[0].tokens, (std::vector<int32_t>{3, 4}));
  // The length's names agree, or n_predict -1 asks for the server's limit.
  EXPECT_EQ(Parse(m + R"("max_tokens": 5, "n_predict": 5})").request.options.max_new_tokens, 5);
  EXPECT_EQ(Parse(m + R"("n_predict": -1})").request.options.max_new_tokens, Limits().max_tokens);
}

TEST(OpenAi, ErrorBodiesHaveTheOpenAiShape) {
  ApiError e;
  e.message = "bad";
  e.param = "x";
  const auto j = nlohmann::json::parse(ErrorBody(e));
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "x");
  EXPECT_TRUE(j["error"]["code"].is_null());
  // A context that fills is the request's size, not the server's load: 400; only the
  // queue says 429.
  EXPECT_EQ(ErrorFromStatus(Status::ResourceExhausted("context full")).status, 400);
  EXPECT_EQ(ErrorFromStatus(Status::ResourceExhausted("context full")).code,
            "context_length_exceeded");
  EXPECT_EQ(QueueError(Status::ResourceExhausted("busy")).status, 429);
  EXPECT_EQ(QueueError(Status::DeadlineExceeded("waited")).code, "server_busy");
  EXPECT_EQ(ErrorFromStatus(Status::InvalidArgument("x")).status, 400);
  EXPECT_EQ(ErrorFromStatus(Status::Internal("x")).status, 500);
}

TEST(OpenAi, BodiesThatAreNotJsonSayWhere) {
  nlohmann::json j;
  std::string why;
  // A number JSON cannot hold is named, not only "not valid JSON".
  EXPECT_FALSE(ParseJsonBody(R"({"coolfusion": {"gate": 1e309}})", &j, &why));
  EXPECT_EQ(why, "the request body is not valid JSON: number overflow parsing '1e309'");
  EXPECT_FALSE(ParseJsonBody(R"({"prompt": "a",})", &j, &why));
  EXPECT_EQ(why.rfind("the request body is not valid JSON: parse error at line 1, column ", 0), 0u)
      << why;
  EXPECT_EQ(why.find("[json.exception"), std::string::npos) << why;
  // The reason quotes the client's bytes, but not all of them.
  EXPECT_FALSE(ParseJsonBody("{\"prompt\": \"" + std::string(100000, 'x') + "\x01\"}", &j, &why));
  EXPECT_LT(why.size(), 300u);
  // ... and what it quotes is valid UTF-8, for the JSON answer, whatever the client sent.
  EXPECT_FALSE(ParseJsonBody("{\"prompt\": \xff\xfe}", &j, &why));
  EXPECT_TRUE(IsValidUtf8(why)) << why;
  EXPECT_FALSE(
      ParseJsonBody("{\"prompt\": \"" + std::string(199 - 60, 'x') + "\xc3\xa9\x01\"}", &j, &why));
  EXPECT_TRUE(IsValidUtf8(why)) << why;
  EXPECT_TRUE(ParseJsonBody(R"({"prompt": "a"})", &j, &why));
}

TEST(OpenAi, ResponsesCarryUsageAndInvalidUtf8IsReplaced) {
  ApiRequest r = Parse(R"({"messages": [{"role": "user", "content": "x"}]})");
  GenerationResult g;
  g.text = "ok \xE6\x97";  // ends inside a character
  g.n_prompt_tokens = 3;
  g.n_new_tokens = 2;
  const auto j = CompletionBody(r, g, "id", 1, kIds);
  EXPECT_EQ(j["choices"][0]["message"]["content"], "ok \xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(j["usage"]["total_tokens"], 5);
  EXPECT_EQ(j["object"], "chat.completion");
  const auto c = ChunkBody(r, "id", 1, "", true, nullptr, nullptr, kIds);
  EXPECT_EQ(c["choices"][0]["delta"]["role"], "assistant");
  EXPECT_TRUE(c["choices"][0]["finish_reason"].is_null());
}

// Each reasoning_format's split of whole answers.
struct Split {
  std::string reasoning, content;
};
Split Whole(ReasoningFormat f, std::string_view text) {
  Split s;
  SplitReasoning(f, text, &s.reasoning, &s.content);
  return s;
}

TEST(Reasoning, AThinkingBlockAtTheStartGoesToReasoningContent) {
  const auto d = ReasoningFormat::kDeepseek;
  Split s = Whole(d, " \n<think>\nLet me add: 2 + 3 = 5.\n</think>\n\nThe answer is 5.");
  EXPECT_EQ(s.reasoning, "\nLet me add: 2 + 3 = 5.\n");
  EXPECT_EQ(s.content, "The answer is 5.");
  s = Whole(d, "<think>still thinking");  // unclosed: all of it is reasoning
  EXPECT_EQ(s.reasoning, "still thinking");
  EXPECT_EQ(s.content, "");
  s = Whole(d, "The tag <think> later is text.</think>");  // not at the start
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "The tag <think> later is text.</think>");
  s = Whole(d, "<thin");  // a tag's start that never completes
  EXPECT_EQ(s.content, "<thin");
  s = Whole(ReasoningFormat::kNone, "<think>a</think>b");
  EXPECT_EQ(s.reasoning, "");
  EXPECT_EQ(s.content, "<think>a</think>b");
  s = Whole(ReasoningFormat::kDeepseekLegacy, "<think>a</think>\nb");
  EXPECT_EQ(s.reasoning, "a");
  EXPECT_EQ(s.content, "<think>a</think>\nb");
}

// A stream cut anywhere, even inside a tag, shows the same split as the whole answer, and
// never shows as content what turns out to be reasoning.
TEST(Reasoning, AStreamCutAnywhereSplitsAsTheWholeAnswer) {
  for (const char* text : {"<think>a b</think>\n\ncontent here", "  <think></think>x",
                           "no thinking <think>", "<think>x</thi", "<thinking>no</thinking>"}) {
    for (ReasoningFormat f :
         {ReasoningFormat::kDeepseek, ReasoningFormat::kNone, ReasoningFormat::kDeepseekLegacy}) {
      const Split whole = Whole(f, text);
      const std::string_view t = text;
      for (size_t cut1 = 0; cut1 <= t.size(); ++cut1) {
        for (size_t cut2 = cut1; cut2 <= t.size(); ++cut2) {
          ReasoningSplitter s(f);
          Split got;
          s.Feed(t.substr(0, cut1), &got.reasoning, &got.content);
          s.Feed(t.substr(cut1, cut2 - cut1), &got.reasoning, &got.content);
          if (f == ReasoningFormat::kDeepseek && whole.content.empty()) {
            EXPECT_EQ(got.content, "") << text << " " << cut1 << " " << cut2;
          }
          s.Feed(t.substr(cut2), &got.reasoning, &got.content);
          s.Finish(&got.reasoning, &got.content);
          EXPECT_EQ(got.reasoning, whole.reasoning) << text << " " << cut1 << " " << cut2;
          EXPECT_EQ(got.content, whole.content) << text << " " << cut1 << " " << cut2;
        }
      }
    }
  }
}

// A prompt that opened the block (DeepSeek-R1's template): the answer starts inside it.
TEST(Reasoning, APromptThatOpensTheBlockStartsTheAnswerInIt) {
  Split s;
  SplitReasoning(ReasoningFormat::kDeepseek, "Let me think.\n</think>\n\nFive.", &s.reasoning,
                 &s.content, /*starts_open=*/true);
  EXPECT_EQ(s.reasoning, "Let me think.\n");
  EXPECT_EQ(s.content, "Five.");
  s = Split();
  SplitReasoning(ReasoningFormat::kDeepseek, "never closed <tool_call>", &s.reasoning, &s.content,
                 true);
  EXPECT_EQ(s.reasoning, "never closed <tool_call>");
  EXPECT_EQ(s.content, "");
  // In a response: reasoning apart, the calls read from the content after it.
  ApiRequest r = Parse(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type":
      "function", "function": {"name": "f", "parameters": {"type": "object"}}}]})");
  r.thinking_open = true;
  GenerationResult g;
  g.text = "hm</think>\nOK.\n<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>";
  const auto j = CompletionBody(r, g, "id", 1, kIds);
  const auto& m = j["choices"][0]["message"];
  EXPECT_EQ(m["reasoning_content"], "hm");
  EXPECT_EQ(m["content"], "OK.");
  ASSERT_EQ(m["tool_calls"].size(), 1u);
  EXPECT_EQ(m["tool_calls"][0]["function"]["name"], "f");
  EXPECT_EQ(m["tool_calls"][0]["function"]["arguments"], "{}");
  EXPECT_EQ(j["choices"][0]["finish_reason"], "tool_calls");
  // tool_choice none: the same text is all content.
  r = Parse(R"({"messages": [{"role": "user", "content": "x"}], "tools": [{"type":
      "function", "function": {"name": "f"}}], "tool_choice": "none"})");
  g.text = "<tool_call>\n{\"name\": \"f\", \"arguments\": {}}\n</tool_call>";
  EXPECT_EQ(CompletionBody(r, g, "id", 1, kIds)["choices"][0]["message"]["content"], g.text);
}

TEST(Reasoning, ChatAnswersAndChunksCarryReasoningContentAsLlamaServer) {
  ApiRequest r = Parse(R"({"messages": [{"role": "user", "content": "x"}]})");
  GenerationResult g;
  g.text = "<think>r</think>c";
  auto j = CompletionBody(r, g, "id", 1, kIds);
  EXPECT_EQ(j["choices"][0]["message"]["reasoning_content"], "r");
  EXPECT_EQ(j["choices"][0]["message"]["content"], "c");
  r = Parse(R"({"messages": [{"role": "user", "content": "x"}], "reasoning_format": "none"})");
  j = CompletionBody(r, g, "id", 1, kIds);
  EXPECT_FALSE(j["choices"][0]["message"].contains("reasoning_content"));
  EXPECT_EQ(j["choices"][0]["message"]["content"], "<think>r</think>c");
  const auto c = ChunkBody(r, "id", 1, "", false, nullptr, nullptr, kIds, "thought");
  EXPECT_EQ(c["choices"][0]["delta"]["reasoning_content"], "thought");
  EXPECT_FALSE(c["choices"][0]["delta"].contains("content"));
  // The field's values, and where it does not apply.
  for (const char* v : {"none", "deepseek", "deepseek-legacy", "auto"}) {
    EXPECT_NO_FATAL_FAILURE(Parse(std::string(R"({"messages": [{"role": "user", "content": "x"}],
        "reasoning_format": ")") + v +
                                  "\"}"));
  }
  const std::pair<std::string, std::string> bad[] = {
      {R"({"messages": [{"role": "user", "content": "x"}], "reasoning_format": "r1"})",
       "reasoning_format"},
      {R"({"messages": [{"role": "user", "content": "x"}], "reasoning_format": 1})",
       "reasoning_format"},
      {R"({"messages": [{"role": "user", "content": "x"}], "chat_template_kwargs":
          {"enable_thinking": false}})",
       "chat_template_kwargs"},
  };
  for (const auto& [body, param] : bad) EXPECT_EQ(Reject(body).param, param) << body;
  EXPECT_EQ(Reject(R"({"prompt": "x", "reasoning_format": "none"})", false).param,
            "reasoning_format");
}

}  // namespace
}  // namespace coolfusion::server
