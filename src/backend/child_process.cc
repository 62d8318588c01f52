#include "backend/child_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

extern char** environ;

namespace coolfusion {

namespace {

using Clock = std::chrono::steady_clock;

// Closes its fd.
struct Fd {
  int fd = -1;
  explicit Fd(int f = -1) : fd(f) {}
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
};

bool WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= (size_t)w;
  }
  return true;
}

}  // namespace

Status RunBoundedChild(const std::vector<std::string>& argv,
                       const std::vector<std::string_view>& input, Clock::time_point deadline,
                       size_t max_output, ChildRun* run) {
  Fd in(::memfd_create("coolfusion-child-input", MFD_CLOEXEC));
  if (in.fd < 0) return Status::Internal(std::string("memfd_create: ") + std::strerror(errno));
  for (std::string_view piece : input)
    if (!WriteAll(in.fd, piece.data(), piece.size()))
      return Status::Internal(std::string("writing the child's input: ") + std::strerror(errno));
  if (::lseek(in.fd, 0, SEEK_SET) != 0)
    return Status::Internal(std::string("writing the child's input: ") + std::strerror(errno));
  int out_pipe[2];
  if (::pipe2(out_pipe, O_CLOEXEC) != 0)
    return Status::Internal(std::string("pipe2: ") + std::strerror(errno));
  Fd out_read(out_pipe[0]);
  Fd out_write(out_pipe[1]);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_write.fd, 1);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addclosefrom_np(&fa, 3);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &fa, nullptr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Status::Unavailable(std::strerror(rc));
  ::close(out_write.fd);
  out_write.fd = -1;

  // Reads the output until EOF, the deadline or the size limit.
  std::string& got = run->output;
  got.clear();
  ChildRun::End end = ChildRun::End::kExited;
  char buf[1 << 16];
  for (;;) {
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    if (left <= 0) {
      end = ChildRun::End::kTimedOut;
      break;
    }
    pollfd p{out_read.fd, POLLIN, 0};
    const int n = ::poll(&p, 1, (int)left);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;  // the deadline is checked above
    const ssize_t r = ::read(out_read.fd, buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) break;
    got.append(buf, (size_t)r);
    if (got.size() > max_output) {
      end = ChildRun::End::kTooLarge;
      break;
    }
  }
  int wstatus = 0;
  if (end != ChildRun::End::kExited) ::kill(pid, SIGKILL);
  for (;;) {  // a child that closed its output exits at once; one that did not is killed
    const pid_t w = ::waitpid(pid, &wstatus, end == ChildRun::End::kExited ? WNOHANG : 0);
    if (w == pid) break;
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return Status::Internal(std::string("waitpid: ") + std::strerror(errno));
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      end = ChildRun::End::kTimedOut;
      while (::waitpid(pid, &wstatus, 0) < 0 && errno == EINTR) {
      }
      break;
    }
    ::usleep(1000);
  }
  run->end = end;
  run->wait_status = wstatus;
  return Status::Ok();
}

}  // namespace coolfusion
