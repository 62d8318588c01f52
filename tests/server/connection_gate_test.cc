// ConnectionGate: a client that does not read its answers cannot hold a worker, and a
// response's waits for its client are bounded as a whole (issue 31, finding 9). Real
// loopback sockets; the client's receive buffer is made small so that the kernel holds
// little of a response. The counts and deadlines it enforces (connection_limits.h) are
// tested on their own, without sockets.
#include "server/connection_gate.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>

#include "server/connection_limits.h"

namespace coolfusion::server {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A gate on a free loopback port whose every request is answered with `response_bytes`
// bytes; it records how long the last answer held its worker.
class Fixture {
 public:
  Fixture(GateOptions o, size_t response_bytes) {
    o.host = "127.0.0.1";
    o.port = 0;
    gate_ = std::make_unique<ConnectionGate>(std::move(o), [this, response_bytes](Exchange& ex) {
      const auto t0 = Clock::now();
      const std::string head =
          "HTTP/1.1 200 OK\r\nContent-Length: " + std::to_string(response_bytes) + "\r\n\r\n";
      std::string body(response_bytes, 'x');
      bool ok = ex.Write(head.data(), head.size());
      // In pieces, as httplib writes a body.
      for (size_t at = 0; ok && at < body.size(); at += 64 << 10)
        ok = ex.Write(body.data() + at, std::min<size_t>(64 << 10, body.size() - at));
      held_s_.store(SecondsSince(t0));
      answered_.fetch_add(1);
      return ok;
    });
    EXPECT_TRUE(gate_->Listen(&port_).ok());
    thread_ = std::thread([this] { gate_->Run(); });
  }
  ~Fixture() {
    gate_->Stop();
    thread_.join();
  }

  // A connected client with a small receive buffer that has sent `requests` GETs.
  int Client(int requests) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    const int small = 4096;
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons((uint16_t)port_);
    ::inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    std::string reqs;
    for (int i = 0; i < requests; ++i) reqs += "GET /x HTTP/1.1\r\nHost: localhost\r\n\r\n";
    EXPECT_EQ(::send(fd, reqs.data(), reqs.size(), 0), (ssize_t)reqs.size());
    return fd;
  }

  double held_s() const { return held_s_.load(); }
  int answered() const { return answered_.load(); }

 private:
  std::unique_ptr<ConnectionGate> gate_;
  int port_ = 0;
  std::thread thread_;
  std::atomic<double> held_s_{-1};
  std::atomic<int> answered_{0};
};

// Reads what is there without waiting; returns the bytes read, -1 once the server closed.
long ReadSome(int fd, size_t most) {
  std::string buf(most, '\0');
  pollfd p{fd, POLLIN, 0};
  if (::poll(&p, 1, 0) <= 0) return 0;
  const ssize_t n = ::recv(fd, buf.data(), most, MSG_DONTWAIT);
  return n == 0 ? -1 : (long)std::max<ssize_t>(n, 0);
}

