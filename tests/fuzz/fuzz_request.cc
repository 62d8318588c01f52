// The server's request JSON parser and chat rendering: any body either fails with a
// 4xx error or parses into a request whose responses serialize; rendering its messages
// with a ChatML model parses special tokens only from the template, never from contents.
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "fusion/prompt.h"
#include "server/echo.h"
#include "server/openai.h"
#include "support/paths.h"

namespace {

coolfusion::LlamaModel& ChatModel() {
  static coolfusion::LlamaModel* m = [] {
    coolfusion::ModelOptions mo;
    mo.path = coolfusion::testing::TinyModelDir() + "/rand-qwen2-chat.gguf";
    mo.vocab_only = true;
    std::unique_ptr<coolfusion::LlamaModel> p;
    if (!coolfusion::LlamaModel::Load(mo, 1, 0, &p).ok()) __builtin_trap();
    return p.release();
  }();
  return *m;
}

int Specials(const coolfusion::LlamaModel& m, const coolfusion::PromptTokens& p) {
  int n = 0;
  for (auto t : p.tokens) n += m.IsControl(t);
  return n;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace coolfusion;
  using namespace coolfusion::server;
  if (size < 1) return 0;
  const bool chat = data[0] & 1;
  const std::string body(reinterpret_cast<const char*>(data + 1), size - 1);
  ApiRequest r;
  ApiError e;
  const std::vector<std::string> ids = {"coolfusion", "a", "b"};
  if (!ParseRequest(body, chat, Limits(), ids, &r, &e)) {
    if (e.status < 400 || e.status >= 500 || e.message.empty()) __builtin_trap();
    (void)nlohmann::json::parse(ErrorBody(e));
    return 0;
  }
  GenerationResult g;
  g.text = body.substr(0, 64);  // arbitrary bytes, possibly invalid UTF-8
  g.segments.push_back(Segment{});
  g.segments.back().text = g.text;
  (void)CompletionBody(r, g, "id", 0, ids).dump();
  (void)ChunkBody(r, "id", 0, g.text, true, nullptr, &g.segments.back(), ids).dump();
  if (!chat) {
    // A generation has one prompt; echo scores one or more, with 0 or 1 new tokens.
    if (r.prompts.empty() || (!r.echo && r.prompts.size() != 1)) __builtin_trap();
    if (r.echo && (r.logprobs < 0 || r.logprobs > kMaxLogprobs || r.echo_new_tokens < 0 ||
                   r.echo_new_tokens > 1 || r.prompts.size() > kMaxEchoPrompts))
      __builtin_trap();
  }
  if (r.echo) {
    // The answer serializes whatever bytes the tokens hold.
    TextLogprobsResult t;
    t.text = g.text;
    t.tokens.resize(2);
    t.tokens[0].piece = g.text;
    t.tokens[0].logprob = std::numeric_limits<double>::quiet_NaN();
    t.tokens[1].piece = "\xff";
    t.tokens[1].top = {{0, -1.0}, {1, -2.0}};
    t.next = {{1, -0.5}};
    t.weights = {0.5, 0.5};
    const std::vector<std::string> pieces = {g.text, "\xc3"};
    (void)EchoBody(r, std::vector<TextLogprobsResult>(r.prompts.size(), t), pieces, "id", 0, ids)
        .dump();
  }
  if (chat && !r.request.messages.empty()) {
    const LlamaModel& m = ChatModel();
    PromptTokens p, empty;
    if (ChatPrompt(m, r.request.messages, &p).ok()) {
      auto blank = r.request.messages;
      for (auto& msg : blank) msg.content.clear();
      if (!ChatPrompt(m, blank, &empty).ok()) __builtin_trap();
      if (Specials(m, p) != Specials(m, empty)) __builtin_trap();  // contents added a special token
    }
  }
  return 0;
}
