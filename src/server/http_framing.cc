#include "server/http_framing.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <vector>

namespace coolfusion::server {

namespace {

bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  return std::string_view("!#$%&'*+-.^_`|~").find((char)c) != std::string_view::npos;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
  }
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// The comma-separated elements of a header value, trimmed ("a, b" -> {"a", "b"}).
std::vector<std::string_view> Elements(std::string_view v) {
  std::vector<std::string_view> out;
  size_t start = 0;
  for (;;) {
    const size_t comma = v.find(',', start);
    out.push_back(Trim(v.substr(start, comma == std::string_view::npos ? v.npos : comma - start)));
    if (comma == std::string_view::npos) return out;
    start = comma + 1;
  }
}

bool HasToken(std::string_view value, std::string_view token) {
  for (std::string_view e : Elements(value)) {
    if (Lower(e) == token) return true;
  }
  return false;
}

// A decimal Content-Length (no sign, no spaces inside); one of more than 18 digits reads
// as UINT64_MAX, above any limit.
bool ParseLength(std::string_view s, uint64_t* out) {
  if (s.empty()) return false;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (uint64_t)(c - '0');
  }
  *out = s.size() > 18 ? UINT64_MAX : v;
  return true;
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The line [from, end of line) without its "\r\n" or "\n"; `*next` just past it.
// False when no '\n' is in `buf` from `from` on.
bool Line(std::string_view buf, size_t from, std::string_view* line, size_t* next) {
  const size_t nl = buf.find('\n', from);
  if (nl == std::string_view::npos) return false;
  size_t end = nl;
  if (end > from && buf[end - 1] == '\r') --end;
  *line = buf.substr(from, end - from);
  *next = nl + 1;
  return true;
}

constexpr size_t kMaxChunkLine = 1024;

}  // namespace

RequestFramer::State RequestFramer::Fail(FramingError* err, int status, std::string message) {
  err->status = status;
  err->message = std::move(message);
  return State::kError;
}

RequestFramer::State RequestFramer::Scan(std::string_view buf, FramingError* err) {
  if (!head_done_) {
    const State s = ScanHead(buf, err);
    if (s != State::kComplete) return s;
  }
  if (chunked_) return ScanChunked(buf, err);
  end_ = head_end_ + (size_t)length_;
  return buf.size() >= end_ ? State::kComplete : State::kNeedMore;
}

