#include "server/connection_gate.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <thread>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "server/connection_limits.h"
#include "server/gate_exchange.h"
#include "server/socket_io.h"

namespace coolfusion::server {

namespace {

using Clock = std::chrono::steady_clock;

thread_local Exchange* t_current = nullptr;

const char* Reason(int status) {
  switch (status) {
    case 400: return "Bad Request";
    case 408: return "Request Timeout";
    case 413: return "Content Too Large";
    case 415: return "Unsupported Media Type";
    case 417: return "Expectation Failed";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 501: return "Not Implemented";
    case 503: return "Service Unavailable";
    case 505: return "HTTP Version Not Supported";
    default: return "Error";
  }
}

int MsUntil(Clock::time_point t, Clock::time_point now) {
  if (t <= now) return 0;
  return (int)std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count() + 1;
}

}  // namespace

class ConnectionGate::Impl {
 public:
  Impl(GateOptions o, Serve serve)
      : opts_(std::move(o)),
        serve_(std::move(serve)),
        counts_(opts_.max_connections, opts_.max_per_address),
        deadlines_(opts_.idle_timeout_ms, opts_.head_timeout_ms, opts_.body_timeout_ms) {}

  ~Impl() {
    for (auto& [fd, c] : conns_) ::close(fd);
    if (listen_fd_ >= 0) ::close(listen_fd_);
    if (wake_r_ >= 0) ::close(wake_r_);
    if (wake_w_ >= 0) ::close(wake_w_);
  }

  Status Listen(int* port) {
    int fds[2];
    if (::pipe2(fds, O_NONBLOCK | O_CLOEXEC) != 0)
      return Status::Internal(std::string("pipe: ") + std::strerror(errno));
    wake_r_ = fds[0];
    wake_w_ = fds[1];
    return ListenTcp(opts_.host, opts_.port, &listen_fd_, port);
  }

  void Stop() {
    stopping_.store(true);
    if (wake_w_ >= 0) {
      const char c = 's';
      [[maybe_unused]] ssize_t n = ::write(wake_w_, &c, 1);
    }
  }

  void Run() {
    Pool ordinary(this, opts_.workers), quick(this, opts_.quick_workers);
    std::vector<pollfd> pfds;
    std::vector<Conn*> polled;
    while (!stopping_.load()) {
      pfds.clear();
      polled.clear();
      pfds.push_back({wake_r_, POLLIN, 0});
      pfds.push_back({listen_fd_, POLLIN, 0});
      auto now = Clock::now();
      int timeout = 1000;
      for (auto& [fd, c] : conns_) {
        if (c->phase == Conn::Phase::kBusy) continue;
        // A connection whose response is being sent is not read: its pipelined requests
        // wait in the socket, where TCP holds the client back.
        const short events = c->phase == Conn::Phase::kFlushing ? POLLOUT : POLLIN | POLLRDHUP;
        pfds.push_back({fd, events, 0});
        polled.push_back(c.get());
        timeout = std::min(timeout, MsUntil(c->deadline, now));
      }
      const int n = ::poll(pfds.data(), pfds.size(), timeout);
      if (n < 0 && errno != EINTR) {
        std::fprintf(stderr, "error: poll: %s\n", std::strerror(errno));
        break;
      }
      now = Clock::now();
      if (n > 0 && (pfds[0].revents & POLLIN)) TakeReturned(ordinary, quick, now);
      if (n > 0 && (pfds[1].revents & POLLIN)) Accept(now);
      for (size_t i = 0; i < polled.size(); ++i) {
        Conn* c = polled[i];
        if (pfds[i + 2].revents == 0) continue;
        if (pfds[i + 2].revents & (POLLERR | POLLNVAL)) {
          Close(c);
          continue;
        }
        if (c->phase == Conn::Phase::kFlushing) {
          Flush(c, ordinary, quick, now);
          continue;
        }
        Read(c);
        Advance(c, ordinary, quick, now);
      }
      Expire(now);
    }
    // Stopping: nothing new is read; the workers finish (their clients count as gone).
    ordinary.Shutdown();
    quick.Shutdown();
  }

 private:
  struct Job {
    Conn* conn;
    FramedRequest request;
  };

  // A fixed set of worker threads taking jobs in arrival order.
  class Pool {
   public:
    Pool(Impl* gate, int n) : gate_(gate) {
      for (int i = 0; i < n; ++i) threads_.emplace_back([this] { Loop(); });
    }
    ~Pool() { Shutdown(); }
    void Push(Job job) {
      MutexLock lock(&mu_);
      jobs_.push_back(std::move(job));
      cv_.NotifyOne();
    }
    void Shutdown() {
      {
        MutexLock lock(&mu_);
        stop_ = true;
        cv_.NotifyAll();
      }
      for (auto& t : threads_) t.join();
      threads_.clear();
    }

