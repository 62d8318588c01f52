// The emitter: what reaches the caller's stream, segment by segment, with stop strings
// that span segments, text held back and the final flush.
#include "fusion/emitter.h"

#include <gtest/gtest.h>

namespace coolfusion {
namespace {

// Feeds segments to an emitter the way the methods do (the generated text grows by each
// segment) and records the stream.
struct Stream {
  explicit Stream(std::vector<std::string> stops) {
    opts.stop = std::move(stops);
    cb = [this](const Segment&, std::string_view delta) {
      stream.push_back(std::string(delta));
      return keep_going;
    };
  }
  // Returns whether generation stops.
  bool Add(const std::string& text) {
    generated += text;
    Segment seg;
    seg.text = text;
    return emitter.OnSegment(generated, seg, &out, &reason);
  }
  std::string Streamed() const {
    std::string s;
    for (const auto& d : stream) s += d;
    return s;
  }
  GenerateOptions opts;
  SegmentCallback cb;
  Emitter emitter{opts, cb};
  std::string generated;
  GenerationResult out;
  StopReason reason = StopReason::kMaxTokens;
  std::vector<std::string> stream;
  bool keep_going = true;
};

TEST(Emitter, WithoutStopStringsEverySegmentStreamsAtOnce) {
  Stream r({});
  EXPECT_FALSE(r.Add("Once"));
  EXPECT_FALSE(r.Add(" upon"));
  EXPECT_EQ(r.stream, (std::vector<std::string>{"Once", " upon"}));
  r.emitter.Finish(r.generated, &r.out);
  EXPECT_EQ(r.Streamed(), "Once upon");
  EXPECT_EQ(r.out.segments.size(), 2u);
}

TEST(Emitter, HoldsBackWhatCouldStartAStopStringAndFlushesItAtTheEnd) {
  Stream r({"END"});
  EXPECT_FALSE(r.Add("abcde"));
  EXPECT_EQ(r.Streamed(), "abc");  // "de" could begin "END"? held: the longest stop - 1
  EXPECT_FALSE(r.Add("fg"));
  EXPECT_EQ(r.Streamed(), "abcde");
  r.emitter.Finish(r.generated, &r.out);
  EXPECT_EQ(r.Streamed(), "abcdefg");
}

TEST(Emitter, AStopStringAcrossSegmentsCutsTheTextAndTheSegments) {
  Stream r({"STOP"});
  EXPECT_FALSE(r.Add("one ST"));
  EXPECT_FALSE(r.Add("O"));
  EXPECT_TRUE(r.Add("P two"));
  EXPECT_EQ(r.reason, StopReason::kStopString);
  EXPECT_EQ(r.generated, "one ");
  std::string spelled;
  for (const Segment& s : r.out.segments) spelled += s.text;
  EXPECT_EQ(spelled, "one ");
  r.emitter.Finish(r.generated, &r.out);
  EXPECT_EQ(r.Streamed(), "one ");  // nothing of the stop string ever streamed
}

TEST(Emitter, TheEarliestOfSeveralStopStringsWins) {
  Stream r({"cd", "b"});
  EXPECT_TRUE(r.Add("abcd"));
  EXPECT_EQ(r.generated, "a");
}

TEST(Emitter, AnIncompleteUtf8CharacterIsHeldBack) {
  Stream r({});
  EXPECT_FALSE(r.Add("caf\xC3"));
  EXPECT_EQ(r.Streamed(), "caf");
  EXPECT_FALSE(r.Add("\xA9!"));
  EXPECT_EQ(r.Streamed(), "caf\xC3\xA9!");
}

TEST(Emitter, TheCallbackCanStopTheGeneration) {
  Stream r({});
  r.keep_going = false;
  EXPECT_TRUE(r.Add("hello"));
  EXPECT_EQ(r.reason, StopReason::kCancelled);
  EXPECT_EQ(r.generated, "hello");
}

}  // namespace
}  // namespace coolfusion
