// RequestFramer (issue 22): whatever bytes a client sends, framing them whole or in pieces
// of any size gives the same answer; a framed request's normalized form frames again to
// itself; nothing is read past the buffer; refusals carry a 4xx/5xx status and a message.
#include <cstdint>
#include <string>

#include "server/http_framing.h"

namespace {

using coolfusion::server::FramedRequest;
using coolfusion::server::FramingError;
using coolfusion::server::FramingLimits;
using coolfusion::server::RequestFramer;
using State = RequestFramer::State;

State Feed(const std::string& bytes, size_t step, FramingLimits limits, FramedRequest* out,
           FramingError* err) {
  RequestFramer f(limits);
  for (size_t n = step;; n += step) {
    const size_t have = n < bytes.size() ? n : bytes.size();
    const std::string_view seen(bytes.data(), have);
    const State s = f.Scan(seen, err);
    if (s == State::kComplete) *out = f.Take(seen);
    if (s != State::kNeedMore || have == bytes.size()) return s;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  FramingLimits limits;
  limits.max_head_bytes = 64 + data[0] * 4;
  limits.max_body_bytes = 16 + data[1] * 2;
  const std::string bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  FramedRequest whole, pieces;
  FramingError ew, ep;
  const State sw = Feed(bytes, bytes.size() + 1, limits, &whole, &ew);
  const State sp = Feed(bytes, 1 + data[0] % 7, limits, &pieces, &ep);
  if (sw == State::kError) {
    if (ew.status < 400 || ew.status > 505 || ew.message.empty()) __builtin_trap();
  }
  // In pieces the framer may refuse earlier (a limit crossed before the end), never later,
  // and never differently when both complete.
  if (sw == State::kComplete) {
    if (sp != State::kComplete) __builtin_trap();
    if (whole.normalized != pieces.normalized || whole.consumed != pieces.consumed)
      __builtin_trap();
    if (whole.consumed > bytes.size()) __builtin_trap();
    FramedRequest again;
    FramingError ea;
    FramingLimits wide = limits;
    wide.max_head_bytes += 64;  // the added Content-Length line
    if (Feed(whole.normalized, whole.normalized.size() + 1, wide, &again, &ea) != State::kComplete)
      __builtin_trap();
    if (again.normalized != whole.normalized) __builtin_trap();
  }
  if (sp == State::kComplete && sw != State::kComplete) __builtin_trap();
  return 0;
}
