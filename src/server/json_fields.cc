#include "server/json_fields.h"

#include "base/utf8.h"

namespace coolfusion::server {

using nlohmann::json;

bool ParseJsonBody(std::string_view body, json* j, std::string* why) {
  // The depth on the text, before parsing, in one pass (nlohmann's parser callback, which
  // could count it, takes time quadratic in an object's size).
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < body.size(); ++i) {
    const char c = body[i];
    if (in_string) {
      if (c == '\\') {
        ++i;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxBodyNesting) {
        *why = "the request body nests more than " + std::to_string(kMaxBodyNesting) +
               " levels of objects and arrays";
        return false;
      }
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  *j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j->is_discarded()) {
    *why = "the request body is not valid JSON";
    // Parsed again, only on this path, for nlohmann's reason ("number overflow parsing
    // '1e309'", "syntax error ... at line 1, column 9") without its "[json.exception...]" tag.
    try {
      const json again = json::parse(body);  // throws: the text did not parse above
      (void)again;
    } catch (const json::exception& e) {
      std::string reason = e.what();
      const size_t tag_end = reason.find("] ");
      if (reason.rfind("[json.exception", 0) == 0 && tag_end != std::string::npos)
        reason.erase(0, tag_end + 2);
      // "last read: '...'" quotes the client's bytes: a short excerpt, valid UTF-8.
      constexpr size_t kMaxReason = 200;
      const bool cut = reason.size() > kMaxReason;
      reason = Utf8Excerpt(reason, kMaxReason);
      if (cut) reason += "...";
      if (!reason.empty()) *why += ": " + reason;
    }
    return false;
  }
  return true;
}

bool ParseJsonObject(std::string_view body, json* j, ApiError* err) {
  std::string why;
  if (!ParseJsonBody(body, j, &why)) return Fail(err, why);
  if (!j->is_object()) return Fail(err, "the request body must be a JSON object");
  return true;
}

bool Present(const json& j, const char* key) { return j.contains(key) && !j[key].is_null(); }

bool Fail(ApiError* err, std::string message, std::string param, int status, std::string code) {
  err->status = status;
  err->type = "invalid_request_error";
  err->message = std::move(message);
  err->param = std::move(param);
  err->code = std::move(code);
  return false;
}

bool GetNumber(const json& j, const char* key, double lo, double hi, double* out, ApiError* err) {
  if (!Present(j, key)) return true;
  if (!j[key].is_number()) return Fail(err, std::string("'") + key + "' must be a number", key);
  const double v = j[key].get<double>();
  if (!(v >= lo && v <= hi)) {
    return Fail(
        err,
        std::string("'") + key + "' must be in [" + json(lo).dump() + ", " + json(hi).dump() + "]",
        key);
  }
  *out = v;
  return true;
}

bool GetInt(const json& j, const char* key, int lo, int hi, int* out, ApiError* err) {
  if (!Present(j, key)) return true;
  const std::string range = "[" + std::to_string(lo) + ", " + std::to_string(hi) + "]";
  if (!j[key].is_number_integer())
    return Fail(err, std::string("'") + key + "' must be an integer in " + range, key);
  // Compared as a double: a 64-bit integer beyond int's range is out of range, not wrapped.
  const double v = j[key].get<double>();
  if (!(v >= lo && v <= hi))
    return Fail(err, std::string("'") + key + "' must be an integer in " + range, key);
  *out = (int)v;
  return true;
}

bool GetFloat(const json& j, const char* key, double lo, double hi, float* out, ApiError* err) {
  double v = *out;
  if (!GetNumber(j, key, lo, hi, &v, err)) return false;
  *out = (float)v;
  return true;
}

bool GetBool(const json& j, const char* key, bool* out, ApiError* err) {
  if (!Present(j, key)) return true;
  if (!j[key].is_boolean()) return Fail(err, std::string("'") + key + "' must be a boolean", key);
  *out = j[key].get<bool>();
  return true;
}

}  // namespace coolfusion::server
