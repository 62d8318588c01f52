#include "server/slot_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "support/paths.h"

namespace coolfusion::server {
namespace {

std::vector<std::unique_ptr<Ensemble>> Slots(int n) {
  std::vector<std::unique_ptr<Ensemble>> v;
  for (int i = 0; i < n; ++i) {
    ModelOptions mo;
    mo.path = testing::Shared("stories260K");
    mo.n_threads = 1;
    std::unique_ptr<Ensemble> e;
    EXPECT_TRUE(Ensemble::Open({mo}, &e).ok());
    v.push_back(std::move(e));
  }
  return v;
}

using std::chrono::milliseconds;

TEST(SlotPool, LeasesAreExclusiveAndTheQueueIsBounded) {
  SlotPool pool(Slots(2), 1);
  std::unique_ptr<SlotPool::Lease> a, b, c, d;
  ASSERT_TRUE(pool.Acquire(nullptr, milliseconds(5), milliseconds(1000), &a).ok());
  ASSERT_TRUE(pool.Acquire(nullptr, milliseconds(5), milliseconds(1000), &b).ok());
  EXPECT_NE(a->index(), b->index());
  EXPECT_EQ(pool.busy(), 2u);
  // One may wait; it gets the slot that is released.
  std::thread waiter(
      [&] { EXPECT_TRUE(pool.Acquire(nullptr, milliseconds(5), milliseconds(5000), &c).ok()); });
  while (pool.waiting() == 0) std::this_thread::sleep_for(milliseconds(1));
  // A second waiter exceeds the queue: refused at once.
  Status st = pool.Acquire(nullptr, milliseconds(5), milliseconds(1000), &d);
  EXPECT_EQ(st.code(), Status::Code::kResourceExhausted);
  const int freed = a->index();
  a.reset();
  waiter.join();
  EXPECT_EQ(c->index(), freed);
  EXPECT_EQ(pool.waiting(), 0u);
}

TEST(SlotPool, WaitingEndsOnCancelOrTimeout) {
  SlotPool pool(Slots(1), 4);
  std::unique_ptr<SlotPool::Lease> a, b;
  ASSERT_TRUE(pool.Acquire(nullptr, milliseconds(5), milliseconds(1000), &a).ok());
  std::atomic<bool> gone{false};
  std::thread t([&] {
    std::this_thread::sleep_for(milliseconds(30));
    gone = true;
  });
  Status st = pool.Acquire([&] { return gone.load(); }, milliseconds(5), milliseconds(5000), &b);
  t.join();
  EXPECT_EQ(st.code(), Status::Code::kCancelled);
  st = pool.Acquire(nullptr, milliseconds(5), milliseconds(50), &b);
  EXPECT_EQ(st.code(), Status::Code::kDeadlineExceeded);
  EXPECT_EQ(pool.waiting(), 0u);
}

}  // namespace
}  // namespace coolfusion::server