RequestFramer::State RequestFramer::ScanHead(std::string_view buf, FramingError* err) {
  // Blank lines before a request line are ignored (RFC 9112 2.2); they count toward the
  // head's size limit.
  while (!started_ && skip_ < buf.size()) {
    if (buf[skip_] == '\r' || buf[skip_] == '\n') {
      ++skip_;
    } else {
      started_ = true;
    }
  }
  if (skip_ > limits_.max_head_bytes) return Fail(err, 431, "request head too large");
  if (!started_) return State::kNeedMore;
  // The head ends at the first empty line: "\n\n" or "\n\r\n".
  size_t end = std::string_view::npos;
  for (size_t i = std::max(scanned_, skip_); i < buf.size(); ++i) {
    if (buf[i] != '\n') continue;
    if (i + 1 < buf.size() && buf[i + 1] == '\n') {
      end = i + 2;
      break;
    }
    if (i + 2 < buf.size() && buf[i + 1] == '\r' && buf[i + 2] == '\n') {
      end = i + 3;
      break;
    }
    if (i + 2 >= buf.size()) break;  // the blank line may still be on its way
  }
  if (end == std::string_view::npos) {
    // Resume where the last full look ended (a '\n' near the end is looked at again).
    scanned_ = buf.size() >= 2 ? buf.size() - 2 : 0;
    if (buf.size() > limits_.max_head_bytes)
      return Fail(err, 431,
                  "request head larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
    return State::kNeedMore;
  }
  if (end > limits_.max_head_bytes)
    return Fail(err, 431,
                "request head larger than " + std::to_string(limits_.max_head_bytes) + " bytes");
  const std::string_view head = buf.substr(skip_, end - skip_);
  for (size_t i = 0; i < head.size(); ++i) {
    const unsigned char c = (unsigned char)head[i];
    if (c == 0) return Fail(err, 400, "a NUL byte in the request head");
    if (c == '\r' && (i + 1 == head.size() || head[i + 1] != '\n'))
      return Fail(err, 400, "a bare CR in the request head");
  }

  // Request line: METHOD SP target SP HTTP/1.x
  std::string_view line;
  size_t pos = 0;
  Line(head, 0, &line, &pos);
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == line.npos ? line.npos : line.find(' ', sp1 + 1);
  if (sp1 == line.npos || sp2 == line.npos || line.find(' ', sp2 + 1) != line.npos)
    return Fail(err, 400, "malformed request line");
  const std::string_view method = line.substr(0, sp1);
  const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || method.size() > 32 ||
      !std::all_of(method.begin(), method.end(),
                   [](char c) { return IsTokenChar((unsigned char)c); }))
    return Fail(err, 400, "malformed request method");
  if (target.empty() || !std::all_of(target.begin(), target.end(), [](char c) {
        return (unsigned char)c > ' ' && (unsigned char)c != 0x7f;
      }))
    return Fail(err, 400, "malformed request target");
  if (version == "HTTP/1.1") {
    req_.http11 = true;
  } else if (version == "HTTP/1.0") {
    req_.http11 = false;
  } else if (version.rfind("HTTP/", 0) == 0) {
    return Fail(
        err, 505,
        "HTTP version " + std::string(version.substr(5)) + " is not supported (1.0 and 1.1 are)");
  } else {
    return Fail(err, 400, "malformed request line");
  }
  req_.method = std::string(method);
  req_.target = std::string(target);
  kept_head_.assign(line.data(), line.size());
  kept_head_ += "\r\n";

  // Headers.
  bool close = false, keep_alive = false, had_te = false;
  std::string te;
  while (Line(head, pos, &line, &pos) && !line.empty()) {
    if (line.front() == ' ' || line.front() == '\t')
      return Fail(err, 400, "obsolete line folding in the request head");
    const size_t colon = line.find(':');
    if (colon == line.npos || colon == 0 ||
        !std::all_of(line.begin(), line.begin() + (ptrdiff_t)colon,
                     [](char c) { return IsTokenChar((unsigned char)c); }))
      return Fail(err, 400, "malformed header line");
    const std::string name = Lower(line.substr(0, colon));
    const std::string_view value = Trim(line.substr(colon + 1));
    if (name == "content-length") {
      for (std::string_view e : Elements(value)) {
        uint64_t v = 0;
        if (!ParseLength(e, &v)) return Fail(err, 400, "malformed Content-Length");
        if (had_length_ && v != length_)
          return Fail(err, 400, "conflicting Content-Length headers");
        had_length_ = true;
        length_ = v;
      }
      continue;
    }
    if (name == "transfer-encoding") {
      if (had_te) te += ",";
      te.append(value.data(), value.size());
      had_te = true;
      continue;
    }
    if (name == "content-encoding") {
      for (std::string_view e : Elements(value)) {
        if (Lower(e) != "identity")
          return Fail(err, 415,
                      "Content-Encoding " + std::string(e.substr(0, 32)) +
                          " is not supported: send the body uncompressed");
      }
      continue;
    }
    if (name == "expect") {
      if (Lower(value) != "100-continue")
        return Fail(err, 417, "only \"Expect: 100-continue\" is supported");
      expect_continue_ = true;
      continue;
    }
    if (name == "connection") {
      close = close || HasToken(value, "close");
      keep_alive = keep_alive || HasToken(value, "keep-alive");
    }
    kept_head_.append(line.data(), line.size());
    kept_head_ += "\r\n";
  }
  req_.keep_alive = req_.http11 ? !close : (keep_alive && !close);
  if (had_te) {
    if (Lower(Trim(te)) != "chunked")
      return Fail(err, 501,
                  "Transfer-Encoding " + std::string(Trim(te).substr(0, 32)) +
                      " is not supported (chunked is)");
    if (had_length_) return Fail(err, 400, "both Content-Length and Transfer-Encoding");
    chunked_ = true;
    chunk_pos_ = end;
  }
  if (had_length_ && length_ > limits_.max_body_bytes)
    return Fail(err, 413,
                "request body of " + std::to_string(length_) + " bytes; the limit is " +
                    std::to_string(limits_.max_body_bytes) + " (--max-body)");
  head_end_ = end;
  head_done_ = true;
  return State::kComplete;
}

