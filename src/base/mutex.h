// Mutex, MutexLock and CondVar: std::mutex and std::condition_variable with clang's
// thread-safety annotations, so that `-Wthread-safety` checks every GUARDED_BY member
// is touched only with its mutex held (the sanitizer build compiles with clang and the
// analysis on). Under other compilers the annotations expand to nothing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>

#if defined(__clang__)
#define CF_THREAD_ANNOTATION(x) __attribute__((x))
#else
#define CF_THREAD_ANNOTATION(x)
#endif

#define CAPABILITY(x) CF_THREAD_ANNOTATION(capability(x))
#define SCOPED_CAPABILITY CF_THREAD_ANNOTATION(scoped_lockable)
#define GUARDED_BY(x) CF_THREAD_ANNOTATION(guarded_by(x))
#define PT_GUARDED_BY(x) CF_THREAD_ANNOTATION(pt_guarded_by(x))
#define REQUIRES(...) CF_THREAD_ANNOTATION(requires_capability(__VA_ARGS__))
#define EXCLUDES(...) CF_THREAD_ANNOTATION(locks_excluded(__VA_ARGS__))
#define ACQUIRE(...) CF_THREAD_ANNOTATION(acquire_capability(__VA_ARGS__))
#define RELEASE(...) CF_THREAD_ANNOTATION(release_capability(__VA_ARGS__))
#define NO_THREAD_SAFETY_ANALYSIS CF_THREAD_ANNOTATION(no_thread_safety_analysis)

namespace coolfusion {

class CAPABILITY("mutex") Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;
  void Lock() ACQUIRE() { mu_.lock(); }
  void Unlock() RELEASE() { mu_.unlock(); }

 private:
  friend class CondVar;
  std::mutex mu_;
};

// Holds `mu` for its scope.
class SCOPED_CAPABILITY MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ACQUIRE(mu) : mu_(mu) { mu_->Lock(); }
  ~MutexLock() RELEASE() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A condition variable used with a Mutex: waits are written as loops over the
// predicate (`while (!ready_) cv_.Wait(&mu_);`), which the analysis can check.
class CondVar {
 public:
  // Releases `mu` while waiting and holds it again on return (spurious wake-ups happen).
  void Wait(Mutex* mu) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait(lock);
    lock.release();
  }
  // Like Wait, returning after `timeout` at the latest.
  template <class Rep, class Period>
  void WaitFor(Mutex* mu, std::chrono::duration<Rep, Period> timeout) REQUIRES(mu) {
    std::unique_lock<std::mutex> lock(mu->mu_, std::adopt_lock);
    cv_.wait_for(lock, timeout);
    lock.release();
  }
  void NotifyAll() { cv_.notify_all(); }
  void NotifyOne() { cv_.notify_one(); }

 private:
  std::condition_variable cv_;
};

}  // namespace coolfusion
