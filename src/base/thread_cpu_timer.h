// ThreadCpuTimer: adds the CPU time its thread spends during the timer's lifetime, in
// nanoseconds, to a counter (Counters::align_ns). CPU time, not wall time: a thread that
// is preempted while other models decode on the same cores is not charged for the wait,
// so the number measures the work itself.
#pragma once

#include <time.h>

#include <cstdint>

namespace coolfusion {

class ThreadCpuTimer {
 public:
  // REQUIRES: `sink` outlives the timer and only this thread adds to it meanwhile.
  explicit ThreadCpuTimer(int64_t* sink) : sink_(sink), t0_(Now()) {}
  ~ThreadCpuTimer() { *sink_ += Now() - t0_; }
  ThreadCpuTimer(const ThreadCpuTimer&) = delete;
  ThreadCpuTimer& operator=(const ThreadCpuTimer&) = delete;

 private:
  static int64_t Now() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  }
  int64_t* sink_;
  int64_t t0_;
};

}  // namespace coolfusion