TEST(ConnectionGate, AResponseToAClientThatDoesNotReadDoesNotHoldItsWorker) {
  GateOptions o;
  o.workers = 1;
  o.write_timeout_ms = 20000;
  o.max_buffered_response = 64 << 20;
  Fixture f(o, 32 << 20);  // 32 MiB: far more than the sockets hold
  const int fd = f.Client(1);
  const auto t0 = Clock::now();
  while (f.answered() < 1 && SecondsSince(t0) < 10)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  ASSERT_EQ(f.answered(), 1);
  // The worker left the unread rest to the gate (it would have waited up to 20 s).
  EXPECT_LT(f.held_s(), 1.0);
  // And the client still gets the whole answer once it reads.
  size_t got = 0;
  while (got < (32u << 20) && SecondsSince(t0) < 10) {
    const long n = ReadSome(fd, 1 << 16);
    if (n < 0) break;
    got += (size_t)n;
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_GT(got, 32u << 20);
  ::close(fd);
}

TEST(ConnectionGate, AResponseMayWaitForItsClientOnlyTheWriteTimeoutInAll) {
  GateOptions o;
  o.workers = 1;
  o.write_timeout_ms = 1500;
  o.max_buffered_response = 64 << 10;
  Fixture f(o, 32 << 20);  // 32 MiB, read 16 KiB every 50 ms: about 100 s to read it all
  const int fd = f.Client(1);
  const auto t0 = Clock::now();
  size_t got = 0;
  bool closed = false;
  // For 3 s every write moves within the timeout (a per-write deadline never fires) ...
  while (!closed && SecondsSince(t0) < 3) {
    const long n = ReadSome(fd, 16 << 10);
    if (n < 0) closed = true;
    if (n > 0) got += (size_t)n;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  // ... but the response as a whole waited past 1.5 s: the server has given up on it.
  // Reading fast now, the client finds the end of the connection before the end of the
  // response (what the kernel still held comes first).
  while (!closed && got < (32u << 20) && SecondsSince(t0) < 20) {
    const long n = ReadSome(fd, 1 << 20);
    if (n < 0) closed = true;
    if (n > 0) got += (size_t)n;
    if (n == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_TRUE(closed) << "still open after " << SecondsSince(t0) << " s, " << got << " bytes read";
  EXPECT_LT(got, 32u << 20);
  ::close(fd);
}

// The per-address and total limits, without sockets: a refusal counts nothing, and a
// released connection makes room again for its address only.
TEST(ConnectionCounts, RefusesPastThePerAddressAndTotalLimits) {
  ConnectionCounts counts(/*max_connections=*/3, /*max_per_address=*/2);
  std::string why;
  EXPECT_EQ(counts.Admit("10.0.0.1", &why), 0);
  EXPECT_EQ(counts.Admit("10.0.0.1", &why), 0);
  EXPECT_EQ(counts.Admit("10.0.0.1", &why), 429);
  EXPECT_EQ(why, "too many connections from 10.0.0.1 (the limit is 2)");
  EXPECT_EQ(counts.open_from("10.0.0.1"), 2);
  EXPECT_EQ(counts.Admit("10.0.0.2", &why), 0);
  EXPECT_EQ(counts.open(), 3);
  EXPECT_EQ(counts.Admit("10.0.0.3", &why), 503);  // the total, before the address's own
  EXPECT_EQ(why, "the server has 3 connections open; try again later");
  EXPECT_EQ(counts.open_from("10.0.0.3"), 0);

  counts.Release("10.0.0.1");
  EXPECT_EQ(counts.open(), 2);
  EXPECT_EQ(counts.open_from("10.0.0.1"), 1);
  EXPECT_EQ(counts.Admit("10.0.0.3", &why), 0);
  EXPECT_EQ(counts.Admit("10.0.0.2", &why), 503);
  counts.Release("10.0.0.2");
  EXPECT_EQ(counts.open_from("10.0.0.2"), 0);
  EXPECT_EQ(counts.Admit("10.0.0.1", &why), 0);
  EXPECT_EQ(counts.open_from("10.0.0.1"), 2);
}

// What each phase may take, and what is answered when it has run out.
TEST(PhaseDeadlines, EachPhaseHasItsTimeoutAndAHeadOrBodyLateIsA408) {
  const PhaseDeadlines d(/*idle_timeout_ms=*/5000, /*head_timeout_ms=*/10000,
                         /*body_timeout_ms=*/30000);
  const Clock::time_point now = Clock::now();
  EXPECT_EQ(d.Of(ConnPhase::kIdle, now) - now, std::chrono::milliseconds(5000));
  EXPECT_EQ(d.Of(ConnPhase::kHead, now) - now, std::chrono::milliseconds(10000));
  EXPECT_EQ(d.Of(ConnPhase::kBody, now) - now, std::chrono::milliseconds(30000));
  EXPECT_EQ(d.Of(ConnPhase::kDraining, now) - now, std::chrono::seconds(2));
  EXPECT_EQ(d.Of(ConnPhase::kBusy, now), Clock::time_point::max());

  std::string message;
  EXPECT_EQ(d.Expired(ConnPhase::kHead, &message), 408);
  EXPECT_EQ(message, "the request head did not arrive within 10 s");
  EXPECT_EQ(d.Expired(ConnPhase::kBody, &message), 408);
  EXPECT_EQ(message, "the request body did not arrive within 30 s");
  for (ConnPhase p : {ConnPhase::kIdle, ConnPhase::kDraining, ConnPhase::kFlushing}) {
    message.clear();
    EXPECT_EQ(d.Expired(p, &message), 0) << (int)p;  // closed without an answer
    EXPECT_EQ(message, "");
  }
}

}  // namespace
}  // namespace coolfusion::server
