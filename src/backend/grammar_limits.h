// Limits on what one request's grammar or JSON schema may ask of llama.cpp's GBNF parser and
// schema converter, checked before either runs. Each limit bounds work that a single
// request could otherwise make unbounded (memory or time), and each refusal names the
// field; nothing is silently widened.
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace coolfusion {

// The largest repetition count, {m,n}, a grammar may hold: llama.cpp's
// MAX_REPETITION_THRESHOLD. Stock llama.cpp refuses a larger m but turns a larger n into
// "no maximum"; here both are refused.
inline constexpr unsigned long long kMaxGrammarRepetition = 2000;
// llama.cpp's GBNF parser, its grammar stacks and its schema converter recurse: bounds
// that keep absurd input (a megabyte of nested parentheses) a clear error, not a stack
// overflow.
inline constexpr size_t kMaxGrammarBytes = 64 << 10;
inline constexpr int kMaxGrammarNesting = 256;
inline constexpr int kMaxSchemaNesting = 64;
// llama.cpp's grammar engine keeps one parse stack per way the text so far can be read,
// and an ambiguous grammar multiplies them (100 copies of `"a"? "a"? "a"? "a"? "a"?`
// kept a core busy for minutes). At run time a grammar holds at most kMaxGrammarStacks of
// them, and one grammar call (a token's mask, an accept, the start state) runs at most
// kMaxGrammarCallMs; past either the request ends with an error (grammar.h GrammarBudget).
inline constexpr size_t kMaxGrammarStacks = 1024;
inline constexpr int kMaxGrammarCallMs = 2000;

// A GBNF grammar's limits: not empty, at most kMaxGrammarBytes, parentheses nested at most
// kMaxGrammarNesting deep, and every repetition {m}, {m,} and {m,n} (outside strings,
// character classes and comments) with m <= n and m, n <= kMaxGrammarRepetition.
// Otherwise InvalidArgument naming the problem ("grammar: repetition {3,2} at byte 9: its
// minimum is above its maximum"). Malformed braces are left to the parser, which explains
// them.
Status CheckGrammarLimits(std::string_view gbnf);

// A JSON schema's limits, checked on its text before conversion (a text that is not JSON
// is left to the converter, which says why):
// - objects and arrays nested at most kMaxSchemaNesting deep;
// - minLength/maxLength, minItems/maxItems, minProperties/maxProperties are integers in
//   [0, kMaxGrammarRepetition]; minimum/maximum/exclusiveMinimum/exclusiveMaximum numbers;
// - every min is at most its max (an exclusive pair: below it);
// - at most kMaxSchemaOptionalProperties optional properties in one object (the
//   converter's rules for optional properties grow with the cube of their number: 2,000
//   took 11.8 s), kMaxSchemaProperties properties and kMaxSchemaEnumValues enum values in
//   the whole schema.
// - nothing the converter would silently drop: keywords it ignores (multipleOf,
//   uniqueItems: true, not, if/then/else, contains, min/maxProperties,
//   patternProperties, propertyNames, dependent*, unevaluated*), numeric bounds on
//   anything but an integer (and those integral, within +-10^18), a format other than
//   date, time, date-time and uuid, a pattern together with minLength, maxLength or
//   format;
// - a pattern is a string of at most kMaxSchemaPatternBytes whose repetition counts,
//   nested ones multiplied, stay within kMaxGrammarRepetition;
// - every schema position is checked, the target of each local $ref ("#/...") included
//   wherever it is, and at most kMaxSchemaRefs distinct targets; a $ref is a string
//   starting with '#' (the converter fetches nothing for a remote one and would accept
//   any value there).
// Otherwise InvalidArgument naming the field by its path in the schema
// ("json_schema: properties.name.minLength (10) is above maxLength (2)").
// `patterns`, when given, receives every pattern with its path: whether llama.cpp can
// convert a regex is the converter's to say (ConvertJsonSchema asks it one by one, so that
// its refusal names the path).
inline constexpr size_t kMaxSchemaOptionalProperties = 100;
inline constexpr size_t kMaxSchemaProperties = 5000;
inline constexpr size_t kMaxSchemaEnumValues = 1000;
inline constexpr size_t kMaxSchemaPatternBytes = 1000;
inline constexpr size_t kMaxSchemaRefs = 256;  // distinct local $ref targets
Status CheckJsonSchemaLimits(const std::string& schema_json,
                             std::vector<std::pair<std::string, std::string>>* patterns = nullptr);

}  // namespace coolfusion
