// What the dataset readers (dataset.h, choice.h) share: a file's content read whole, jsonl
// split into rows that are each one JSON value (blank lines counted, never a row), and
// their errors, which name "SOURCE:LINE".
#pragma once

#include <coolfusion/status.h>

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

namespace coolfusion::eval {

// `s` without leading and trailing ASCII whitespace.
std::string Trim(std::string_view s);

// InvalidArgument "WHERE: WHAT".
Status Bad(const std::string& where, const std::string& what);

// Calls `row` with each non-blank line of `content` parsed as JSON and its place
// ("SOURCE:LINE", 1-based); a line that is not valid JSON is Bad(place, "not valid JSON").
// Blank lines (whitespace only) are counted in *blank_lines. Stops at the first error.
Status ForEachJsonlRow(std::string_view content, const std::string& source, size_t* blank_lines,
                       const std::function<Status(const nlohmann::json&, const std::string&)>& row);

// The whole content of the dataset file `path`; NotFound "cannot read dataset PATH".
Status ReadDatasetFile(const std::string& path, std::string* out);

}  // namespace coolfusion::eval