   private:
    void Loop() {
      for (;;) {
        Job job;
        {
          MutexLock lock(&mu_);
          while (!stop_ && jobs_.empty()) cv_.Wait(&mu_);
          if (jobs_.empty()) return;
          job = std::move(jobs_.front());
          jobs_.pop_front();
        }
        gate_->Answer(std::move(job));
      }
    }
    Impl* gate_;
    std::vector<std::thread> threads_;
    Mutex mu_;
    CondVar cv_;
    std::deque<Job> jobs_ GUARDED_BY(mu_);
    bool stop_ GUARDED_BY(mu_) = false;
  };

  // On a worker thread: answers one request, then hands the connection back.
  void Answer(Job job) {
    GateExchange ex(job.conn, std::move(job.request), opts_, stopping_);
    bool keep = false;
    t_current = &ex;
    try {
      keep = serve_(ex);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "error: %s %s: %s\n", EscapeForLog(ex.request().method).c_str(),
                   EscapeForLog(ex.request().target).c_str(), EscapeForLog(e.what()).c_str());
    } catch (...) {
      std::fprintf(stderr, "error: %s %s: unknown exception\n",
                   EscapeForLog(ex.request().method).c_str(),
                   EscapeForLog(ex.request().target).c_str());
    }
    t_current = nullptr;
    keep = keep && !ex.failed() && ex.request().keep_alive;
    {
      MutexLock lock(&returned_mu_);
      returned_.push_back({job.conn, keep, ex.wait_left()});
    }
    const char c = 'r';
    [[maybe_unused]] ssize_t n = ::write(wake_w_, &c, 1);
  }

  void TakeReturned(Pool& ordinary, Pool& quick, Clock::time_point now) {
    char drain[256];
    while (::read(wake_r_, drain, sizeof drain) > 0) {
    }
    std::vector<Returned> back;
    {
      MutexLock lock(&returned_mu_);
      back.swap(returned_);
    }
    for (const Returned& r : back) {
      Conn* c = r.conn;
      c->close_after_flush = !r.keep;
      if (!c->out.empty()) {
        // The client has not read all of the response: the gate sends the rest, within
        // what is left of the response's budget, before the connection goes on.
        c->phase = Conn::Phase::kFlushing;
        c->deadline = now + std::max(r.wait_left, Clock::duration::zero());
        continue;
      }
      Continue(c, ordinary, quick, now);
    }
  }

  // A response is all sent: the connection closes or carries the next request.
  void Continue(Conn* c, Pool& ordinary, Pool& quick, Clock::time_point now) {
    if (c->close_after_flush || (c->eof && c->buf.empty())) {
      Linger(c, now);
      return;
    }
    c->phase = Conn::Phase::kIdle;
    c->deadline = deadlines_.Of(Conn::Phase::kIdle, now);
    if (!c->buf.empty() || c->eof) Advance(c, ordinary, quick, now);  // pipelined
  }

  // kFlushing: sends what the socket takes.
  void Flush(Conn* c, Pool& ordinary, Pool& quick, Clock::time_point now) {
    const ssize_t n = SendNow(c->fd, c->out.data(), c->out.size());
    if (n < 0) {
      Close(c);
      return;
    }
    c->out.erase(0, (size_t)n);
    if (!c->out.empty()) return;
    c->out.shrink_to_fit();
    Continue(c, ordinary, quick, now);
  }

