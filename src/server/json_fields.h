// Reading a request body's JSON, for every endpoint that takes one (request.cc's
// completions, llama_compat.cc's /tokenize and /detokenize): the body parsed with its
// nesting bounded, and each field present, of its type and in its range, or a 400 naming
// it (ApiError, the error any request earns). No HTTP and no threads; nothing here throws
// on any body.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace coolfusion::server {

// What is wrong with a request, or why it failed: OpenAI's error object (openai.h
// ErrorBody) and the HTTP status it is answered with.
struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
  std::string param;  // empty: null
  std::string code;   // empty: null
};

// A request body as JSON: false with *why ("the request body is not valid JSON") when it
// does not parse or nests objects and arrays more than kMaxBodyNesting deep, checked while
// parsing (recursive code downstream, nlohmann's dump() and llama.cpp's schema converter
// among them, never sees deeper input).
inline constexpr int kMaxBodyNesting = 100;
bool ParseJsonBody(std::string_view body, nlohmann::json* j, std::string* why);
// ParseJsonBody, and the body must be an object: false with the 400 in *err otherwise.
bool ParseJsonObject(std::string_view body, nlohmann::json* j, ApiError* err);

// Whether `key` is given: there and not null (a null field is an absent one).
bool Present(const nlohmann::json& j, const char* key);

// Fills *err with a client error (invalid_request_error) and returns false, so that a
// parser can `return Fail(...)`. An empty `param` or `code` is null in the error object.
bool Fail(ApiError* err, std::string message, std::string param = "", int status = 400,
          std::string code = "");

// Each reads the field `key` into *out when it is Present: true when it is absent or
// fine; false with a 400 naming `key` when it is of another type or outside [lo, hi]
// (*out unchanged).
bool GetNumber(const nlohmann::json& j, const char* key, double lo, double hi, double* out,
               ApiError* err);
bool GetInt(const nlohmann::json& j, const char* key, int lo, int hi, int* out, ApiError* err);
bool GetFloat(const nlohmann::json& j, const char* key, double lo, double hi, float* out,
              ApiError* err);
bool GetBool(const nlohmann::json& j, const char* key, bool* out, ApiError* err);

}  // namespace coolfusion::server
