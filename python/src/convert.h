// Between Python values and the engine's: options from dicts (the checked ones that
// coolfusion/_options.py builds), results as dicts (which coolfusion/results.py turns into
// dataclasses), a Status as a Python exception. Every function here needs the GIL.
#pragma once

#include <coolfusion/engine.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

namespace coolfusion::python {

namespace py = pybind11;

// Raises the Python exception for a failed Status (the table is in convert.cc and
// docs/python.md), carrying the engine's message and, as its `status` attribute, the code's
// name ("invalid_argument", ...). REQUIRES: !st.ok().
[[noreturn]] void ThrowStatus(const Status& st);

// Engine text as str: UTF-8, with any ill-formed byte decoded as U+FFFD.
py::str Text(const std::string& s);

// A model's options from {"path": str, "n_ctx": int, ...}; an unknown key or a value of the
// wrong type is a TypeError naming the key.
ModelOptions ModelOptionsFromDict(const py::dict& d);
// A request from {"prompt": str} or {"messages": [(role, content), ...]} and the options'
// keys (GenerateOptions' fields under the Python API's names: "max_tokens", "temperature",
// "score", ...).
Request RequestFromDict(const py::dict& d);
std::vector<std::string> StringsFrom(const py::handle& v, const char* what);

py::dict ModelInfoToDict(const ModelInfo& m);
py::dict SegmentToDict(const Segment& s);
py::dict GenerationResultToDict(const GenerationResult& r);
py::dict ScoreResultToDict(const ScoreResult& r);

}  // namespace coolfusion::python