  void Accept(Clock::time_point now) {
    for (;;) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      const int fd = ::accept4(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len,
                               SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        if (errno == EINTR || errno == ECONNABORTED) continue;
        if (errno == EMFILE || errno == ENFILE)
          std::fprintf(stderr, "warning: out of file descriptors; a connection waits\n");
        return;  // EAGAIN: none left
      }
      if (conns_.size() >= (size_t)opts_.max_connections + 64) {
        ::close(fd);  // beyond even the refusals' allowance
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto owned = std::make_unique<Conn>(opts_.framing);
      Conn* c = owned.get();
      c->fd = fd;
      c->addr = AddressOf(ss, &c->port);
      sockaddr_storage local{};
      socklen_t llen = sizeof local;
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &llen);
      c->local_addr = AddressOf(local, &c->local_port);
      // A new connection has a head's time to send its first request.
      c->deadline = deadlines_.Of(Conn::Phase::kHead, now);
      conns_.emplace(fd, std::move(owned));
      std::string why;
      if (const int refusal = counts_.Admit(c->addr, &why); refusal != 0) {
        Refuse(c, refusal, why, now);
        continue;
      }
      c->counted = true;
    }
  }

  // Reads what the client has sent, at most max_read_ahead bytes a turn. A connection is
  // read only when its buffer holds no whole request (Advance takes one as soon as it is
  // whole), so pipelined requests are read at most max_read_ahead bytes ahead of the one
  // being answered; the rest waits in the socket. A request's size is bounded by the
  // framer, which refuses it past its limits (a large body arrives over several turns).
  void Read(Conn* c) {
    char chunk[16 << 10];
    size_t got = 0;
    while (got < opts_.max_read_ahead) {
      const ssize_t n = ::recv(c->fd, chunk, std::min(sizeof chunk, opts_.max_read_ahead - got), 0);
      if (n > 0) {
        if (c->phase != Conn::Phase::kDraining) c->buf.append(chunk, (size_t)n);
        got += (size_t)n;
        continue;
      }
      if (n == 0) c->eof = true;
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) c->eof = true;
      return;
    }
  }

  void Advance(Conn* c, Pool& ordinary, Pool& quick, Clock::time_point now) {
    if (c->phase == Conn::Phase::kDraining) {
      if (c->eof) Close(c);
      return;
    }
    FramingError err;
    const RequestFramer::State st = c->framer.Scan(c->buf, &err);
    if (c->phase == Conn::Phase::kIdle && c->framer.started()) {
      c->phase = Conn::Phase::kHead;
      c->deadline = deadlines_.Of(c->phase, now);
    }
    if (c->phase == Conn::Phase::kHead && c->framer.head_done()) {
      c->phase = Conn::Phase::kBody;
      c->deadline = deadlines_.Of(c->phase, now);
    }
    if (st == RequestFramer::State::kError) {
      Refuse(c, err.status, err.message, now);
      return;
    }
    if (st == RequestFramer::State::kNeedMore) {
      if (c->framer.expects_continue() && c->framer.head_done() && !c->continue_sent) {
        static const char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
        [[maybe_unused]] ssize_t n = ::send(c->fd, kContinue, sizeof kContinue - 1, MSG_NOSIGNAL);
        c->continue_sent = true;
      }
      if (c->eof) Close(c);  // it stopped sending before its request was whole
      return;
    }
    FramedRequest r = c->framer.Take(c->buf);
    c->buf.erase(0, r.consumed);
    c->continue_sent = false;
    c->phase = Conn::Phase::kBusy;
    const bool is_quick = opts_.is_quick && opts_.is_quick(r);
    (is_quick ? quick : ordinary).Push(Job{c, std::move(r)});
  }

  void Expire(Clock::time_point now) {
    std::vector<Conn*> due;
    for (auto& [fd, c] : conns_) {
      if (c->phase != Conn::Phase::kBusy && c->deadline <= now) due.push_back(c.get());
    }
    for (Conn* c : due) {
      std::string message;
      if (const int status = deadlines_.Expired(c->phase, &message); status != 0) {
        Refuse(c, status, message, now);
      } else {
        Close(c);  // idle, done draining, or not reading its response
      }
    }
  }

  // Answers `status` and closes once the client has read it (see Linger).
  void Refuse(Conn* c, int status, const std::string& message, Clock::time_point now) {
    const std::string body = opts_.error_body ? opts_.error_body(status, message) : message;
    std::string out =
        "HTTP/1.1 " + std::to_string(status) + " " + Reason(status) +
        "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
        "\r\nConnection: close\r\n\r\n" + body;
    [[maybe_unused]] ssize_t n = ::send(c->fd, out.data(), out.size(), MSG_NOSIGNAL);
    Linger(c, now);
  }

  // Closes gracefully: no more is sent; what the client still sends is read and dropped
  // for up to 2 s, so that its unread bytes do not turn the close into a reset that could
  // destroy the response before the client reads it.
  void Linger(Conn* c, Clock::time_point now) {
    ::shutdown(c->fd, SHUT_WR);
    c->phase = Conn::Phase::kDraining;
    c->buf.clear();
    c->buf.shrink_to_fit();
    c->deadline = deadlines_.Of(c->phase, now);
    if (c->eof) Close(c);
  }

  void Close(Conn* c) {
    if (c->counted) counts_.Release(c->addr);
    const int fd = c->fd;
    ::close(fd);
    conns_.erase(fd);
  }

  const GateOptions opts_;
  const Serve serve_;
  int listen_fd_ = -1, wake_r_ = -1, wake_w_ = -1;
  std::atomic<bool> stopping_{false};
  // The gate thread's own.
  std::unordered_map<int, std::unique_ptr<Conn>> conns_;
  ConnectionCounts counts_;
  const PhaseDeadlines deadlines_;
  // Handed back by workers.
  struct Returned {
    Conn* conn;
    bool keep;                  // the connection may carry another request
    Clock::duration wait_left;  // of the response's budget for waiting on the client
  };
  Mutex returned_mu_;
  std::vector<Returned> returned_ GUARDED_BY(returned_mu_);
};

ConnectionGate::ConnectionGate(GateOptions options, Serve serve)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(serve))) {}
ConnectionGate::~ConnectionGate() = default;
Status ConnectionGate::Listen(int* port) { return impl_->Listen(port); }
void ConnectionGate::Run() { impl_->Run(); }
void ConnectionGate::Stop() { impl_->Stop(); }
Exchange* ConnectionGate::Current() { return t_current; }

}  // namespace coolfusion::server
