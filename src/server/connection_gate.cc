#include "server/connection_gate.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
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

std::string AddressOf(const sockaddr_storage& ss, int* port) {
  char host[INET6_ADDRSTRLEN] = "";
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, host, sizeof host);
    *port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, host, sizeof host);
    *port = ntohs(a->sin6_port);
  } else {
    *port = 0;
  }
  return host;
}

int MsUntil(Clock::time_point t, Clock::time_point now) {
  if (t <= now) return 0;
  return (int)std::chrono::duration_cast<std::chrono::milliseconds>(t - now).count() + 1;
}

// Sends what the socket takes now, without waiting: the bytes sent, or -1 when the client
// is gone.
ssize_t SendNow(int fd, const char* data, size_t size) {
  size_t sent = 0;
  while (sent < size) {
    const ssize_t n = ::send(fd, data + sent, size - sent, MSG_NOSIGNAL);
    if (n > 0) {
      sent += (size_t)n;
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return -1;
    }
  }
  return (ssize_t)sent;
}

}  // namespace

// One client connection. The gate thread owns it while it is sending a request or
// draining; a worker uses its socket (never its buffer) while answering.
struct Conn {
  enum class Phase { kIdle, kHead, kBody, kBusy, kFlushing, kDraining };
  int fd = -1;
  std::string addr, local_addr;
  int port = 0, local_port = 0;
  bool counted = false;  // counts toward its address's limit
  std::string buf;       // unread bytes (the next request's, or pipelined ones)
  RequestFramer framer;
  Phase phase = Phase::kIdle;
  Clock::time_point deadline;
  bool eof = false;  // the client has shut down its sending side
  bool continue_sent = false;
  // kFlushing: the rest of a response its worker left (Exchange::Write), sent by the gate,
  // and whether the connection closes once it is sent.
  std::string out;
  bool close_after_flush = false;
  explicit Conn(FramingLimits limits) : framer(limits) {}
};

