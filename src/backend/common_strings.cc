// The three string helpers of llama.cpp's common library that its JSON-schema converter
// (common/json-schema-to-grammar.cpp, compiled into the backend) calls. The rest of
// common (argument parsing, chat, downloads, ...) is not built, so these are defined here.
#include <common.h>

std::string string_join(const std::vector<std::string>& values, const std::string& separator) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += separator;
    out += values[i];
  }
  return out;
}

std::vector<std::string> string_split(const std::string& str, const std::string& delimiter) {
  std::vector<std::string> parts;
  if (delimiter.empty()) {
    parts.push_back(str);
    return parts;
  }
  size_t start = 0;
  while (true) {
    const size_t at = str.find(delimiter, start);
    if (at == std::string::npos) break;
    parts.push_back(str.substr(start, at - start));
    start = at + delimiter.size();
  }
  parts.push_back(str.substr(start));
  return parts;
}

std::string string_repeat(const std::string& str, size_t n) {
  std::string out;
  out.reserve(str.size() * n);
  for (size_t i = 0; i < n; ++i) out += str;
  return out;
}
