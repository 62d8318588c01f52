#include "eval/jsonl.h"

#include <cctype>
#include <fstream>
#include <sstream>

namespace coolfusion::eval {

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace((unsigned char)s[b])) ++b;
  while (e > b && std::isspace((unsigned char)s[e - 1])) --e;
  return std::string(s.substr(b, e - b));
}

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument(where + ": " + what);
}

Status ForEachJsonlRow(
    std::string_view content, const std::string& source, size_t* blank_lines,
    const std::function<Status(const nlohmann::json&, const std::string&)>& row) {
  size_t line_no = 0, start = 0;
  while (start < content.size()) {
    size_t end = content.find('\n', start);
    if (end == std::string_view::npos) end = content.size();
    const std::string_view line = content.substr(start, end - start);
    start = end + 1;
    ++line_no;
    const std::string where = source + ":" + std::to_string(line_no);
    if (Trim(line).empty()) {
      ++*blank_lines;
      continue;
    }
    const nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return Bad(where, "not valid JSON");
    CF_RETURN_IF_ERROR(row(j, where));
  }
  return Status::Ok();
}

Status ReadDatasetFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::NotFound("cannot read dataset " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return Status::Ok();
}

}  // namespace coolfusion::eval
