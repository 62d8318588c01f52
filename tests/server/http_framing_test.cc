// RequestFramer: where a request ends, and what is refused before its body arrives.
#include "server/http_framing.h"

#include <gtest/gtest.h>

#include <string>

namespace coolfusion::server {
namespace {

using State = RequestFramer::State;

FramingLimits Limits(size_t body = 1000, size_t head = 512) {
  FramingLimits l;
  l.max_body_bytes = body;
  l.max_head_bytes = head;
  return l;
}

// Feeds `bytes` whole; returns the final state (and the request or error).
State Frame(const std::string& bytes, FramedRequest* out, FramingError* err,
            FramingLimits limits = Limits()) {
  RequestFramer f(limits);
  const State s = f.Scan(bytes, err);
  if (s == State::kComplete) *out = f.Take(bytes);
  return s;
}

// Feeds `bytes` one byte at a time, as a slow client sends them.
State FrameByteByByte(const std::string& bytes, FramedRequest* out, FramingError* err,
                      FramingLimits limits = Limits(), size_t* at = nullptr) {
  RequestFramer f(limits);
  for (size_t n = 1; n <= bytes.size(); ++n) {
    const std::string_view seen(bytes.data(), n);
    const State s = f.Scan(seen, err);
    if (at != nullptr) *at = n;
    if (s == State::kError) return s;
    if (s == State::kComplete) {
      *out = f.Take(seen);
      return s;
    }
  }
  return State::kNeedMore;
}

TEST(HttpFraming, GetWithoutBody) {
  FramedRequest r;
  FramingError e;
  const std::string req = "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
  ASSERT_EQ(Frame(req + "GET /next", &r, &e), State::kComplete);
  EXPECT_EQ(r.method, "GET");
  EXPECT_EQ(r.target, "/health");
  EXPECT_TRUE(r.http11);
  EXPECT_TRUE(r.keep_alive);
  EXPECT_EQ(r.consumed, req.size());  // the pipelined "GET /next" is left for the next one
  EXPECT_EQ(r.normalized, req);
}

TEST(HttpFraming, ContentLengthBodyIsWaitedForAndCut) {
  const std::string req =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello";
  RequestFramer f(Limits());
  FramingError e;
  EXPECT_EQ(f.Scan(std::string_view(req).substr(0, req.size() - 2), &e), State::kNeedMore);
  EXPECT_TRUE(f.head_done());
  const std::string with_next = req + "POST /x";
  ASSERT_EQ(f.Scan(with_next, &e), State::kComplete);
  const FramedRequest r = f.Take(with_next);
  EXPECT_EQ(r.consumed, req.size());
  EXPECT_EQ(r.normalized,
            "POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello");
}

TEST(HttpFraming, ByteByByteEqualsWhole) {
  const std::string reqs[] = {
      "POST /a HTTP/1.1\r\nContent-Length: 11\r\nX: y\r\n\r\nhello world",
      "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6;ext=1\r\n "
      "world\r\n0\r\nTrailer: t\r\n\r\n",
      "\r\n\nGET / HTTP/1.0\nConnection: keep-alive\n\n",
  };
  for (const std::string& req : reqs) {
    FramedRequest whole, slow;
    FramingError e;
    ASSERT_EQ(Frame(req, &whole, &e), State::kComplete) << req << e.message;
    size_t at = 0;
    ASSERT_EQ(FrameByteByByte(req, &slow, &e, Limits(), &at), State::kComplete) << req << e.message;
    EXPECT_EQ(at, req.size()) << "complete before its last byte: " << req;
    EXPECT_EQ(whole.normalized, slow.normalized);
    EXPECT_EQ(whole.consumed, req.size());
    EXPECT_EQ(slow.consumed, req.size());
  }
}

TEST(HttpFraming, ChunkedBodyIsDecodedAndNormalized) {
  FramedRequest r;
  FramingError e;
  ASSERT_EQ(Frame("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nExpect: "
                  "100-continue\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
                  &r, &e),
            State::kComplete)
      << e.message;
  EXPECT_EQ(r.normalized, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world");
}

TEST(HttpFraming, BodyLimitIsAnsweredFromTheHead) {
  FramingError e;
  RequestFramer f(Limits(1000));
  // The head alone: the body never needs to arrive for the 413.
  EXPECT_EQ(f.Scan("POST /a HTTP/1.1\r\nContent-Length: 1001\r\n\r\n", &e), State::kError);
  EXPECT_EQ(e.status, 413);
  EXPECT_NE(e.message.find("1001"), std::string::npos) << e.message;
  FramedRequest r;
  EXPECT_EQ(Frame("POST /a HTTP/1.1\r\nContent-Length: 1000\r\n\r\n" + std::string(1000, 'x'), &r,
                  &e, Limits(1000)),
            State::kComplete);
  // A length too long to be a number is too large, not malformed.
  EXPECT_EQ(Frame("POST /a HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n", &r, &e),
            State::kError);
  EXPECT_EQ(e.status, 413);
}

TEST(HttpFraming, ChunkedBodyLimitIsAnsweredAsSoonAsCrossed) {
  FramingError e;
  FramedRequest r;
  const std::string head = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string chunk = "40\r\n" + std::string(64, 'x') + "\r\n";
  std::string req = head;
  for (int i = 0; i < 30; ++i) req += chunk;
  req += "0\r\n\r\n";
  size_t at = 0;
  ASSERT_EQ(FrameByteByByte(req, &r, &e, Limits(1000), &at), State::kError);
  EXPECT_EQ(e.status, 413);
  // Refused at the size line of the 16th chunk (15 * 64 = 960 bytes in, 64 more announced),
  // long before the body's end.
  EXPECT_EQ(at, head.size() + 15 * chunk.size() + 4);
  // A single announced chunk over the limit: refused at its size line.
  EXPECT_EQ(Frame("POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nfffffff\r\n", &r, &e),
            State::kError);
  EXPECT_EQ(e.status, 413);
  // Framing bytes cannot outweigh the body: thousands of empty-extension chunks of one byte.
  std::string many = "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 900; ++i) many += "1;" + std::string(20, 'e') + "\r\nx\r\n";
  EXPECT_EQ(Frame(many, &r, &e, Limits(1000)), State::kError);
  EXPECT_EQ(e.status, 413);
}

TEST(HttpFraming, AmbiguousOrUnsupportedFramingIsRefused) {
  struct Case {
    const char* head;
    int status;
  };
  const Case cases[] = {
      {"POST /a HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 5, 6\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: +5\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 0x10\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
      {"POST /a HTTP/1.1\r\nContent-Encoding: gzip\r\nContent-Length: 5\r\n\r\n", 415},
      {"POST /a HTTP/1.1\r\nContent-Encoding: br\r\nContent-Length: 5\r\n\r\n", 415},
      {"POST /a HTTP/1.1\r\nExpect: something\r\n\r\n", 417},
      {"POST /a HTTP/1.1\r\nX: a\r\n folded\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nX : a\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nX: a\rb\r\n\r\n", 400},
      {"POST /a HTTP/1.1\r\nnocolon\r\n\r\n", 400},
      {"POST  /a HTTP/1.1\r\n\r\n", 400},
      {"POST /a HTTP/2.0\r\n\r\n", 505},
      {"POST /a FTP/1.1\r\n\r\n", 400},
      {"PO\x01ST /a HTTP/1.1\r\n\r\n", 400},
  };
  for (const Case& c : cases) {
    FramedRequest r;
    FramingError e;
    EXPECT_EQ(Frame(c.head, &r, &e), State::kError) << c.head;
    EXPECT_EQ(e.status, c.status) << c.head << ": " << e.message;
    EXPECT_FALSE(e.message.empty());
  }
  FramedRequest r;
  FramingError e;
  const std::string nul = std::string("POST /a HTTP/1.1\r\nX: a") + '\0' + "b\r\n\r\n";
  EXPECT_EQ(Frame(nul, &r, &e), State::kError);
  // Repeats that agree are one length; identity is no encoding.
  ASSERT_EQ(Frame("POST /a HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2, 2\r\n"
                  "Content-Encoding: identity\r\n\r\nhi",
                  &r, &e),
            State::kComplete)
      << e.message;
  EXPECT_EQ(r.normalized, "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
}

TEST(HttpFraming, HeadLimitHoldsWithOrWithoutItsEnd) {
  FramedRequest r;
  FramingError e;
  // A head that never ends is refused once it passes the limit, not after a timeout.
  std::string endless = "GET / HTTP/1.1\r\n";
  while (endless.size() <= 512) endless += "X-Pad: aaaaaaaaaaaaaaaa\r\n";
  EXPECT_EQ(Frame(endless, &r, &e, Limits(1000, 512)), State::kError);
  EXPECT_EQ(e.status, 431);
  EXPECT_EQ(Frame(endless + "\r\n", &r, &e, Limits(1000, 512)), State::kError);
  EXPECT_EQ(e.status, 431);
  // Blank lines before the request count too.
  EXPECT_EQ(Frame(std::string(600, '\n'), &r, &e, Limits(1000, 512)), State::kError);
  EXPECT_EQ(e.status, 431);
  EXPECT_EQ(Frame(std::string(100, '\n'), &r, &e, Limits(1000, 512)), State::kNeedMore);
}

TEST(HttpFraming, ExpectContinueIsReportedOnceTheHeadIsAcceptedAndRemoved) {
  RequestFramer f(Limits());
  FramingError e;
  const std::string head = "POST /a HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 2\r\n\r\n";
  EXPECT_EQ(f.Scan(std::string_view(head).substr(0, head.size() - 1), &e), State::kNeedMore);
  EXPECT_FALSE(f.head_done());
  EXPECT_EQ(f.Scan(head, &e), State::kNeedMore);
  EXPECT_TRUE(f.head_done());
  EXPECT_TRUE(f.expects_continue());
  const std::string all = head + "hi";
  ASSERT_EQ(f.Scan(all, &e), State::kComplete);
  EXPECT_EQ(f.Take(all).normalized, "POST /a HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi");
  EXPECT_FALSE(f.expects_continue());  // reset for the next request
}

TEST(HttpFraming, KeepAlive) {
  const struct {
    const char* req;
    bool keep;
  } cases[] = {
      {"GET / HTTP/1.1\r\n\r\n", true},
      {"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", false},
      {"GET / HTTP/1.1\r\nConnection: Upgrade, Close\r\n\r\n", false},
      {"GET / HTTP/1.0\r\n\r\n", false},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", true},
  };
  for (const auto& c : cases) {
    FramedRequest r;
    FramingError e;
    ASSERT_EQ(Frame(c.req, &r, &e), State::kComplete) << c.req;
    EXPECT_EQ(r.keep_alive, c.keep) << c.req;
  }
}

TEST(HttpFraming, PipelinedRequestsFrameOneAfterAnother) {
  const std::string a = "POST /a HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc";
  const std::string b = "POST /b HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nz\r\n0\r\n\r\n";
  const std::string c = "GET /c HTTP/1.1\r\n\r\n";
  std::string buf = a + b + c;
  RequestFramer f(Limits());
  FramingError e;
  std::string targets;
  while (!buf.empty()) {
    ASSERT_EQ(f.Scan(buf, &e), State::kComplete) << e.message;
    const FramedRequest r = f.Take(buf);
    targets += r.target;
    buf.erase(0, r.consumed);
  }
  EXPECT_EQ(targets, "/a/b/c");
}

TEST(HttpPolicy, EscapeForLogKeepsPrintableAsciiOnly) {
  EXPECT_EQ(EscapeForLog("/v1/models?x=1 ~"), "/v1/models?x=1 ~");
  EXPECT_EQ(EscapeForLog(std::string("a\r\nb\0c\x7f\\", 8)), "a\\x0d\\x0ab\\x00c\\x7f\\x5c");
  EXPECT_EQ(EscapeForLog("\xe6\xbc\xa2"), "\\xe6\\xbc\\xa2");
}

TEST(HttpPolicy, HostHeaderMustNameALoopbackServer) {
  for (const char* ok : {"", "localhost", "LocalHost:8080", "127.0.0.1", "127.0.0.1:80",
                         "127.1.2.3:9", "[::1]", "[::1]:8080", "myname:8080"}) {
    EXPECT_TRUE(HostHeaderAllowed(ok, "myname")) << ok;
  }
  for (const char* bad : {"evil.example", "evil.example:8080", "localhost.evil.example",
                          "127.0.0.1.evil.example", "[::2]:80", "[::1", ":80", "0.0.0.0:8080"}) {
    EXPECT_FALSE(HostHeaderAllowed(bad, "127.0.0.1")) << bad;
  }
  EXPECT_TRUE(IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(IsLoopbackHost("::1"));
  EXPECT_TRUE(IsLoopbackHost("[::1]"));
  EXPECT_TRUE(IsLoopbackHost("localhost"));
  EXPECT_FALSE(IsLoopbackHost("0.0.0.0"));
  EXPECT_FALSE(IsLoopbackHost("::"));
  EXPECT_FALSE(IsLoopbackHost("192.168.1.2"));
}

TEST(HttpPolicy, CorsAnswersOnlyTheOriginsGiven) {
  EXPECT_EQ(CorsAllowOrigin("https://a.example", {}), "");
  EXPECT_EQ(CorsAllowOrigin("https://a.example", {"https://b.example"}), "");
  EXPECT_EQ(CorsAllowOrigin("https://a.example", {"https://b.example", "https://a.example"}),
            "https://a.example");
  EXPECT_EQ(CorsAllowOrigin("https://a.example", {"*"}), "*");
  EXPECT_EQ(CorsAllowOrigin("", {"*"}), "");  // not a cross-origin request
}

}  // namespace
}  // namespace coolfusion::server
