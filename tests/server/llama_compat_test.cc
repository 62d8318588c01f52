// llama-server's endpoints' JSON (llama_compat.h): field names and shapes as in llama.cpp's
// tools/server/README.md, and the errors that name a field.
#include "server/llama_compat.h"

#include <gtest/gtest.h>

#include <string>

namespace coolfusion::server {
namespace {

using nlohmann::json;

// An ensemble aliased "duo" of two source models.
const std::vector<std::string> kIds = {"duo", "stories", "aidreams"};

TEST(LlamaCompat, LoadingBodyIsLlamaServers) {
  EXPECT_EQ(json::parse(LoadingBody()),
            json::parse(R"({"error": {"code": 503, "message": "Loading model",
                                      "type": "unavailable_error"}})"));
}

TEST(LlamaCompat, TokenizeNamesItsModelAndDefaultsToTheFirst) {
  TokenizeRequest t;
  ApiError e;
  ASSERT_TRUE(ParseTokenize(R"({"content": "hi"})", kIds, &t, &e));
  EXPECT_EQ(t.model, 0u);
  EXPECT_EQ(t.content, "hi");
  EXPECT_FALSE(t.with_pieces);
  for (const char* ensemble : {"duo", "coolfusion"}) {
    ASSERT_TRUE(ParseTokenize(json{{"content", "x"}, {"model", ensemble}}.dump(), kIds, &t, &e));
    EXPECT_EQ(t.model, 0u) << ensemble;
  }
  ASSERT_TRUE(ParseTokenize(
      R"({"content": "x", "model": "aidreams", "with_pieces": true, "parse_special": false})", kIds,
      &t, &e));
  EXPECT_EQ(t.model, 1u);
  EXPECT_TRUE(t.with_pieces);
  // No content: no tokens, as llama-server.
  ASSERT_TRUE(ParseTokenize("{}", kIds, &t, &e));
  EXPECT_EQ(t.content, "");
  // vLLM's names, as lm-evaluation-harness's remote tokenizer sends them.
  ASSERT_TRUE(ParseTokenize(R"({"prompt": "test", "add_special_tokens": false})", kIds, &t, &e));
  EXPECT_EQ(t.content, "test");
}

TEST(LlamaCompat, TokenizeErrorsNameTheField) {
  struct Case {
    const char* body;
    int status;
    const char* param;
  } cases[] = {
      {R"({"content": "x", "model": "nope"})", 404, "model"},
      {R"({"content": "x", "model": 3})", 400, "model"},
      {R"({"content": 5})", 400, "content"},
      {R"({"content": "x", "with_pieces": "yes"})", 400, "with_pieces"},
      {R"({"content": "x", "add_special": true})", 400, "add_special"},
      {R"({"prompt": "x", "add_special_tokens": true})", 400, "add_special_tokens"},
      {R"({"prompt": 5})", 400, "prompt"},
      {R"({"content": "x", "prompt": "x"})", 400, "prompt"},
      {R"({"content": "x", "parse_special": 1})", 400, "parse_special"},
      {"[1]", 400, ""},
      {"{", 400, ""},
  };
  for (const Case& c : cases) {
    TokenizeRequest t;
    ApiError e;
    EXPECT_FALSE(ParseTokenize(c.body, kIds, &t, &e)) << c.body;
    EXPECT_EQ(e.status, c.status) << c.body;
    EXPECT_EQ(e.param, c.param) << c.body;
    EXPECT_FALSE(e.message.empty());
  }
  TokenizeRequest t;
  ApiError e;
  ASSERT_FALSE(ParseTokenize(R"({"model": "nope"})", kIds, &t, &e));
  EXPECT_EQ(e.code, "model_not_found");
  EXPECT_NE(e.message.find("stories, aidreams"), std::string::npos) << e.message;
}

TEST(LlamaCompat, TokenizeBodyWithAndWithoutPieces) {
  const std::vector<std::string> pieces = {"<s>", " Hello", "\xC3", "\xA1", "!"};
  EXPECT_EQ(TokenizeBody({1, 4}, false, pieces), json::parse(R"({"tokens": [1, 4]})"));
  // A piece that is not valid UTF-8 is its bytes (llama-server's 'á' example).
  EXPECT_EQ(TokenizeBody({1, 2, 3}, true, pieces), json::parse(R"({"tokens": [
      {"id": 1, "piece": " Hello"}, {"id": 2, "piece": [195]}, {"id": 3, "piece": [161]}]})"));
  EXPECT_EQ(TokenizeBody({}, true, pieces), json::parse(R"({"tokens": []})"));
}

