#include "convert.h"

#include <pybind11/stl.h>

#include <cstdint>
#include <functional>
#include <map>

namespace coolfusion::python {

namespace {

// What each Status code raises (docs/python.md): a caller's mistake is a ValueError, a
// file that is missing or unusable an OSError, anything else a RuntimeError.
PyObject* ExceptionType(Status::Code c) {
  switch (c) {
    case Status::Code::kInvalidArgument:
    case Status::Code::kUnsupported:        // valid input these models cannot serve
    case Status::Code::kResourceExhausted:  // a prompt longer than a context, an n_ctx
                                            // that does not fit in memory
      return PyExc_ValueError;
    case Status::Code::kNotFound: return PyExc_FileNotFoundError;
    case Status::Code::kCorruption: return PyExc_OSError;
    default: return PyExc_RuntimeError;
  }
}

const char* CodeName(Status::Code c) {
  switch (c) {
    case Status::Code::kOk: return "ok";
    case Status::Code::kInvalidArgument: return "invalid_argument";
    case Status::Code::kNotFound: return "not_found";
    case Status::Code::kCorruption: return "corruption";
    case Status::Code::kUnsupported: return "unsupported";
    case Status::Code::kResourceExhausted: return "resource_exhausted";
    case Status::Code::kInternal: return "internal";
    case Status::Code::kCancelled: return "cancelled";
    case Status::Code::kUnavailable: return "unavailable";
    case Status::Code::kDeadlineExceeded: return "deadline_exceeded";
  }
  return "unknown";
}

std::string TypeName(const py::handle& v) { return py::str(py::type::of(v).attr("__name__")); }

template <class T>
T As(const py::handle& v, const std::string& key) {
  try {
    return v.cast<T>();
  } catch (const py::cast_error&) {
    throw py::type_error(key + ": unexpected value of type " + TypeName(v));
  }
}

bool AsBool(const py::handle& v, const std::string& key) {
  if (!py::isinstance<py::bool_>(v))
    throw py::type_error(key + ": expected bool, got " + TypeName(v));
  return v.cast<bool>();
}

Switch AsSwitch(const py::handle& v, const std::string& key) {
  return AsBool(v, key) ? Switch::kOn : Switch::kOff;
}

using Setter = std::function<void(GenerateOptions&, const py::handle&, const std::string&)>;

const std::map<std::string, Setter>& Setters() {
  static const std::map<std::string, Setter> m = {
      {"max_tokens", [](GenerateOptions& o, const py::handle& v,
                        const std::string& k) { o.max_new_tokens = As<int>(v, k); }},
      {"method", [](GenerateOptions& o, const py::handle& v,
                    const std::string& k) { o.method = As<std::string>(v, k); }},
      {"stop", [](GenerateOptions& o, const py::handle& v,
                  const std::string& k) { o.stop = StringsFrom(v, k.c_str()); }},
      {"temperature", [](GenerateOptions& o, const py::handle& v,
                         const std::string& k) { o.sampling.temperature = As<float>(v, k); }},
      {"top_p", [](GenerateOptions& o, const py::handle& v,
                   const std::string& k) { o.sampling.top_p = As<float>(v, k); }},
      {"top_k", [](GenerateOptions& o, const py::handle& v,
                   const std::string& k) { o.sampling.top_k = As<int>(v, k); }},
      {"min_p", [](GenerateOptions& o, const py::handle& v,
                   const std::string& k) { o.sampling.min_p = As<float>(v, k); }},
      {"repeat_penalty", [](GenerateOptions& o, const py::handle& v,
                            const std::string& k) { o.sampling.repeat_penalty = As<float>(v, k); }},
      {"frequency_penalty",
       [](GenerateOptions& o, const py::handle& v, const std::string& k) {
         o.sampling.frequency_penalty = As<float>(v, k);
       }},
      {"presence_penalty",
       [](GenerateOptions& o, const py::handle& v, const std::string& k) {
         o.sampling.presence_penalty = As<float>(v, k);
       }},
      {"repeat_last_n", [](GenerateOptions& o, const py::handle& v,
                           const std::string& k) { o.sampling.repeat_last_n = As<int>(v, k); }},
      {"seed", [](GenerateOptions& o, const py::handle& v,
                  const std::string& k) { o.sampling.seed = As<uint32_t>(v, k); }},
      {"score",
       [](GenerateOptions& o, const py::handle& v, const std::string& k) {
         if (!ParseScoreRule(As<std::string>(v, k), &o.scoring.rule))
           throw py::value_error(k + ": not a scoring rule");
       }},
      {"sweetspan_ratio",
       [](GenerateOptions& o, const py::handle& v, const std::string& k) {
         o.scoring.sweetspan_ratio = As<double>(v, k);
       }},
      {"prompt_weights", [](GenerateOptions& o, const py::handle& v,
                            const std::string& k) { o.scoring.prompt_weights = AsSwitch(v, k); }},
      {"prompt_temp", [](GenerateOptions& o, const py::handle& v,
                         const std::string& k) { o.scoring.prompt_temp = As<double>(v, k); }},
      {"sit_out", [](GenerateOptions& o, const py::handle& v,
                     const std::string& k) { o.scoring.sit_out = As<double>(v, k); }},
      {"prompt_evidence",
       [](GenerateOptions& o, const py::handle& v, const std::string& k) {
         o.scoring.prompt_evidence = As<double>(v, k);
       }},
      {"word_end", [](GenerateOptions& o, const py::handle& v,
                      const std::string& k) { o.scoring.word_end = AsSwitch(v, k); }},
      {"per_word", [](GenerateOptions& o, const py::handle& v,
                      const std::string& k) { o.scoring.per_word = AsSwitch(v, k); }},
      {"confidence", [](GenerateOptions& o, const py::handle& v,
                        const std::string& k) { o.scoring.confidence = AsSwitch(v, k); }},
      {"max_segment_tokens", [](GenerateOptions& o, const py::handle& v,
                                const std::string& k) { o.max_segment_tokens = As<int>(v, k); }},
      {"only_model", [](GenerateOptions& o, const py::handle& v,
                        const std::string& k) { o.only_model = As<int>(v, k); }},
      {"parallel_models", [](GenerateOptions& o, const py::handle& v,
                             const std::string& k) { o.parallel_models = AsBool(v, k); }},
      {"cache_prompt", [](GenerateOptions& o, const py::handle& v,
                          const std::string& k) { o.cache_prompt = AsBool(v, k); }},
      {"gate", [](GenerateOptions& o, const py::handle& v,
                  const std::string& k) { o.peer.gate = As<double>(v, k); }},
      {"unite_top_k", [](GenerateOptions& o, const py::handle& v,
                         const std::string& k) { o.peer.unite_top_k = As<int>(v, k); }},
      {"adafuse_margin", [](GenerateOptions& o, const py::handle& v,
                            const std::string& k) { o.peer.adafuse_margin = As<double>(v, k); }},
      {"adafuse_words", [](GenerateOptions& o, const py::handle& v,
                           const std::string& k) { o.peer.adafuse_words = As<int>(v, k); }},
      {"adafuse_beams", [](GenerateOptions& o, const py::handle& v,
                           const std::string& k) { o.peer.adafuse_beams = As<int>(v, k); }},
      {"safe_draft_tokens", [](GenerateOptions& o, const py::handle& v,
                               const std::string& k) { o.peer.safe_draft_tokens = As<int>(v, k); }},
      {"grammar", [](GenerateOptions& o, const py::handle& v,
                     const std::string& k) { o.grammar = As<std::string>(v, k); }},
  };
  return m;
}

template <class T>
py::list List(const std::vector<T>& v) {
  py::list l;
  for (const T& x : v) l.append(py::cast(x));
  return l;
}

py::list ModelReports(const std::vector<ModelReport>& models) {
  py::list l;
  for (const ModelReport& m : models) {
    py::dict d;
    d["prompt_bits_per_byte"] = m.prompt_bits_per_byte;
    d["prompt_bytes"] = m.prompt_bytes;
    d["weight"] = m.weight;
    d["sat_out"] = m.sat_out;
    d["active"] = m.active;
    l.append(d);
  }
  return l;
}

py::dict CountersToDict(const Counters& c) {
  py::dict d;
  d["decode_calls"] = c.decode_calls;
  d["tokens_decoded"] = c.tokens_decoded;
  d["scoring_calls"] = c.scoring_calls;
  d["candidates_scored"] = c.candidates_scored;
  d["duplicate_candidates"] = c.duplicate_candidates;
  d["retokenize_changes"] = c.retokenize_changes;
  d["rollback_tokens"] = c.rollback_tokens;
  d["boundary_checks"] = c.boundary_checks;
  d["align_ns"] = c.align_ns;
  d["merged_segments"] = c.merged_segments;
  d["unencodable"] = c.unencodable;
  d["prescored_tokens"] = c.prescored_tokens;
  d["sat_out"] = c.sat_out;
  d["gated_segments"] = c.gated_segments;
  d["positions"] = c.positions;
  d["fused_positions"] = c.fused_positions;
  d["prompt_renders"] = c.prompt_renders;
  return d;
}

py::dict TimingsToDict(const Timings& t) {
  py::dict d;
  d["total_ms"] = t.total_ms;
  d["generate_ms"] = t.generate_ms;
  d["score_ms"] = t.score_ms;
  d["decode_ms"] = t.decode_ms;
  d["prompt_ms"] = t.prompt_ms;
  d["prompt_fit_ms"] = t.prompt_fit_ms;
  d["prompt_decode_ms"] = t.prompt_decode_ms;
  return d;
}

py::list Texts(const std::vector<std::string>& v) {
  py::list l;
  for (const std::string& s : v) l.append(Text(s));
  return l;
}

}  // namespace

void ThrowStatus(const Status& st) {
  PyObject* type = ExceptionType(st.code());
  py::object exc = py::reinterpret_borrow<py::object>(type)(Text(st.message()));
  exc.attr("status") = CodeName(st.code());
  PyErr_SetObject(type, exc.ptr());
  throw py::error_already_set();
}

py::str Text(const std::string& s) {
  PyObject* o = PyUnicode_DecodeUTF8(s.data(), (Py_ssize_t)s.size(), "replace");
  if (o == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::str>(o);
}

std::vector<std::string> StringsFrom(const py::handle& v, const char* what) {
  if (py::isinstance<py::str>(v) || !py::isinstance<py::sequence>(v))
    throw py::type_error(std::string(what) + ": expected a list of str, got " + TypeName(v));
  std::vector<std::string> out;
  for (const py::handle& s : v) {
    if (!py::isinstance<py::str>(s))
      throw py::type_error(std::string(what) + ": expected str items, got " + TypeName(s));
    out.push_back(s.cast<std::string>());
  }
  return out;
}

ModelOptions ModelOptionsFromDict(const py::dict& d) {
  ModelOptions m;
  for (const auto& [key, v] : d) {
    const std::string k = As<std::string>(key, "model option");
    if (k == "path")
      m.path = As<std::string>(v, k);
    else if (k == "n_ctx")
      m.n_ctx = As<int>(v, k);
    else if (k == "n_threads")
      m.n_threads = As<int>(v, k);
    else if (k == "n_gpu_layers")
      m.n_gpu_layers = As<int>(v, k);
    else if (k == "weight")
      m.weight = As<double>(v, k);
    else if (k == "vocab_only")
      m.vocab_only = AsBool(v, k);
    else if (k == "use_mmap")
      m.use_mmap = AsBool(v, k);
    else if (k == "flash_attn")
      m.flash_attn = As<int>(v, k);
    else if (k == "chat_template")
      m.chat_template = As<std::string>(v, k);
    else
      throw py::type_error("unexpected model option '" + k + "'");
  }
  return m;
}

Request RequestFromDict(const py::dict& d) {
  Request r;
  const auto& setters = Setters();
  for (const auto& [key, v] : d) {
    const std::string k = As<std::string>(key, "option");
    if (k == "prompt") {
      r.prompt = As<std::string>(v, k);
    } else if (k == "messages") {
      for (const py::handle& m : v) {
        const auto pair = As<std::pair<std::string, std::string>>(m, "messages");
        r.messages.push_back(ChatMessage{pair.first, pair.second});
      }
    } else if (auto it = setters.find(k); it != setters.end()) {
      it->second(r.options, v, k);
    } else {
      throw py::type_error("unexpected option '" + k + "'");
    }
  }
  return r;
}

py::dict ModelInfoToDict(const ModelInfo& m) {
  py::dict d;
  d["path"] = Text(m.path);
  d["name"] = Text(m.name);
  d["label"] = Text(m.label);
  d["tokenizer"] = Text(m.tokenizer);
  d["n_vocab"] = m.n_vocab;
  d["n_params"] = m.n_params;
  d["n_ctx"] = m.n_ctx;
  d["n_ctx_train"] = m.n_ctx_train;
  d["vocab_only"] = m.vocab_only;
  d["has_chat_template"] = m.has_chat_template;
  d["n_gpu_layers"] = m.n_gpu_layers;
  d["gpu_layers_on_cpu"] = m.gpu_layers_on_cpu;
  return d;
}

py::dict SegmentToDict(const Segment& s) {
  py::list cands;
  for (const Candidate& c : s.candidates) {
    py::dict dc;
    dc["text"] = Text(c.text);
    dc["ends_generation"] = c.ends_generation;
    dc["writers"] = List(c.writers);
    dc["ppl"] = List(c.ppl);
    dc["used"] = List(c.used);
    dc["score"] = c.score;
    dc["keeps_start"] = c.keeps_start;
    cands.append(dc);
  }
  py::dict d;
  d["text"] = Text(s.text);
  d["winner"] = s.winner;
  d["winning_candidate"] = s.winning_candidate;
  d["candidates"] = cands;
  d["aligned"] = s.aligned;
  d["merged"] = s.merged;
  d["generate_ms"] = s.generate_ms;
  d["score_ms"] = s.score_ms;
  d["tokens_decoded"] = List(s.tokens_decoded);
  d["decode_calls"] = List(s.decode_calls);
  d["draft_decodes"] = List(s.draft_decodes);
  d["scoring_calls"] = List(s.scoring_calls);
  return d;
}

py::dict GenerationResultToDict(const GenerationResult& r) {
  py::list segs;
  for (const Segment& s : r.segments) segs.append(SegmentToDict(s));
  py::dict d;
  d["text"] = Text(r.text);
  d["stop_reason"] = StopReasonName(r.stop_reason);
  d["segments"] = segs;
  d["answers"] = Texts(r.answers);
  d["answer_scores"] = List(r.answer_scores);
  d["n_new_tokens"] = r.n_new_tokens;
  d["n_prompt_tokens"] = r.n_prompt_tokens;
  d["n_cached_tokens"] = r.n_cached_tokens;
  d["counters"] = CountersToDict(r.counters);
  d["timings"] = TimingsToDict(r.timings);
  d["warnings"] = Texts(r.warnings);
  d["models"] = ModelReports(r.models);
  return d;
}

py::dict ScoreResultToDict(const ScoreResult& r) {
  py::list conts;
  for (const ContinuationScore& c : r.continuations) {
    py::dict dc;
    dc["text"] = Text(c.text);
    dc["nll"] = List(c.nll);
    dc["tokens"] = List(c.tokens);
    dc["nll_per_byte"] = List(c.nll_per_byte);
    dc["ppl"] = List(c.ppl);
    dc["score"] = c.score;
    dc["nll_fused"] = c.nll_fused;
    conts.append(dc);
  }
  py::dict d;
  d["continuations"] = conts;
  d["best"] = r.best;
  d["n_prompt_tokens"] = r.n_prompt_tokens;
  d["n_cached_tokens"] = r.n_cached_tokens;
  d["models"] = ModelReports(r.models);
  d["warnings"] = Texts(r.warnings);
  d["counters"] = CountersToDict(r.counters);
  d["timings"] = TimingsToDict(r.timings);
  return d;
}

}  // namespace coolfusion::python
