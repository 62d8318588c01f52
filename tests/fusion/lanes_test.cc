// Lanes (Ensemble::OpenLanes): one context per model for several generations at once, their
// decodes batched. A lane's text is the same whether it runs alone or beside seven others,
// for every method; each lane keeps its own prompt cache, whatever the others decode.
#include <coolfusion/engine.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "support/paths.h"

namespace coolfusion {
namespace {

using testing::Zoo;

std::vector<std::unique_ptr<Ensemble>> OpenLanes(int lanes) {
  std::vector<ModelOptions> mo;
  for (const std::string& p : {Zoo("a"), Zoo("b")}) {
    ModelOptions o;
    o.path = p;
    o.n_ctx = 512;
    o.n_threads = 1;
    mo.push_back(o);
  }
  std::vector<std::unique_ptr<Ensemble>> out;
  const Status st = Ensemble::OpenLanes(mo, lanes, &out);
  EXPECT_TRUE(st.ok()) << st.message();
  return out;
}

std::vector<std::string> Prompts() {
  const char* names[] = {"Finn", "Mia", "Olek", "Ada", "Bo"};
  std::vector<std::string> out;
  for (int i = 0; out.size() < 20; ++i) {
    out.push_back(std::string("Question: ") + names[i % 5] + " has " + std::to_string(2 + i % 7) +
                  " bags with " + std::to_string(3 + i % 5) + " books in each bag. How many " +
                  "books does " + names[i % 5] + " have?\nAnswer:");
  }
  return out;
}

std::string Gen(Ensemble& e, const std::string& prompt, const std::string& method) {
  Request req;
  req.prompt = prompt;
  req.options.method = method;
  req.options.max_new_tokens = 10;
  GenerationResult r;
  const Status st = e.Generate(req, nullptr, &r);
  EXPECT_TRUE(st.ok()) << method << ": " << st.message();
  return r.text;
}

TEST(Lanes, EveryMethodWritesTheSameTextsAloneAndWithEightAtOnce) {
  auto lanes = OpenLanes(8);
  ASSERT_EQ(lanes.size(), 8u);
  const std::vector<std::string> prompts = Prompts();
  for (const char* method :
       {"cool", "cool-shortest", "cool+r", "rerank", "unite", "gac", "adafuse", "safe"}) {
    SCOPED_TRACE(method);
    std::vector<std::string> alone;
    for (const std::string& p : prompts) alone.push_back(Gen(*lanes[0], p, method));
    std::vector<std::string> together(prompts.size());
    std::vector<std::thread> threads;
    for (size_t k = 0; k < lanes.size(); ++k) {
      threads.emplace_back([&, k] {
        for (size_t i = k; i < prompts.size(); i += lanes.size())
          together[i] = Gen(*lanes[k], prompts[i], method);
      });
    }
    for (auto& t : threads) t.join();
    for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(together[i], alone[i]) << prompts[i];
  }
  // The lanes did share decodes.
  const Ensemble::BatchingStats b = lanes[0]->batching(0);
  EXPECT_GT(b.decodes, 0);
  EXPECT_GT(b.max_lanes, 1);
  EXPECT_GT(b.lane_jobs, b.decodes);
}

TEST(Lanes, EachLaneKeepsItsOwnPromptCache) {
  auto lanes = OpenLanes(2);
  ASSERT_EQ(lanes.size(), 2u);
  const std::vector<std::string> prompts = Prompts();
  Request first;
  first.prompt = prompts[0];
  first.options.max_new_tokens = 6;
  GenerationResult r0;
  ASSERT_TRUE(lanes[0]->Generate(first, nullptr, &r0).ok());
  // The other lane decodes (and clears) its own sequences in between.
  Request other = first;
  other.prompt = "Story: a cat sat on a mat and looked at the moon for a long time.\n";
  GenerationResult r1;
  ASSERT_TRUE(lanes[1]->Generate(other, nullptr, &r1).ok());
  // The first lane's next request extends its history: as much of it comes from its
  // cache, and its scores are the same, as on an ensemble that ran nothing in between.
  Request next = first;
  next.prompt = prompts[0] + r0.text + "\n" + prompts[1];
  const std::vector<std::string> answers = {" 9", " 12 books"};
  ScoreResult cached;
  ASSERT_TRUE(lanes[0]->Score(next, answers, &cached).ok());
  EXPECT_GE(cached.n_cached_tokens, r0.n_prompt_tokens - 1);
  auto alone = OpenLanes(2);  // the same kernels (lanes), nothing run on its other lane
  ASSERT_EQ(alone.size(), 2u);
  GenerationResult a0;
  ScoreResult a1;
  ASSERT_TRUE(alone[0]->Generate(first, nullptr, &a0).ok());
  ASSERT_TRUE(alone[0]->Score(next, answers, &a1).ok());
  EXPECT_EQ(cached.n_cached_tokens, a1.n_cached_tokens);
  ASSERT_EQ(cached.continuations.size(), a1.continuations.size());
  for (size_t c = 0; c < answers.size(); ++c) {
    for (size_t v = 0; v < a1.continuations[c].nll.size(); ++v) {
      const double got = cached.continuations[c].nll[v], want = a1.continuations[c].nll[v];
      if (std::isnan(want)) {  // a model that sits the request out (prompt weights)
        EXPECT_TRUE(std::isnan(got));
        continue;
      }
      EXPECT_NEAR(got, want, 1e-4) << answers[c] << " model " << v;
    }
  }
}

// Requests sent together reach their lanes a few milliseconds apart: the first one's
// prompt waits the start window for the others (DecodeScheduler::kStartMs) instead of
// being decoded alone, so that every decode of the four takes all four lanes (issue 36:
// the first request's prompt ran alone and the rest after it).
TEST(Lanes, RequestsSentTogetherShareTheirPromptsDecode) {
  auto lanes = OpenLanes(4);  // a fresh scheduler: no decode time known yet, the full window
  ASSERT_EQ(lanes.size(), 4u);
  const std::vector<std::string> prompts = Prompts();
  std::vector<std::thread> threads;
  for (size_t k = 0; k < lanes.size(); ++k) {
    threads.emplace_back([&, k] {
      std::this_thread::sleep_for(std::chrono::milliseconds(k));
      Request req;
      req.prompt = prompts[k];
      req.options.method = "single";  // model a alone: its prompt, then its tokens
      req.options.max_new_tokens = 2;
      GenerationResult r;
      const Status st = lanes[k]->Generate(req, nullptr, &r);
      EXPECT_TRUE(st.ok()) << st.message();
    });
  }
  for (auto& t : threads) t.join();
  const Ensemble::BatchingStats b = lanes[0]->batching(0);
  EXPECT_GE(b.decodes, 2);
  EXPECT_EQ(b.max_lanes, 4);
  EXPECT_EQ(b.lane_jobs, 4 * b.decodes) << b.decodes << " decodes";
}

}  // namespace
}  // namespace coolfusion
