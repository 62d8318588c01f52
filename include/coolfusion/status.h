// Status: the outcome of an operation that can fail for reasons a user can act on.
// Expected failures (a missing file, a prompt too long, bad input) are values of this
// type; no exception crosses coolfusion's public API (Ensemble turns any that reaches it
// into kInternal). Programming errors assert. [[nodiscard]]: a Status cannot be dropped
// silently; a caller that means to ignore one says so with IgnoreError().
#pragma once

#include <string>
#include <utility>

namespace coolfusion {

class [[nodiscard]] Status {
 public:
  enum class Code {
    kOk = 0,
    kInvalidArgument,    // the caller's input is wrong (bad flag, bad UTF-8, -n 0, ...)
    kNotFound,           // a file does not exist
    kCorruption,         // a file exists but is not a usable GGUF model
    kUnsupported,        // valid input that this build or model cannot handle
    kResourceExhausted,  // context or memory full (also: a prompt longer than a context)
    kInternal,           // llama.cpp reported a fatal error, or an unexpected exception
    kCancelled,          // the caller's callback asked to stop
    kUnavailable,        // an RPC worker died, broke its connection or stopped answering
    kDeadlineExceeded,   // a wait ran past its limit (e.g. for a free server slot)
  };

  Status() = default;  // OK
  static Status Ok() { return Status(); }
  static Status InvalidArgument(std::string m) {
    return Status(Code::kInvalidArgument, std::move(m));
  }
  static Status NotFound(std::string m) { return Status(Code::kNotFound, std::move(m)); }
  static Status Corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
  static Status Unsupported(std::string m) { return Status(Code::kUnsupported, std::move(m)); }
  static Status ResourceExhausted(std::string m) {
    return Status(Code::kResourceExhausted, std::move(m));
  }
  static Status Internal(std::string m) { return Status(Code::kInternal, std::move(m)); }
  static Status Cancelled(std::string m) { return Status(Code::kCancelled, std::move(m)); }
  static Status Unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
  static Status DeadlineExceeded(std::string m) {
    return Status(Code::kDeadlineExceeded, std::move(m));
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  // One line, meant for the user: what went wrong and, where known, what to do.
  const std::string& message() const { return message_; }
  // Drops the status on purpose (the caller has a reason, said where it calls this).
  void IgnoreError() const {}

 private:
  Status(Code c, std::string m) : code_(c), message_(std::move(m)) {}
  Code code_ = Code::kOk;
  std::string message_;
};

}  // namespace coolfusion

// Returns early from the enclosing function when `expr` is not OK.
#define CF_RETURN_IF_ERROR(expr)              \
  do {                                        \
    ::coolfusion::Status _cf_status = (expr); \
    if (!_cf_status.ok()) return _cf_status;  \
  } while (0)
