#include "server/httplib_adapter.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "server/openai.h"

namespace coolfusion::server {

namespace {

thread_local RequestRecord t_request;

// httplib reads and answers one request from a Stream; this one is a request the gate
// has already framed, answered on the gate's connection.
class ExchangeStream : public httplib::Stream {
 public:
  explicit ExchangeStream(Exchange& ex) : ex_(ex), in_(ex.request().normalized) {}
  bool is_readable() const override { return pos_ < in_.size(); }
  bool is_writable() const override { return ex_.Writable(); }
  ssize_t read(char* ptr, size_t size) override {
    const size_t n = std::min(size, in_.size() - pos_);
    std::memcpy(ptr, in_.data() + pos_, n);
    pos_ += n;
    return (ssize_t)n;
  }
  ssize_t write(const char* ptr, size_t size) override {
    return ex_.Write(ptr, size) ? (ssize_t)size : -1;
  }
  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    ip = ex_.remote_addr();
    port = ex_.remote_port();
  }
  void get_local_ip_and_port(std::string& ip, int& port) const override {
    ip = ex_.local_addr();
    port = ex_.local_port();
  }
  // httplib uses the descriptor only to refuse one above FD_SETSIZE (it would select()
  // on it); every read and write here goes through the exchange instead.
  socket_t socket() const override { return -1; }

 private:
  Exchange& ex_;
  const std::string& in_;
  size_t pos_ = 0;
};

}  // namespace

RequestRecord& ThisThreadsRequest() { return t_request; }

// httplib streams a content provider only while its listening socket is valid (that is its
// "not shutting down" test). It never listens here: a descriptor on /dev/null stands in,
// and Shutdown() ends the streams in flight.
GatedServer::GatedServer() : placeholder_(::open("/dev/null", O_RDONLY | O_CLOEXEC)) {
  svr_sock_ = placeholder_;
}

GatedServer::~GatedServer() {
  svr_sock_ = INVALID_SOCKET;
  if (placeholder_ >= 0) ::close(placeholder_);
}

void GatedServer::Shutdown() { svr_sock_ = INVALID_SOCKET; }

bool GatedServer::Answer(Exchange& ex) {
  t_request = RequestRecord{std::chrono::steady_clock::now(), -1};
  ExchangeStream strm(ex);
  bool closed = false;
  const bool ok = process_request(strm, false, closed, [](httplib::Request&) {});
  return ok && !closed;
}

void SendError(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(ErrorBody(e), "application/json");
}

}  // namespace coolfusion::server