RequestFramer::State RequestFramer::ScanChunked(std::string_view buf, FramingError* err) {
  for (;;) {
    std::string_view line;
    size_t next = 0;
    switch (chunk_state_) {
      case Chunk::kSize: {
        // Framing bytes (size lines, CRLFs) may not outweigh the body they carry.
        if (chunk_pos_ - head_end_ > 2 * limits_.max_body_bytes + 4096)
          return Fail(err, 413,
                      "chunked request body over " + std::to_string(limits_.max_body_bytes) +
                          " bytes (--max-body)");
        if (!Line(buf, chunk_pos_, &line, &next)) {
          if (buf.size() - chunk_pos_ > kMaxChunkLine)
            return Fail(err, 400, "chunk size line too long");
          return State::kNeedMore;
        }
        if (next - chunk_pos_ > kMaxChunkLine) return Fail(err, 400, "chunk size line too long");
        uint64_t size = 0;
        size_t digits = 0;
        while (digits < line.size() && HexDigit(line[digits]) >= 0) {
          if (digits == 15) return Fail(err, 400, "chunk size too large");
          size = size * 16 + (uint64_t)HexDigit(line[digits]);
          ++digits;
        }
        const std::string_view rest = Trim(line.substr(digits));
        if (digits == 0 || (!rest.empty() && rest.front() != ';'))
          return Fail(err, 400, "malformed chunk size");
        if (size > limits_.max_body_bytes - body_.size())
          return Fail(err, 413,
                      "chunked request body over " + std::to_string(limits_.max_body_bytes) +
                          " bytes (--max-body)");
        chunk_pos_ = next;
        chunk_left_ = size;
        chunk_state_ = size == 0 ? Chunk::kTrailer : Chunk::kData;
        break;
      }
      case Chunk::kData: {
        const size_t n = (size_t)std::min<uint64_t>(chunk_left_, buf.size() - chunk_pos_);
        body_.append(buf.data() + chunk_pos_, n);
        chunk_pos_ += n;
        chunk_left_ -= n;
        if (chunk_left_ > 0) return State::kNeedMore;
        chunk_state_ = Chunk::kDataEnd;
        break;
      }
      case Chunk::kDataEnd: {
        if (chunk_pos_ >= buf.size()) return State::kNeedMore;
        if (buf[chunk_pos_] == '\n') {
          chunk_pos_ += 1;
        } else if (buf[chunk_pos_] == '\r') {
          if (chunk_pos_ + 1 >= buf.size()) return State::kNeedMore;
          if (buf[chunk_pos_ + 1] != '\n') return Fail(err, 400, "malformed chunk end");
          chunk_pos_ += 2;
        } else {
          return Fail(err, 400, "chunk longer than its size");
        }
        chunk_state_ = Chunk::kSize;
        break;
      }
      case Chunk::kTrailer: {
        // Trailer fields are read past and dropped; together they count as a head.
        const bool whole = Line(buf, chunk_pos_, &line, &next);
        trailer_bytes_ += (whole ? next : buf.size()) - chunk_pos_;
        if (trailer_bytes_ > limits_.max_head_bytes)
          return Fail(err, 431, "chunked trailer too large");
        if (!whole) {
          trailer_bytes_ -= buf.size() - chunk_pos_;
          return State::kNeedMore;
        }
        chunk_pos_ = next;
        if (line.empty()) chunk_state_ = Chunk::kDone;
        break;
      }
      case Chunk::kDone: end_ = chunk_pos_; return State::kComplete;
    }
  }
}

FramedRequest RequestFramer::Take(std::string_view buf) {
  FramedRequest out = std::move(req_);
  out.consumed = end_;
  const std::string_view body =
      chunked_ ? std::string_view(body_) : buf.substr(head_end_, (size_t)length_);
  out.normalized.reserve(kept_head_.size() + body.size() + 32);
  out.normalized = std::move(kept_head_);
  if (had_length_ || chunked_)
    out.normalized += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  out.normalized += "\r\n";
  out.normalized.append(body.data(), body.size());
  *this = RequestFramer(limits_);
  return out;
}

std::string EscapeForLog(std::string_view text) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(text.size());
  for (const char ch : text) {
    const unsigned char c = (unsigned char)ch;
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += ch;
    } else {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

namespace {

bool EqualsIgnoringCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower((unsigned char)a[i]) != std::tolower((unsigned char)b[i])) return false;
  }
  return true;
}

std::string_view WithoutBrackets(std::string_view host) {
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    return host.substr(1, host.size() - 2);
  return host;
}

}  // namespace

bool IsLoopbackHost(std::string_view host) {
  host = WithoutBrackets(host);
  if (EqualsIgnoringCase(host, "localhost") || host == "::1") return true;
  in_addr a4{};
  const std::string h(host);
  if (::inet_pton(AF_INET, h.c_str(), &a4) == 1) return (ntohl(a4.s_addr) >> 24) == 127;
  return false;
}

bool HostHeaderAllowed(std::string_view host_header, std::string_view bound_host) {
  std::string_view host = host_header;
  while (!host.empty() && (host.front() == ' ' || host.front() == '\t')) host.remove_prefix(1);
  while (!host.empty() && (host.back() == ' ' || host.back() == '\t')) host.remove_suffix(1);
  if (host.empty()) return true;  // HTTP/1.0 sends none
  // The port: after the last ':' when the host is not a bare IPv6 address.
  const size_t colon = host.rfind(':');
  if (colon != std::string_view::npos && (host.front() != '[' || host[colon - 1] == ']'))
    host = host.substr(0, colon);
  if (host.empty() || (host.front() == '[' && host.back() != ']')) return false;
  return IsLoopbackHost(host) ||
         EqualsIgnoringCase(WithoutBrackets(host), WithoutBrackets(bound_host));
}

std::string CorsAllowOrigin(std::string_view origin, const std::vector<std::string>& allowed) {
  if (origin.empty()) return "";
  for (const std::string& a : allowed) {
    if (a == "*") return "*";
    if (EqualsIgnoringCase(a, origin)) return std::string(origin);
  }
  return "";
}

}  // namespace coolfusion::server
