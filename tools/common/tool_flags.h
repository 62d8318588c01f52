// Flag parsing shared by the project tools (coolfusion-make-model, -make-task, -train):
// each error is one line on stderr and exit status 1.
#pragma once

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace coolfusion::tools {

inline int Fail(const std::string& m) {
  std::fprintf(stderr, "error: %s\n", m.c_str());
  return 1;
}

// A whole-string integer in [lo, hi].
inline bool ParseLong(const char* s, long lo, long hi, long* out) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s, &end, 10);
  if (*s == '\0' || *end != '\0' || errno || v < lo || v > hi) return false;
  *out = v;
  return true;
}

// A whole-string number in [lo, hi] (NaN rejected).
inline bool ParseDouble(const char* s, double lo, double hi, double* out) {
  char* end = nullptr;
  const double v = std::strtod(s, &end);
  if (*s == '\0' || *end != '\0' || !(v >= lo && v <= hi)) return false;
  *out = v;
  return true;
}

}  // namespace coolfusion::tools