TEST(LlamaCompat, DetokenizeChecksIdsAgainstTheNamedModel) {
  const std::vector<int32_t> n_vocab = {5, 3};
  DetokenizeRequest d;
  ApiError e;
  ASSERT_TRUE(ParseDetokenize(R"({"tokens": [1, 4]})", kIds, n_vocab, &d, &e));
  EXPECT_EQ(d.model, 0u);
  EXPECT_EQ(d.tokens, (std::vector<int32_t>{1, 4}));
  // 4 is in the first model's vocabulary, not in the second's.
  EXPECT_FALSE(ParseDetokenize(R"({"tokens": [4], "model": "aidreams"})", kIds, n_vocab, &d, &e));
  EXPECT_EQ(e.status, 400);
  EXPECT_EQ(e.param, "tokens");
  EXPECT_NE(e.message.find("aidreams"), std::string::npos) << e.message;
  for (const char* body : {R"({"tokens": [-1]})", R"({"tokens": "1 2"})", R"({"tokens": [1.5]})",
                           R"({"tokens": [99999999999]})"}) {
    EXPECT_FALSE(ParseDetokenize(body, kIds, n_vocab, &d, &e)) << body;
    EXPECT_EQ(e.param, "tokens") << body;
  }
  ASSERT_TRUE(ParseDetokenize("{}", kIds, n_vocab, &d, &e));
  EXPECT_TRUE(d.tokens.empty());

  const std::vector<std::string> pieces = {"<s>", " Hello", "\xC3", "\xA1", "!"};
  EXPECT_EQ(DetokenizeBody({1, 2, 3, 4}, pieces),
            json::parse(R"({"content": " Helloá!", "prompt": " Helloá!"})"));
  EXPECT_EQ(DetokenizeBody({}, pieces), json::parse(R"({"content": "", "prompt": ""})"));
}

TEST(LlamaCompat, TokenizerInfoIsVllmsShapeForTheFirstModel) {
  SourceModel m;
  m.tokenizer = "spm";
  m.n_ctx = 512;
  m.bos_token = "<s>";
  EXPECT_EQ(TokenizerInfoBody(m), json::parse(R"({"eos_token": null, "bos_token": "<s>",
      "pad_token": null, "model_max_length": 512, "tokenizer_class": "spm"})"));
}

TEST(LlamaCompat, StopTypesAreLlamaServers) {
  EXPECT_STREQ(StopType(StopReason::kEndOfGeneration), "eos");
  EXPECT_STREQ(StopType(StopReason::kStopString), "word");
  EXPECT_STREQ(StopType(StopReason::kMaxTokens), "limit");
  EXPECT_STREQ(StopType(StopReason::kContextFull), "limit");
  EXPECT_STREQ(StopType(StopReason::kCancelled), "none");
}

ApiRequest Parse(const std::string& body) {
  ApiRequest r;
  ApiError e;
  EXPECT_TRUE(ParseRequest(body, false, Limits(), kIds, &r, &e)) << e.message;
  return r;
}

