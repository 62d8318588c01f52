#include "server/gate_exchange.h"

#include <poll.h>

#include <algorithm>
#include <cerrno>

#include "server/socket_io.h"

namespace coolfusion::server {

GateExchange::GateExchange(Conn* c, FramedRequest r, const GateOptions& opts,
                           const std::atomic<bool>& stopping)
    : c_(c),
      req_(std::move(r)),
      opts_(opts),
      stopping_(stopping),
      wait_left_(std::chrono::milliseconds(opts.write_timeout_ms)) {}

bool GateExchange::Write(const char* data, size_t size) {
  if (!Send(data, size)) return false;
  written_ += size;
  return true;
}

bool GateExchange::Writable() {
  if (failed_) return false;
  pollfd p{c_->fd, POLLOUT, 0};
  if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLERR | POLLHUP | POLLNVAL))) failed_ = true;
  return !failed_;
}

bool GateExchange::ClientGone() {
  if (failed_ || stopping_.load()) return true;
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

bool GateExchange::Send(const char* data, size_t size) {
  if (failed_) return false;
  const size_t limit = opts_.max_buffered_response;
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

bool GateExchange::SendBuffered() {
  const ssize_t n = SendNow(c_->fd, c_->out.data(), c_->out.size());
  if (n < 0) return false;
  c_->out.erase(0, (size_t)n);
  return true;
}

bool GateExchange::WaitWritable() {
  if (wait_left_ <= Clock::duration::zero() || stopping_.load()) return false;
  const auto t0 = Clock::now();
  pollfd p{c_->fd, POLLOUT, 0};
  const int ms = std::min(
      250, (int)std::chrono::duration_cast<std::chrono::milliseconds>(wait_left_).count() + 1);
  const int r = ::poll(&p, 1, ms);
  wait_left_ -= Clock::now() - t0;
  return r >= 0 || errno == EINTR;
}

bool GateExchange::Fail() {
  failed_ = true;
  c_->out.clear();
  return false;
}

}  // namespace coolfusion::server
