// Metrics: what GET /metrics prints (Prometheus' text format, every counter and gauge
// with its HELP and TYPE lines) and that the counters add up, from several threads too.
#include "server/metrics.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace coolfusion::server {
namespace {

// The value on the line that starts with `series` followed by a space; "" if none.
std::string Value(const std::string& text, const std::string& series) {
  const std::string key = "\n" + series + " ";
  const size_t at = ("\n" + text).find(key);
  if (at == std::string::npos) return "";
  const size_t from = at + key.size() - 1;  // in `text`, which lacks the leading "\n"
  return text.substr(from, text.find('\n', from) - from);
}

TEST(Metrics, RendersEveryCounterAndGaugeInPrometheusTextFormat) {
  Metrics m;
  m.CountRequest("/v1/completions", 200);
  m.CountRequest("/v1/completions", 200);
  m.CountRequest("/v1/completions", 400);
  m.CountRequest("/health", 200);
  m.CountGeneration(/*tokens=*/10, /*segments=*/4, /*seconds=*/0.5, /*cancelled=*/false);
  m.CountGeneration(/*tokens=*/3, /*segments=*/1, /*seconds=*/0.25, /*cancelled=*/true);
  m.CountGeneration(/*tokens=*/0, /*segments=*/0, /*seconds=*/0.25, /*cancelled=*/false);
  const std::string expected =
      "# HELP coolfusion_requests_total HTTP requests by endpoint and status.\n"
      "# TYPE coolfusion_requests_total counter\n"
      "coolfusion_requests_total{endpoint=\"/health\",status=\"200\"} 1\n"
      "coolfusion_requests_total{endpoint=\"/v1/completions\",status=\"200\"} 2\n"
      "coolfusion_requests_total{endpoint=\"/v1/completions\",status=\"400\"} 1\n"
      "# HELP coolfusion_generated_tokens_total New tokens generated (model 0's tokenizer).\n"
      "# TYPE coolfusion_generated_tokens_total counter\n"
      "coolfusion_generated_tokens_total 13\n"
      "# HELP coolfusion_segments_total Committed segments.\n"
      "# TYPE coolfusion_segments_total counter\n"
      "coolfusion_segments_total 5\n"
      "# HELP coolfusion_generations_total Generations run (finished or cancelled).\n"
      "# TYPE coolfusion_generations_total counter\n"
      "coolfusion_generations_total 3\n"
      "# HELP coolfusion_cancelled_total Generations cancelled because the client went away.\n"
      "# TYPE coolfusion_cancelled_total counter\n"
      "coolfusion_cancelled_total 1\n"
      "# HELP coolfusion_generation_seconds_total Wall time spent generating.\n"
      "# TYPE coolfusion_generation_seconds_total counter\n"
      "coolfusion_generation_seconds_total 1\n"
      "# HELP coolfusion_slots Request slots.\n"
      "# TYPE coolfusion_slots gauge\n"
      "coolfusion_slots 4\n"
      "# HELP coolfusion_slots_busy Slots generating now.\n"
      "# TYPE coolfusion_slots_busy gauge\n"
      "coolfusion_slots_busy 3\n"
      "# HELP coolfusion_queue_waiting Requests waiting for a slot.\n"
      "# TYPE coolfusion_queue_waiting gauge\n"
      "coolfusion_queue_waiting 2\n";
  EXPECT_EQ(m.Render(/*slots_total=*/4, /*slots_busy=*/3, /*waiting=*/2), expected);
}

TEST(Metrics, ANewServerPrintsZerosAndNoRequestSeries) {
  const std::string text = Metrics().Render(1, 0, 0);
  EXPECT_EQ(text.find("coolfusion_requests_total{"), std::string::npos);
  EXPECT_EQ(Value(text, "coolfusion_generated_tokens_total"), "0");
  EXPECT_EQ(Value(text, "coolfusion_segments_total"), "0");
  EXPECT_EQ(Value(text, "coolfusion_generations_total"), "0");
  EXPECT_EQ(Value(text, "coolfusion_cancelled_total"), "0");
  EXPECT_EQ(Value(text, "coolfusion_generation_seconds_total"), "0");
  EXPECT_EQ(Value(text, "coolfusion_slots"), "1");
  EXPECT_EQ(Value(text, "coolfusion_slots_busy"), "0");
  EXPECT_EQ(Value(text, "coolfusion_queue_waiting"), "0");
}

TEST(Metrics, CountsFromManyThreadsAddUp) {
  Metrics m;
  constexpr int kThreads = 4, kEach = 1000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&m, t] {
      for (int i = 0; i < kEach; ++i) {
        m.CountRequest("/v1/chat/completions", t % 2 == 0 ? 200 : 499);
        m.CountGeneration(/*tokens=*/2, /*segments=*/1, /*seconds=*/0.5, /*cancelled=*/t == 1);
      }
    });
  }
  for (auto& th : threads) th.join();
  const std::string text = m.Render(2, 0, 0);
  EXPECT_EQ(
      Value(text, "coolfusion_requests_total{endpoint=\"/v1/chat/completions\",status=\"200\"}"),
      "2000");
  EXPECT_EQ(
      Value(text, "coolfusion_requests_total{endpoint=\"/v1/chat/completions\",status=\"499\"}"),
      "2000");
  EXPECT_EQ(Value(text, "coolfusion_generated_tokens_total"), "8000");
  EXPECT_EQ(Value(text, "coolfusion_segments_total"), "4000");
  EXPECT_EQ(Value(text, "coolfusion_generations_total"), "4000");
  EXPECT_EQ(Value(text, "coolfusion_cancelled_total"), "1000");
  EXPECT_EQ(Value(text, "coolfusion_generation_seconds_total"), "2000");
}

}  // namespace
}  // namespace coolfusion::server
