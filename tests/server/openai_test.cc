#include "server/openai.h"

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
  EXPECT_EQ(r.request.options.method, Method::kCoolRerank);
  EXPECT_EQ(r.request.options.scoring.rule, ScoreRule::kGeoMeanPpl);
  EXPECT_EQ(r.request.options.only_model, -1);
}

TEST(OpenAi, PromptWeightFieldsAreHonouredOrRefused) {
  const ApiRequest d = Parse(R"({"messages": [{"role": "user", "content": "x"}]})");
  EXPECT_EQ(d.request.options.scoring.rule, ScoreRule::kAuto);  // the default
  const ApiRequest r =
      Parse(R"({"messages": [{"role": "user", "content": "x"}], "coolfusion": {"score": "mean",
      "prompt_weights": true, "word_end": false, "prompt_temp": 0.5, "sit_out": 0.2}})");
  EXPECT_EQ(r.request.options.scoring.rule, ScoreRule::kMeanPpl);
  EXPECT_EQ(r.request.options.scoring.prompt_weights, Switch::kOn);
  EXPECT_EQ(r.request.options.scoring.word_end, Switch::kOff);
  EXPECT_DOUBLE_EQ(r.request.options.scoring.prompt_temp, 0.5);
  EXPECT_DOUBLE_EQ(r.request.options.scoring.sit_out, 0.2);
  const std::string pre = R"({"messages": [{"role": "user", "content": "x"}], "coolfusion": )";
  EXPECT_EQ(Reject(pre + R"({"prompt_weights": "yes"}})").param, "coolfusion.prompt_weights");
  EXPECT_EQ(Reject(pre + R"({"word_end": 1}})").param, "coolfusion.word_end");
  EXPECT_EQ(Reject(pre + R"({"prompt_temp": 0}})").param, "coolfusion.prompt_temp");
  EXPECT_EQ(Reject(pre + R"({"prompt_temp": "hot"}})").param, "coolfusion.prompt_temp");
  EXPECT_EQ(Reject(pre + R"({"sit_out": 1}})").param, "coolfusion.sit_out");
  EXPECT_EQ(Reject(pre + R"({"sit_out": -0.5}})").param, "coolfusion.sit_out");
  EXPECT_EQ(Reject(pre + R"({"score": "best"}})").param, "coolfusion.score");
}

TEST(OpenAi, ASourceModelIdMeansThatModelAlone) {
  EXPECT_EQ(Parse(R"({"model": "b", "messages": [{"role": "user", "content": "x"}]})")
                .request.options.only_model,
            1);
  EXPECT_EQ(Parse(R"({"prompt": "x"})", false).request.prompt, "x");
}

TEST(OpenAi, RejectsMalformedAndWronglyTypedBodies) {
  EXPECT_EQ(Reject("{not json").status, 400);
  EXPECT_EQ(Reject("[1, 2]").status, 400);
  EXPECT_EQ(Reject(R"({"messages": "hi"})").param, "messages");
  EXPECT_EQ(Reject(R"({"messages": []})").param, "messages");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "wizard", "content": "x"}]})").param, "messages");
  EXPECT_EQ(Reject(R"({"messages": [{"role": "user", "content": 5}]})").param, "messages");
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
      "messages");
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

TEST(OpenAi, ErrorBodiesHaveTheOpenAiShape) {
  ApiError e;
  e.message = "bad";
  e.param = "x";
  const auto j = nlohmann::json::parse(ErrorBody(e));
  EXPECT_EQ(j["error"]["message"], "bad");
  EXPECT_EQ(j["error"]["type"], "invalid_request_error");
  EXPECT_EQ(j["error"]["param"], "x");
  EXPECT_TRUE(j["error"]["code"].is_null());
  EXPECT_EQ(ErrorFromStatus(Status::ResourceExhausted("busy")).status, 429);
  EXPECT_EQ(ErrorFromStatus(Status::InvalidArgument("x")).status, 400);
  EXPECT_EQ(ErrorFromStatus(Status::Internal("x")).status, 500);
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

}  // namespace
}  // namespace coolfusion::server
