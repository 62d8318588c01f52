// The lock-step of drafts: the news each model gets does not depend on timing, and the
// decode gate runs every handed-over decode on the serving thread, one at a time.
#include "fusion/lockstep.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

namespace coolfusion {
namespace {

Draft WithText(const std::string& t) {
  Draft d;
  d.text = t;
  return d;
}

// Model 0's k-th batch holds model 1's draft as of model 1's k-th token, however far
// model 1 has run ahead (or lags behind), then model 1's candidate once, then nothing.
TEST(DraftBoard, NewsIsTheOtherDraftAsOfTheSameTokenWhateverTheTiming) {
  for (int delay_ms : {0, 20}) {
    DraftBoard board({true, true});
    std::thread writer([&] {
      for (const char* t : {"a", "ab", "abc"}) {
        if (delay_ms) std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
        board.Progress(1, WithText(t));
      }
      board.Finish(1, "ab");
    });
    if (delay_ms == 0) std::this_thread::sleep_for(std::chrono::milliseconds(30));  // ahead
    std::vector<std::string> seen;
    for (int k = 0; k < 5; ++k) {
      std::vector<DraftNews> news;
      board.Next(0, &news);
      seen.push_back(news.empty() ? "-" : news[0].text);
      if (!news.empty()) {
        EXPECT_EQ(news[0].model, 1);
      }
    }
    writer.join();
    EXPECT_EQ(seen, (std::vector<std::string>{"a", "ab", "abc", "ab", "-"})) << delay_ms;
  }
}

TEST(DraftBoard, AModelThatTakesNoPartIsNeverWaitedFor) {
  DraftBoard board({true, false});
  std::vector<DraftNews> news;
  board.Next(0, &news);  // would block forever if model 1 were waited for
  EXPECT_TRUE(news.empty());
}

TEST(DraftBoard, PreScoreOthersRunsUntilEveryCandidateIsTaken) {
  DraftBoard board({true, true});
  board.Progress(1, WithText("a"));
  board.Progress(1, WithText("ab"));
  board.Finish(1, "ab");
  std::vector<std::string> batches;
  const Status st = board.PreScoreOthers(0, [&](const std::vector<DraftNews>& news) {
    batches.push_back(news.empty() ? "-" : news[0].text);
    return Status::Ok();
  });
  EXPECT_TRUE(st.ok());
  // Batches 1, 2 (k = 1, 3): "a", then the candidate (no token 3): taken, done.
  EXPECT_EQ(batches, (std::vector<std::string>{"a", "ab"}));
  // An error from pre-scoring ends it and is returned.
  DraftBoard again({true, true});
  again.Finish(1, "x");
  EXPECT_EQ(
      again
          .PreScoreOthers(
              0, [](const std::vector<DraftNews>&) { return Status::Internal("decode failed"); })
          .code(),
      Status::Code::kInternal);
}

TEST(DecodeGate, HandedOverDecodesRunOnTheServingThreadOneAtATime) {
  WorkerPool pool(3);
  DecodeGate gate;
  const std::thread::id server = std::this_thread::get_id();
  std::atomic<int> running{0}, overlap{0}, elsewhere{0}, decodes{0};
  std::vector<int> results(3, -1);
  gate.Serve(pool, 3, [&](int i) {
    for (int k = 0; k < 20; ++k) {
      const Status st = gate.Decode([&] {
        if (std::this_thread::get_id() != server) elsewhere++;
        if (running.fetch_add(1) != 0) overlap++;
        std::this_thread::sleep_for(std::chrono::microseconds(200));
        running.fetch_sub(1);
        decodes++;
        return k == 19 ? Status::Internal("task " + std::to_string(i)) : Status::Ok();
      });
      if (!st.ok()) results[i] = std::stoi(st.message().substr(5));
    }
  });
  EXPECT_EQ(decodes.load(), 60);
  EXPECT_EQ(elsewhere.load(), 0);
  EXPECT_EQ(overlap.load(), 0);
  EXPECT_EQ(results, (std::vector<int>{0, 1, 2}));  // each status back to its own caller
}

TEST(DecodeGate, WithoutAServerADecodeRunsOnTheCallersThread) {
  DecodeGate gate;
  std::thread::id ran;
  EXPECT_TRUE(gate.Decode([&] {
                    ran = std::this_thread::get_id();
                    return Status::Ok();
                  })
                  .ok());
  EXPECT_EQ(ran, std::this_thread::get_id());
}

}  // namespace
}  // namespace coolfusion