class ConnectionGate::Impl {
 public:
  Impl(GateOptions o, Serve serve) : opts_(std::move(o)), serve_(std::move(serve)) {}

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
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const std::string service = std::to_string(opts_.port);
    const int gai = ::getaddrinfo(opts_.host.empty() ? nullptr : opts_.host.c_str(),
                                  service.c_str(), &hints, &res);
    const std::string where = opts_.host + ":" + std::to_string(opts_.port);
    if (gai != 0)
      return Status::Unsupported("cannot listen on " + where + ": " + ::gai_strerror(gai));
    std::string why = "no address";
    for (addrinfo* ai = res; ai != nullptr && listen_fd_ < 0; ai = ai->ai_next) {
      const int fd =
          ::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
      if (fd < 0) continue;
      // SO_REUSEADDR only (not SO_REUSEPORT): a second server on a port in use fails.
      const int one = 1;
      ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && ::listen(fd, 1024) == 0) {
        listen_fd_ = fd;
      } else {
        why = errno == EADDRINUSE ? "the port is in use" : std::strerror(errno);
        ::close(fd);
      }
    }
    ::freeaddrinfo(res);
    if (listen_fd_ < 0) return Status::Unsupported("cannot listen on " + where + ": " + why);
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&ss), &len);
    AddressOf(ss, port);
    return Status::Ok();
  }

  void Stop() {
    stopping_.store(true);
    if (wake_w_ >= 0) {
      const char c = 's';
      [[maybe_unused]] ssize_t n = ::write(wake_w_, &c, 1);
    }
  }

  bool stopping() const { return stopping_.load(); }
  const GateOptions& options() const { return opts_; }

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

  // Writes never wait on the client while what it has not read fits in the connection's
  // buffer (GateOptions::max_buffered_response): the rest is left in Conn::out for the
  // gate to send, so a worker goes on to its next request. Beyond that a write waits, and
  // every wait of the response counts against one budget (write_timeout_ms in all).
  class ExchangeImpl : public Exchange {
   public:
    ExchangeImpl(Impl* gate, Conn* c, FramedRequest r)
        : gate_(gate),
          c_(c),
          req_(std::move(r)),
          wait_left_(std::chrono::milliseconds(gate->options().write_timeout_ms)) {}
    const FramedRequest& request() const override { return req_; }
    const std::string& remote_addr() const override { return c_->addr; }
    int remote_port() const override { return c_->port; }
    const std::string& local_addr() const override { return c_->local_addr; }
    int local_port() const override { return c_->local_port; }
    int fd() const override { return c_->fd; }
    bool failed() const { return failed_; }
    // What is left of the response's budget for waiting on the client.
    Clock::duration wait_left() const { return wait_left_; }

    bool Write(const char* data, size_t size) override {
      if (!Send(data, size)) return false;
      written_ += size;
      return true;
    }

    bool Writable() override {
      if (failed_) return false;
      pollfd p{c_->fd, POLLOUT, 0};
      if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) failed_ = true;
      return !failed_;
    }

    bool ClientGone() override {
      if (failed_ || gate_->stopping()) return true;
      pollfd p{c_->fd, POLLIN | POLLRDHUP, 0};
      if (::poll(&p, 1, 0) <= 0) return false;
      if (p.revents & (POLLERR | POLLHUP | POLLNVAL)) {
        failed_ = true;
        return true;
      }
      if ((p.revents & POLLRDHUP) && !probed_ && written_ == 0 && req_.http11) {
        // Half closed, or gone? A client that has gone answers this with a reset.
        probed_ = true;
        static const char kProbe[] = "HTTP/1.1 100 Continue\r\n\r\n";
        if (!Send(kProbe, sizeof kProbe - 1)) return true;
      }
      return false;
    }

   private:
    bool Send(const char* data, size_t size) {
      if (failed_) return false;
      const size_t limit = gate_->options().max_buffered_response;
      // Room in the buffer first: wait (on the budget) while the client reads too little.
      while (c_->out.size() + size > limit && !c_->out.empty()) {
        if (!SendBuffered() || !WaitWritable()) return Fail();
      }
      if (c_->out.empty()) {
        const ssize_t n = SendNow(c_->fd, data, size);
        if (n < 0) return Fail();
        data += n;
        size -= (size_t)n;
      }
      // What the socket did not take: buffered when it fits, else sent as the client reads.
      while (size > limit) {
        if (!WaitWritable()) return Fail();
        const ssize_t n = SendNow(c_->fd, data, size);
        if (n < 0) return Fail();
        data += n;
        size -= (size_t)n;
      }
      c_->out.append(data, size);
      return true;
    }

    bool SendBuffered() {
      const ssize_t n = SendNow(c_->fd, c_->out.data(), c_->out.size());
      if (n < 0) return false;
      c_->out.erase(0, (size_t)n);
      return true;
    }

    // Waits until the socket takes more (at most 250 ms a turn, to notice a stop); false
    // once the response's waiting budget is spent or the server is stopping.
    bool WaitWritable() {
      if (wait_left_ <= Clock::duration::zero() || gate_->stopping()) return false;
      const auto t0 = Clock::now();
      pollfd p{c_->fd, POLLOUT, 0};
      const int ms = std::min(
          250, (int)std::chrono::duration_cast<std::chrono::milliseconds>(wait_left_).count() + 1);
      const int r = ::poll(&p, 1, ms);
      wait_left_ -= Clock::now() - t0;
      return r >= 0 || errno == EINTR;
    }

    bool Fail() {
      failed_ = true;
      c_->out.clear();
      return false;
    }

    Impl* gate_;
    Conn* c_;
    FramedRequest req_;
    Clock::duration wait_left_;
    size_t written_ = 0;
    bool failed_ = false;
    bool probed_ = false;
  };

  // On a worker thread: answers one request, then hands the connection back.
  void Answer(Job job) {
    ExchangeImpl ex(this, job.conn, std::move(job.request));
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
    c->deadline = now + std::chrono::milliseconds(opts_.idle_timeout_ms);
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
      c->deadline = now + std::chrono::milliseconds(opts_.head_timeout_ms);
      conns_.emplace(fd, std::move(owned));
      if (open_ >= opts_.max_connections) {
        Refuse(c, 503,
               "the server has " + std::to_string(open_) + " connections open; try again later",
               now);
        continue;
      }
      int& from_here = per_address_[c->addr];
      if (from_here >= opts_.max_per_address) {
        Refuse(c, 429,
               "too many connections from " + c->addr + " (the limit is " +
                   std::to_string(opts_.max_per_address) + ")",
               now);
        continue;
      }
      ++from_here;
      ++open_;
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
      c->deadline = now + std::chrono::milliseconds(opts_.head_timeout_ms);
    }
    if (c->phase == Conn::Phase::kHead && c->framer.head_done()) {
      c->phase = Conn::Phase::kBody;
      c->deadline = now + std::chrono::milliseconds(opts_.body_timeout_ms);
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
      switch (c->phase) {
        case Conn::Phase::kHead:
          Refuse(c, 408,
                 "the request head did not arrive within " +
                     std::to_string(opts_.head_timeout_ms / 1000) + " s",
                 now);
          break;
        case Conn::Phase::kBody:
          Refuse(c, 408,
                 "the request body did not arrive within " +
                     std::to_string(opts_.body_timeout_ms / 1000) + " s",
                 now);
          break;
        default: Close(c);  // idle, done draining, or not reading its response
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
    c->deadline = now + std::chrono::seconds(2);
    if (c->eof) Close(c);
  }

  void Close(Conn* c) {
    if (c->counted) {
      auto it = per_address_.find(c->addr);
      if (it != per_address_.end() && --it->second == 0) per_address_.erase(it);
      --open_;
    }
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
  std::unordered_map<std::string, int> per_address_;
  int open_ = 0;  // counted connections
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
