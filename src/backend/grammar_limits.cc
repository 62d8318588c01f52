#include "backend/grammar_limits.h"

// llama.cpp's vendored nlohmann json (vendor/ is on the backend's include path), the one its
// schema converter reads the schema with.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <iterator>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "base/utf8.h"

namespace coolfusion {

namespace {

// Not ordered_json: its object keys are a vector, searched on every insert (an 80,000-key
// object took 5 s to parse).
using Json = nlohmann::json;

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Reads the digits at s[*i] (advancing *i); false if there are none. Values past
// 10^15 stay there: enough to be refused.
bool ReadCount(std::string_view s, size_t* i, unsigned long long* v) {
  const size_t start = *i;
  *v = 0;
  while (*i < s.size() && std::isdigit((unsigned char)s[*i])) {
    if (*v < 1000000000000000ULL) *v = *v * 10 + (unsigned long long)(s[*i] - '0');
    ++*i;
  }
  return *i > start;
}

void SkipSpace(std::string_view s, size_t* i) {
  while (*i < s.size() && IsSpace(s[*i])) ++*i;
}

// Calls f(i) for each character of s outside strings ("..." with backslash escapes) and,
// in GBNF, outside character classes ([...]) and comments (# to the end of the line),
// until f returns false.
template <typename F>
void ForEachStructuralChar(std::string_view s, bool gbnf, F f) {
  char quote = 0;  // '"' inside a string, ']' inside a class
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (quote != 0) {
      if (c == '\\') {
        ++i;
      } else if (c == quote) {
        quote = 0;
      }
    } else if (c == '"') {
      quote = '"';
    } else if (gbnf && c == '[') {
      quote = ']';
    } else if (gbnf && c == '#') {
      while (i < s.size() && s[i] != '\n') ++i;
    } else if (!f(i)) {
      return;
    }
  }
}

// The repetition at s[at] == '{': InvalidArgument if it breaks a limit; Ok when it keeps
// them or is malformed (the parser's to explain).
Status CheckRepetitionAt(std::string_view s, size_t at) {
  size_t i = at + 1;
  unsigned long long lo = 0, hi = 0;
  bool bounded = true;
  SkipSpace(s, &i);
  if (!ReadCount(s, &i, &lo)) return Status::Ok();
  SkipSpace(s, &i);
  if (i < s.size() && s[i] == ',') {
    ++i;
    SkipSpace(s, &i);
    bounded = ReadCount(s, &i, &hi);
    SkipSpace(s, &i);
  } else {
    hi = lo;
  }
  if (i >= s.size() || s[i] != '}') return Status::Ok();
  const std::string text(s.substr(at, i + 1 - at));
  const std::string where = "grammar: repetition " + text + " at byte " + std::to_string(at);
  const std::string limit = std::to_string(kMaxGrammarRepetition);
  if (lo > kMaxGrammarRepetition || (bounded && hi > kMaxGrammarRepetition))
    return Status::InvalidArgument(where + ": a count above " + limit + " is not supported");
  if (bounded && lo > hi)
    return Status::InvalidArgument(where + ": its minimum is above its maximum");
  return Status::Ok();
}

// A short rendering of a JSON value for an error message.
std::string Show(const Json& v) {
  std::string s = v.dump();
  if (s.size() > 40) s = Utf8Excerpt(s, 37) + "...";
  return s;
}

std::string Join(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

class SchemaChecker {
 public:
  explicit SchemaChecker(const Json& root) : root_(root) {}

  Status Visit(const Json& schema, const std::string& path) {
    if (!schema.is_object())
      return Status::Ok();  // true/false schemas, or the converter's to refuse
    // A local $ref's target is checked where it is, under whatever key: the converter
    // follows it, so a schema reached only through a $ref is a schema too.
    if (schema.contains("$ref")) {
      if (!schema["$ref"].is_string())
        return Status::InvalidArgument("json_schema: " + Join(path, "$ref") + " must be a string");
      const std::string& ref = schema["$ref"].get_ref<const std::string&>();
      // The converter would fetch nothing for a remote ref and accept any value there.
      if (ref.rfind('#', 0) != 0)
        return Status::InvalidArgument("json_schema: " + Join(path, "$ref") + " " +
                                       Show(schema["$ref"]) +
                                       ": only references inside the schema (#/...) are supported");
      if (ref.rfind("#/", 0) == 0 && refs_.insert(ref).second) {
        if (refs_.size() > kMaxSchemaRefs)
          return Status::InvalidArgument("json_schema: more than " +
                                         std::to_string(kMaxSchemaRefs) +
                                         " distinct $ref targets in the schema");
        const Json* target = nullptr;
        try {
          target = &root_.at(Json::json_pointer(ref.substr(1)));
        } catch (const std::exception&) {
          // an unresolved ref: the converter's to refuse
        }
        if (target != nullptr)
          CF_RETURN_IF_ERROR(Visit(*target, "$ref(" + Utf8Excerpt(ref, 100) + ")"));
      }
    }
    for (const char* k :
         {"minLength", "maxLength", "minItems", "maxItems", "minProperties", "maxProperties"}) {
      CF_RETURN_IF_ERROR(CheckCount(schema, path, k));
    }
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      if (schema.contains(k) && !schema[k].is_number())
        return Status::InvalidArgument("json_schema: " + Join(path, k) + " must be a number (got " +
                                       Show(schema[k]) + ")");
    }
    CF_RETURN_IF_ERROR(CheckHonoured(schema, path));
    CF_RETURN_IF_ERROR(Ordered(schema, path, "minLength", "maxLength", false));
    CF_RETURN_IF_ERROR(Ordered(schema, path, "minItems", "maxItems", false));
    CF_RETURN_IF_ERROR(Ordered(schema, path, "minProperties", "maxProperties", false));
    CF_RETURN_IF_ERROR(Ordered(schema, path, "minimum", "maximum", false));
    CF_RETURN_IF_ERROR(Ordered(schema, path, "exclusiveMinimum", "maximum", true));
    CF_RETURN_IF_ERROR(Ordered(schema, path, "minimum", "exclusiveMaximum", true));
    CF_RETURN_IF_ERROR(Ordered(schema, path, "exclusiveMinimum", "exclusiveMaximum", true));
    if (schema.contains("enum") && schema["enum"].is_array()) {
      enum_values_ += schema["enum"].size();
      if (enum_values_ > kMaxSchemaEnumValues)
        return Status::InvalidArgument(
            "json_schema: more than " + std::to_string(kMaxSchemaEnumValues) +
            " enum values in the schema (at " + Join(path, "enum") + ")");
    }
    if (schema.contains("properties") && schema["properties"].is_object()) {
      CF_RETURN_IF_ERROR(CheckProperties(schema, path));
    }
    // The places a schema holds other schemas.
    for (const char* k : {"properties", "patternProperties", "$defs", "definitions"}) {
      if (!schema.contains(k) || !schema[k].is_object()) continue;
      for (const auto& [name, sub] : schema[k].items()) {
        CF_RETURN_IF_ERROR(Visit(sub, Join(Join(path, k), name)));
      }
    }
    for (const char* k : {"items", "prefixItems", "anyOf", "oneOf", "allOf"}) {
      if (!schema.contains(k) || !schema[k].is_array()) continue;
      for (size_t i = 0; i < schema[k].size(); ++i) {
        CF_RETURN_IF_ERROR(Visit(schema[k][i], Join(path, k) + "[" + std::to_string(i) + "]"));
      }
    }
    for (const char* k :
         {"items", "additionalProperties", "not", "contains", "if", "then", "else"}) {
      if (schema.contains(k) && schema[k].is_object())
        CF_RETURN_IF_ERROR(Visit(schema[k], Join(path, k)));
    }
    return Status::Ok();
  }

 private:
  static Status CheckCount(const Json& schema, const std::string& path, const char* key) {
    if (!schema.contains(key)) return Status::Ok();
    const Json& v = schema[key];
    // Unsigned values past LLONG_MAX read as negative here: refused too.
    if (v.is_number_integer() && v.get<long long>() >= 0 &&
        v.get<long long>() <= (long long)kMaxGrammarRepetition)
      return Status::Ok();
    return Status::InvalidArgument(
        "json_schema: " + Join(path, key) + " must be an integer from 0 to " +
        std::to_string(kMaxGrammarRepetition) + " (got " + Show(v) + ")");
  }

  // lo <= hi (strict: lo < hi) when both are present. REQUIRES: both numbers if present.
  static Status Ordered(const Json& schema, const std::string& path, const char* lo, const char* hi,
                        bool strict) {
    if (!schema.contains(lo) || !schema.contains(hi)) return Status::Ok();
    const double a = schema[lo].get<double>(), b = schema[hi].get<double>();
    if (strict ? a < b : a <= b) return Status::Ok();
    return Status::InvalidArgument("json_schema: " + Join(path, lo) + " (" + Show(schema[lo]) +
                                   ") is " + (strict && a == b ? "equal to " : "above ") + hi +
                                   " (" + Show(schema[hi]) + "): no value can match");
  }

  Status CheckProperties(const Json& schema, const std::string& path) {
    const Json& props = schema["properties"];
    properties_ += props.size();
    if (properties_ > kMaxSchemaProperties)
      return Status::InvalidArgument(
          "json_schema: more than " + std::to_string(kMaxSchemaProperties) +
          " properties in the schema (at " + Join(path, "properties") + ")");
    size_t required = 0;
    if (schema.contains("required") && schema["required"].is_array()) {
      for (const auto& r : schema["required"]) {
        required += r.is_string() && props.contains(r.get<std::string>());
      }
    }
    const size_t optional = props.size() - std::min(required, props.size());
    if (optional > kMaxSchemaOptionalProperties)
      return Status::InvalidArgument(
          "json_schema: " + Join(path, "properties") + " has " + std::to_string(optional) +
          " optional properties, more than the " + std::to_string(kMaxSchemaOptionalProperties) +
          " supported (name more of them in \"required\")");
    return Status::Ok();
  }

  // Keywords llama.cpp's converter would drop, widening what the answer may be: refused.
  Status CheckHonoured(const Json& schema, const std::string& path) {
    struct Dropped {
      const char* key;
      bool (*no_op)(const Json&);
    };
    static const auto is_false = [](const Json& v) { return v.is_boolean() && !v.get<bool>(); };
    static const auto is_zero = [](const Json& v) { return v.is_number() && v.get<double>() == 0; };
    static const auto is_empty = [](const Json& v) { return v.is_object() && v.empty(); };
    static const Dropped kDropped[] = {
        {"multipleOf", nullptr},
        {"uniqueItems", is_false},
        {"not", nullptr},
        {"if", nullptr},
        {"then", nullptr},
        {"else", nullptr},
        {"contains", nullptr},
        {"minContains", nullptr},
        {"maxContains", nullptr},
        {"minProperties", is_zero},
        {"maxProperties", nullptr},
        {"patternProperties", is_empty},
        {"propertyNames", nullptr},
        {"dependentRequired", is_empty},
        {"dependentSchemas", is_empty},
        {"dependencies", is_empty},
        {"unevaluatedProperties", nullptr},
        {"unevaluatedItems", nullptr},
    };
    for (const Dropped& d : kDropped) {
      if (schema.contains(d.key) && !(d.no_op != nullptr && d.no_op(schema[d.key])))
        return Status::InvalidArgument("json_schema: " + Join(path, d.key) +
                                       " is not supported (the grammar cannot enforce it)");
    }
    const bool is_integer = schema.contains("type") && schema["type"] == "integer";
    for (const char* k : {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"}) {
      if (!schema.contains(k)) continue;
      if (!is_integer)
        return Status::InvalidArgument("json_schema: " + Join(path, k) +
                                       " is supported only with \"type\": \"integer\"");
      // The converter reads the bound as a 64-bit integer: a fraction or a huge value
      // would be silently changed.
      const Json& v = schema[k];
      const double d = v.get<double>();
      if (!v.is_number_integer() || d < -1e18 || d > 1e18)
        return Status::InvalidArgument("json_schema: " + Join(path, k) +
                                       " must be an integer within +-10^18 (got " + Show(v) + ")");
    }
    if (schema.contains("format")) {
      const Json& f = schema["format"];
      static const char* const kFormats[] = {"date",  "time",  "date-time", "uuid", "uuid1",
                                             "uuid2", "uuid3", "uuid4",     "uuid5"};
      const bool known = f.is_string() && std::any_of(std::begin(kFormats), std::end(kFormats),
                                                      [&](const char* x) { return f == x; });
      if (!known)
        return Status::InvalidArgument("json_schema: " + Join(path, "format") + " " + Show(f) +
                                       " is not supported (supported: date, time, date-time, "
                                       "uuid)");
    }
    if (schema.contains("pattern")) {
      const Json& pat = schema["pattern"];
      const std::string where = Join(path, "pattern");
      if (!pat.is_string())
        return Status::InvalidArgument("json_schema: " + where + " must be a string");
      const std::string& text = pat.get_ref<const std::string&>();
      if (text.size() > kMaxSchemaPatternBytes)
        return Status::InvalidArgument("json_schema: " + where + " is " +
                                       std::to_string(text.size()) + " bytes, more than the " +
                                       std::to_string(kMaxSchemaPatternBytes) + " allowed");
      for (const char* k : {"minLength", "maxLength", "format"}) {
        if (schema.contains(k))
          return Status::InvalidArgument("json_schema: " + where + " with " + k +
                                         " is not supported (only the pattern would be enforced)");
      }
      CF_RETURN_IF_ERROR(CheckPatternRepetitions(text, where));
      patterns_.push_back({where, text});
    }
    return Status::Ok();
  }

  // A regex's repetition counts multiply where they nest ("(a{100}){100}" is 10,000 copies
  // of a in the grammar the converter writes): their product is bounded like a grammar's.
  static Status CheckPatternRepetitions(const std::string& p, const std::string& where) {
    std::vector<unsigned long long> best{1};  // per open group: the largest product inside
    unsigned long long last = 1;              // the product of the atom just read
    for (size_t i = 0; i < p.size(); ++i) {
      const char c = p[i];
      if (c == '\\') {
        ++i;
        last = 1;
      } else if (c == '[') {
        for (++i; i < p.size() && p[i] != ']'; ++i) {
          if (p[i] == '\\') ++i;
        }
        last = 1;
      } else if (c == '(') {
        best.push_back(1);
        continue;
      } else if (c == ')') {
        if (best.size() > 1) {
          last = best.back();
          best.pop_back();
        }
      } else if (c == '{') {
        size_t j = i + 1;
        unsigned long long lo = 0, hi = 0;
        if (!ReadCount(p, &j, &lo)) continue;
        hi = lo;
        if (j < p.size() && p[j] == ',') {
          ++j;
          if (!ReadCount(p, &j, &hi)) hi = lo;
        }
        if (j >= p.size() || p[j] != '}') continue;
        i = j;
        const unsigned long long n = std::max(lo, hi);
        if (n > kMaxGrammarRepetition || last * n > kMaxGrammarRepetition)
          return Status::InvalidArgument(
              "json_schema: " + where + ": repetition counts (nested ones multiplied) above " +
              std::to_string(kMaxGrammarRepetition) + " are not supported");
        if (lo > hi)
          return Status::InvalidArgument("json_schema: " + where +
                                         ": a repetition's minimum is above its maximum");
        last *= std::max<unsigned long long>(n, 1);
      } else if (c != '*' && c != '+' && c != '?' && c != '|' && c != '^' && c != '$') {
        last = 1;
      }
      best.back() = std::max(best.back(), last);
    }
    return Status::Ok();
  }

 public:
  // The patterns met (their path, their text), for the caller to try one by one.
  std::vector<std::pair<std::string, std::string>> patterns_;

 private:
  const Json& root_;
  std::set<std::string> refs_;  // the $ref targets checked
  size_t properties_ = 0;
  size_t enum_values_ = 0;
};

}  // namespace

Status CheckGrammarLimits(std::string_view gbnf) {
  // llama.cpp takes an empty grammar for none: the constraint would be silently dropped.
  if (gbnf.empty()) return Status::InvalidArgument("grammar: it is empty");
  if (gbnf.size() > kMaxGrammarBytes)
    return Status::InvalidArgument("grammar: it is " + std::to_string(gbnf.size()) +
                                   " bytes, more than the " + std::to_string(kMaxGrammarBytes) +
                                   " allowed");
  int depth = 0;
  Status st;
  ForEachStructuralChar(gbnf, /*gbnf=*/true, [&](size_t i) {
    const char c = gbnf[i];
    if (c == '(' && ++depth > kMaxGrammarNesting) {
      st = Status::InvalidArgument("grammar: parentheses nested deeper than " +
                                   std::to_string(kMaxGrammarNesting));
    } else if (c == ')') {
      --depth;
    } else if (c == '{') {
      st = CheckRepetitionAt(gbnf, i);
    }
    return st.ok();
  });
  return st;
}

Status CheckJsonSchemaLimits(const std::string& schema_json,
                             std::vector<std::pair<std::string, std::string>>* patterns) {
  int depth = 0;
  bool too_deep = false;
  ForEachStructuralChar(schema_json, /*gbnf=*/false, [&](size_t i) {
    const char c = schema_json[i];
    if (c == '{' || c == '[') {
      too_deep = ++depth > kMaxSchemaNesting;
    } else if (c == '}' || c == ']') {
      --depth;
    }
    return !too_deep;
  });
  if (too_deep)
    return Status::InvalidArgument("json_schema: nested deeper than " +
                                   std::to_string(kMaxSchemaNesting) + " levels");
  const Json schema = Json::parse(schema_json, nullptr, /*allow_exceptions=*/false);
  if (schema.is_discarded()) return Status::Ok();  // the converter's parse says why
  SchemaChecker checker(schema);
  CF_RETURN_IF_ERROR(checker.Visit(schema, ""));
  if (patterns != nullptr) *patterns = std::move(checker.patterns_);
  return Status::Ok();
}

}  // namespace coolfusion