TEST(LlamaCompat, NativeCompletionHasLlamaServersFields) {
  const ApiRequest r =
      Parse(R"({"prompt": "Once", "n_predict": 8, "temperature": 0.5, "stop": ["\n"]})");
  EXPECT_EQ(r.model, "duo");  // the alias is the default model
  GenerationResult g;
  g.text = "upon a time";
  g.stop_reason = StopReason::kStopString;
  g.n_new_tokens = 4;
  g.n_prompt_tokens = 2;
  g.n_cached_tokens = 1;
  const json j = NativeCompletionBody(r, g, g.text, 1, 512, kIds);
  for (const char* key :
       {"index", "content", "tokens", "id_slot", "stop", "model", "tokens_predicted",
        "tokens_evaluated", "generation_settings", "prompt", "has_new_line", "truncated",
        "stop_type", "stopping_word", "tokens_cached", "timings"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["content"], "upon a time");
  EXPECT_EQ(j["stop"], true);
  EXPECT_EQ(j["id_slot"], 1);
  EXPECT_EQ(j["model"], "duo");
  EXPECT_EQ(j["tokens_predicted"], 4);
  EXPECT_EQ(j["tokens_evaluated"], 2);
  EXPECT_EQ(j["tokens_cached"], 1);
  EXPECT_EQ(j["prompt"], "Once");
  EXPECT_EQ(j["stop_type"], "word");
  EXPECT_EQ(j["stopping_word"], "\n");
  EXPECT_EQ(j["truncated"], false);
  EXPECT_EQ(j["generation_settings"]["n_predict"], 8);
  EXPECT_EQ(j["generation_settings"]["n_ctx"], 512);
  EXPECT_FLOAT_EQ(j["generation_settings"]["temperature"].get<float>(), 0.5f);
  EXPECT_EQ(j["generation_settings"]["stop"], json::array({"\n"}));
  EXPECT_EQ(j["timings"]["predicted_n"], 4);

  g.stop_reason = StopReason::kMaxTokens;
  EXPECT_EQ(NativeCompletionBody(r, g, "", 0, 512, kIds)["stop_type"], "limit");
  EXPECT_EQ(NativeCompletionBody(r, g, "", 0, 512, kIds)["stopping_word"], "");
  g.stop_reason = StopReason::kContextFull;
  EXPECT_EQ(NativeCompletionBody(r, g, "", 0, 512, kIds)["truncated"], true);

  EXPECT_EQ(NativeChunk("a b", 2), json::parse(R"({"index": 0, "content": "a b", "tokens": [],
                                                    "stop": false, "id_slot": 2})"));
}

TEST(LlamaCompat, PropsAndSlotsHaveLlamaServersFields) {
  PropsInfo p;
  p.alias = "duo";
  p.total_slots = 2;
  p.defaults = Parse(R"({"prompt": ""})");
  SourceModel a;
  a.id = "stories";
  a.path = "/m/stories.gguf";
  a.n_ctx = 512;
  a.chat_template = "chatml";
  SourceModel b = a;
  b.id = "aidreams";
  b.path = "/m/aidreams.gguf";
  b.chat_template = "";
  p.models = {a, b};
  const json j = PropsBody(p);
  for (const char* key :
       {"default_generation_settings", "total_slots", "model_path", "chat_template",
        "chat_template_caps", "modalities", "build_info", "is_sleeping"})
    EXPECT_TRUE(j.contains(key)) << key;
  EXPECT_EQ(j["total_slots"], 2);
  EXPECT_EQ(j["model_path"], "/m/stories.gguf");
  EXPECT_EQ(j["model_alias"], "duo");
  EXPECT_EQ(j["chat_template"], "chatml");
  EXPECT_EQ(j["modalities"]["vision"], false);
  EXPECT_EQ(j["coolfusion"]["models"].size(), 2u);
  EXPECT_EQ(j["coolfusion"]["models"][1]["path"], "/m/aidreams.gguf");
  EXPECT_EQ(j["coolfusion"]["models"][1]["weight"], 1.0);
  const json& d = j["default_generation_settings"];
  EXPECT_EQ(d["n_ctx"], 512);
  EXPECT_EQ(d["is_processing"], false);
  EXPECT_EQ(d["params"]["n_predict"], Limits().default_max_tokens);
  // The coolfusion settings each request gets unless it sends its own (serve's flags).
  const json& cf = d["params"]["coolfusion"];
  EXPECT_EQ(cf["method"], "cool");
  EXPECT_EQ(cf["gate"], 0.8);  // cool's under --score auto
  EXPECT_EQ(cf["score"], "auto");
  EXPECT_EQ(cf["confidence"], true);
  EXPECT_EQ(cf["prompt_weights"], true);
  EXPECT_EQ(cf["token_healing"], "auto");
  for (const char* key : {"word_end", "per_word", "prompt_temp", "prompt_evidence", "sit_out"})
    EXPECT_TRUE(cf.contains(key)) << key;

  const json s = SlotBody(1, 512, true, p.defaults);
  for (const char* key :
       {"id", "id_task", "n_ctx", "speculative", "is_processing", "params", "next_token"})
    EXPECT_TRUE(s.contains(key)) << key;
  EXPECT_EQ(s["id"], 1);
  EXPECT_EQ(s["is_processing"], true);
  for (const char* key : {"n_predict", "seed", "temperature", "top_k", "top_p", "min_p",
                          "repeat_last_n", "repeat_penalty", "presence_penalty",
                          "frequency_penalty", "stop", "max_tokens", "stream", "samplers"})
    EXPECT_TRUE(s["params"].contains(key)) << key;
}

TEST(LlamaCompat, RequestLogLine) {
  EXPECT_EQ(RequestLogLine("POST", "/completion", "127.0.0.1", 200, 152.6, 24),
            "request: POST /completion 127.0.0.1 200 153 ms 24 tokens");
  EXPECT_EQ(RequestLogLine("GET", "/props", "::1", 200, 0.2, -1),
            "request: GET /props ::1 200 0 ms");
}

TEST(LlamaCompat, RequestLogLineEscapesWhatCouldForgeOrCutALine) {
  // GET /x%0d%0aSet-Cookie:... decoded: the CR LF would have begun a forged line.
  EXPECT_EQ(RequestLogLine("GET", std::string("/x\r\nSet-Cookie: a=b\0cut\x1b[2J\\", 28),
                           "127.0.0.1", 404, 1, -1),
            "request: GET /x\\x0d\\x0aSet-Cookie: a=b\\x00cut\\x1b[2J\\x5c 127.0.0.1 404 1 ms");
  EXPECT_EQ(RequestLogLine("GET", "/caf\xc3\xa9", "::1", 200, 1, -1),
            "request: GET /caf\\xc3\\xa9 ::1 200 1 ms");
}

TEST(LlamaCompat, TokenizeIsBoundedByTheContextAsAPromptIs) {
  SourceModel m;
  m.id = "stories260K";
  m.n_ctx = 512;
  ApiError err;
  EXPECT_TRUE(CheckTextFitsContext(512 * 9, m, 9, "content", &err));
  EXPECT_FALSE(CheckTextFitsContext(512 * 9 + 1, m, 9, "content", &err));
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.param, "content");
  EXPECT_EQ(err.code, "context_length_exceeded");
  EXPECT_EQ(err.message,
            "'content' is 4609 bytes, more than stories260K's context of 512 tokens can hold (its "
            "longest token is 9 bytes)");
  EXPECT_TRUE(CheckTokensFitContext(512, m, "tokens", &err));
  EXPECT_FALSE(CheckTokensFitContext(513, m, "tokens", &err));
  EXPECT_EQ(err.param, "tokens");
  EXPECT_EQ(err.message, "'tokens' is 513 tokens, more than stories260K's context of 512 tokens");
}

TEST(LlamaCompat, TheAliasIsTheDefaultModelAndCoolfusionStillNamesTheEnsemble) {
  EXPECT_EQ(Parse(R"({"prompt": "x"})").model, "duo");
  const ApiRequest r = Parse(R"({"prompt": "x", "model": "coolfusion"})");
  EXPECT_EQ(r.request.options.only_model, -1);
  EXPECT_EQ(Parse(R"({"prompt": "x", "model": "aidreams"})").request.options.only_model, 1);
}

}  // namespace
}  // namespace coolfusion::server
