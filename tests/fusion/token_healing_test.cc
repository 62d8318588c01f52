// Token healing at the prompt's end (Session::Start's heal, docs/token-healing.md): a raw
// prompt that ends in a space is read as the prompt without it, the answer's first token
// carrying the space; a model fused with itself is still that model alone; off is the
// prompt as its tokenizer cuts it; --token-healing on is refused where it cannot apply.
#include <coolfusion/engine.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/open.h"
#include "support/paths.h"

namespace coolfusion {
namespace {

using testing::Open;
using testing::Shared;
using testing::Tiny;
using testing::Zoo;

const char kArithQuestion[] =
    "Question: Ivo has 9 marbles. Ivo finds 19 more marbles. How many marbles does Ivo have "
    "now?\nAnswer:";

GenerationResult Gen(Ensemble& e, const std::string& prompt, Switch healing, int n,
                     const std::string& method = "", int only_model = -1) {
  Request req;
  req.prompt = prompt;
  req.options.token_healing = healing;
  req.options.max_new_tokens = n;
  req.options.method = method;
  req.options.only_model = only_model;
  GenerationResult r;
  const Status st = e.Generate(req, nullptr, &r);
  EXPECT_TRUE(st.ok()) << st.message();
  return r;
}

// The exact property: when a model's greedy text from P starts with a space, its healed
// text from P + " " is that text less its first byte (the space is the prompt's), token for
// token; where that first token is the space alone, it counts as a prompt token. SentencePiece
// (stories260K, llama-spm) and byte-level BPE (gpt-2, qwen2) vocabularies, and the zoo's model c,
// whose unhealed reading of "Answer: " goes wrong.
TEST(TokenHealing, TrailingSpaceGivesTheUnspacedTextLessItsSpace) {
  const std::vector<std::string> prompts = {"Once upon a time", "The little dog", "One day, a big",
                                            "She opened the door and", kArithQuestion};
  for (const std::string& path :
       {Shared("stories260K"), Tiny("llama-spm"), Tiny("gpt-2"), Tiny("qwen2"), Zoo("c")}) {
    auto e = Open({path});
    ASSERT_TRUE(e);
    int checked = 0;
    for (const std::string& p : prompts) {
      const GenerationResult plain = Gen(*e, p, Switch::kOff, 12);
      if (plain.text.empty() || plain.text[0] != ' ') continue;
      ASSERT_FALSE(plain.segments.empty());
      // A first token that is the space alone is the prompt's own token once healed: the
      // healed text then has that one more token of budget.
      const bool lone_space = plain.segments[0].text == " ";
      const GenerationResult healed = Gen(*e, p + " ", Switch::kOn, lone_space ? 11 : 12);
      EXPECT_EQ(healed.text, plain.text.substr(1)) << path << " on '" << p << " '";
      // The prompt is decoded without its tail (issue 36): no decode call more than the
      // plain prompt's (a lone space joins the prompt with one decode, which the budget
      // gives back). (Tokens decoded differ: the plain run left its prompt in the cache.)
      EXPECT_EQ(healed.counters.decode_calls, plain.counters.decode_calls)
          << path << " on '" << p << " '";
      ++checked;
    }
    EXPECT_GE(checked, 2) << path << ": too few prompts whose text starts with a space";
  }
}

// -m A -m A is A alone, healed or not, under the default method and the reranking ones
// (which go back to the healed prompt between passes).
TEST(TokenHealing, ModelWithItselfIsItsOwnText) {
  for (const std::string& path : {Shared("stories260K"), Tiny("gpt-2"), Zoo("c")}) {
    auto one = Open({path});
    auto two = Open({path, path});
    ASSERT_TRUE(one && two);
    for (const std::string& p :
         {std::string("Once upon a time "), std::string(kArithQuestion) + " "}) {
      for (Switch h : {Switch::kDefault, Switch::kOff}) {
        const std::string alone = Gen(*one, p, h, 16).text;
        for (const char* m : {"cool", "rerank", "cool+r"}) {
          EXPECT_EQ(Gen(*two, p, h, 16, m).text, alone) << path << " " << m << " '" << p << "'";
        }
      }
    }
  }
}

// A healed model's given-up token is not part of its prompt fit: with a trailing space,
// each model's bits per byte, its weight and so the fused answer are the plain prompt's
// (facts3's traced row: A's lone " " after "Answer:" counted would drop its weight to 0.37
// and hand " yellow", B's wrong answer, the gate).
TEST(TokenHealing, PromptWeightsLeaveTheGivenUpTokenOut) {
  auto e = Open({Zoo("a"), Zoo("b")});
  ASSERT_TRUE(e);
  const std::string p = "Question: What is the favourite colour of Vimrk?\nAnswer:";
  const GenerationResult plain = Gen(*e, p, Switch::kDefault, 8);
  const GenerationResult spaced = Gen(*e, p + " ", Switch::kDefault, 8);
  ASSERT_EQ(plain.models.size(), 2u);
  ASSERT_EQ(spaced.models.size(), 2u);
  for (size_t v = 0; v < 2; ++v) {
    EXPECT_NEAR(spaced.models[v].prompt_bits_per_byte, plain.models[v].prompt_bits_per_byte, 1e-4)
        << "model " << v;
    EXPECT_EQ(spaced.models[v].prompt_bytes, plain.models[v].prompt_bytes) << "model " << v;
    EXPECT_NEAR(spaced.models[v].weight, plain.models[v].weight, 1e-4) << "model " << v;
  }
  EXPECT_EQ(plain.text.substr(0, 5), " blue");
  EXPECT_EQ(spaced.text, plain.text.substr(1));
}

// The zoo's model c reads "Answer: " out of distribution: off keeps that reading (the
// behaviour before healing: " + 19 = 28"), the default heals it into the answer it gives
// to "Answer:" ("9 + 19 = 28"), and the prompt's token count is the rendered one.
TEST(TokenHealing, OffIsThePromptAsItsTokenizerCutsIt) {
  auto e = Open({Zoo("c")});
  ASSERT_TRUE(e);
  const std::string p = std::string(kArithQuestion) + " ";
  const GenerationResult off = Gen(*e, p, Switch::kOff, 8);
  const GenerationResult on = Gen(*e, p, Switch::kDefault, 8);
  EXPECT_EQ(off.text.substr(0, 8), " + 19 = ");
  EXPECT_EQ(on.text.substr(0, 10), "9 + 19 = 2");
  EXPECT_EQ(on.n_prompt_tokens, off.n_prompt_tokens);
  std::vector<int32_t> ids;
  ASSERT_TRUE(e->Tokenize(0, p, &ids).ok());
  EXPECT_GE(off.n_prompt_tokens, (int)ids.size());
}

TEST(TokenHealing, OnIsRefusedWhereItCannotApply) {
  auto e = Open({Tiny("gpt-2"), Tiny("gpt-2")});
  ASSERT_TRUE(e);
  GenerationResult r;
  Request gac;
  gac.prompt = "Hello ";
  gac.options.method = "gac";
  gac.options.max_new_tokens = 2;
  EXPECT_TRUE(e->Generate(gac, nullptr, &r).ok());  // the default: not healed, not refused
  gac.options.token_healing = Switch::kOn;
  Status st = e->Generate(gac, nullptr, &r);
  EXPECT_EQ(st.code(), Status::Code::kInvalidArgument);
  EXPECT_NE(st.message().find("token healing"), std::string::npos) << st.message();
  Request chat;
  chat.messages = {{"user", "hi"}};
  chat.options.token_healing = Switch::kOn;
  EXPECT_EQ(e->Validate(chat).code(), Status::Code::kInvalidArgument);
  Request grammar;
  grammar.prompt = "Hello ";
  grammar.options.grammar = "root ::= \"a\"";
  grammar.options.token_healing = Switch::kOn;
  EXPECT_EQ(e->Validate(grammar).code(), Status::Code::kInvalidArgument);
}

}  // namespace
}  // namespace coolfusion
