// coolfusion._core: the engine for the Python package. The public API is the Python layer
// (coolfusion/__init__.py and its modules), which checks arguments and builds the dicts
// taken here; this module opens ensembles, runs the engine with the GIL released and turns
// every failed Status into a Python exception (convert.h). Its types are in _core.pyi.
#include <coolfusion/engine.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

#include "convert.h"
#include "ensemble_handle.h"
#include "stream_run.h"

namespace coolfusion::python {

unsigned long main_thread_ident = 0;  // threading.main_thread().ident, set at import

namespace {

// Ctrl-C while the engine runs on the main thread: asks Python, with the GIL, whether a
// signal handler raised (KeyboardInterrupt), and keeps that exception to raise once the
// engine has returned. Other threads never receive signals: there it does nothing, and
// never takes the GIL.
class SignalCheck {
 public:
  SignalCheck() : on_main_thread_(PyThread_get_thread_ident() == main_thread_ident) {}  // GIL held
  ~SignalCheck() {
    if (type_ != nullptr) {
      py::gil_scoped_acquire gil;
      Py_XDECREF(type_);
      Py_XDECREF(value_);
      Py_XDECREF(tb_);
    }
  }

  // Without the GIL; true once a handler raised.
  bool Raised() {
    if (!on_main_thread_) return false;
    std::lock_guard<std::mutex> lock(mu_);
    if (type_ != nullptr) return true;
    py::gil_scoped_acquire gil;
    if (PyErr_CheckSignals() == 0) return false;
    PyErr_Fetch(&type_, &value_, &tb_);
    return type_ != nullptr;
  }
  // With the GIL: raises what a handler raised, if any.
  void RethrowIfRaised() {
    if (type_ == nullptr) return;
    PyErr_Restore(type_, value_, tb_);
    type_ = value_ = tb_ = nullptr;
    throw py::error_already_set();
  }

 private:
  const bool on_main_thread_;
  std::mutex mu_;
  PyObject* type_ = nullptr;
  PyObject* value_ = nullptr;
  PyObject* tb_ = nullptr;
};

[[noreturn]] void ThrowClosed() { throw py::value_error("this Ensemble is closed"); }

class PyStream {
 public:
  explicit PyStream(std::unique_ptr<StreamRun> run) : run_(std::move(run)) {}

  // (segment dict, delta) or None once the generation is over; raises its error once.
  py::object Next() {
    while (true) {
      StreamRun::Item item;
      StreamRun::Wait w;
      {
        py::gil_scoped_release nogil;
        w = run_->Next(0.1, &item);
      }
      // A Ctrl-C that came while waiting is raised here, inside next(), whatever the wait
      // brought: the Python layer then stops the stream (raised after returning, it would
      // surface in the reader's loop and leave the stream running).
      if (PyErr_CheckSignals() != 0) throw py::error_already_set();
      if (w == StreamRun::Wait::kItem)
        return py::make_tuple(SegmentToDict(item.segment), Text(item.delta));
      if (w == StreamRun::Wait::kDone) {
        if (!run_->status().ok() && !error_raised_) {
          error_raised_ = true;
          ThrowStatus(run_->status());
        }
        return py::none();
      }
    }
  }
  void Close() {
    py::gil_scoped_release nogil;
    run_->Abandon();
  }
  bool running() const { return run_->running(); }
  py::dict Result() const {
    if (run_->running()) throw std::runtime_error("the stream is still running");
    if (!run_->status().ok()) ThrowStatus(run_->status());
    return GenerationResultToDict(run_->result());
  }

 private:
  std::unique_ptr<StreamRun> run_;
  bool error_raised_ = false;
};

class PyEnsemble {
 public:
  explicit PyEnsemble(const py::list& models) {
    std::vector<ModelOptions> opts;
    for (const py::handle& m : models) {
      if (!py::isinstance<py::dict>(m)) throw py::type_error("models: expected dicts");
      opts.push_back(ModelOptionsFromDict(m.cast<py::dict>()));
    }
    std::unique_ptr<Ensemble> e;
    Status st;
    {
      py::gil_scoped_release nogil;
      st = Ensemble::Open(opts, &e);
    }
    if (!st.ok()) ThrowStatus(st);
    for (size_t i = 0; i < e->size(); ++i) infos_.push_back(e->info(i));
    warnings_ = e->LoadWarnings();
    handle_ = std::make_shared<EnsembleHandle>(std::move(e));
  }

  py::list Infos() const {
    py::list l;
    for (const ModelInfo& m : infos_) l.append(ModelInfoToDict(m));
    return l;
  }
  const std::vector<std::string>& LoadWarnings() const { return warnings_; }
  bool closed() const { return handle_->closing(); }

  py::dict Generate(const py::dict& request) {
    Request r = RequestFromDict(request);
    GenerationResult out;
    RunReleased(&r, [&](Ensemble& e, const std::function<bool()>& stop) {
      return e.Generate(
          r, [&](const Segment&, std::string_view) { return !stop(); }, &out);
    });
    return GenerationResultToDict(out);
  }

  py::dict Score(const py::dict& request, const py::handle& continuations) {
    Request r = RequestFromDict(request);
    const std::vector<std::string> conts = StringsFrom(continuations, "continuations");
    ScoreResult out;
    RunReleased(&r,
                [&](Ensemble& e, const std::function<bool()>&) { return e.Score(r, conts, &out); });
    return ScoreResultToDict(out);
  }

  // Runs `call` on the ensemble with the GIL released, in its turn, `r` cancelled by
  // close() or a signal; then raises what went wrong (closed, a signal, the Status).
  template <class Call>
  void RunReleased(Request* r, Call&& call) {
    Status st;
    SignalCheck signals;
    bool closed = false;
    {
      py::gil_scoped_release nogil;
      EnsembleHandle::Turn turn(handle_);
      Ensemble* e = turn.ensemble();
      if (e == nullptr) {
        closed = true;
      } else {
        const std::function<bool()> stop = [&] { return handle_->closing() || signals.Raised(); };
        r->cancelled = stop;
        st = call(*e, stop);
      }
    }
    if (closed) ThrowClosed();
    signals.RethrowIfRaised();
    if (!st.ok()) ThrowStatus(st);
  }

  std::unique_ptr<PyStream> Stream(const py::dict& request) {
    Request r = RequestFromDict(request);
    Status st;
    bool closed = false;
    std::unique_ptr<StreamRun> run;
    {
      py::gil_scoped_release nogil;
      auto turn = std::make_unique<EnsembleHandle::Turn>(handle_);
      Ensemble* e = turn->ensemble();
      if (e == nullptr) {
        closed = true;
      } else {
        // Bad input fails here, before the stream exists; the prompt is tokenized once.
        std::shared_ptr<const PreparedPrompt> prepared;
        st = e->Validate(r, &prepared);
        if (st.ok()) {
          r.prepared = std::move(prepared);
          run = std::make_unique<StreamRun>(std::move(turn), std::move(r));
        }
      }
    }
    if (closed) ThrowClosed();
    if (!st.ok()) ThrowStatus(st);
    return std::make_unique<PyStream>(std::move(run));
  }

  void Close() {
    py::gil_scoped_release nogil;
    handle_->Close();
  }

 private:
  std::shared_ptr<EnsembleHandle> handle_;
  std::vector<ModelInfo> infos_;
  std::vector<std::string> warnings_;
};

std::string JsonSchemaToGrammarPy(const std::string& schema) {
  std::string gbnf;
  Status st;
  {
    py::gil_scoped_release nogil;
    st = JsonSchemaToGrammarIsolated(schema, &gbnf);
  }
  if (!st.ok()) ThrowStatus(st);
  return gbnf;
}

void CheckGrammarPy(const std::string& gbnf) {
  Status st;
  {
    py::gil_scoped_release nogil;
    st = CheckGrammarIsolated(gbnf);
  }
  if (!st.ok()) ThrowStatus(st);
}

std::vector<std::string> Methods() {
  std::vector<std::string> out;
  const std::string& list = MethodList();
  size_t start = 0;
  while (start <= list.size()) {
    size_t end = list.find(',', start);
    if (end == std::string::npos) end = list.size();
    std::string name = list.substr(start, end - start);
    while (!name.empty() && name.front() == ' ') name.erase(0, 1);
    if (!name.empty()) out.push_back(name);
    start = end + 1;
  }
  return out;
}

}  // namespace

}  // namespace coolfusion::python

PYBIND11_MODULE(_core, m) {
  using namespace coolfusion::python;
  m.doc() = "coolfusion's engine (private: use the coolfusion package)";
  main_thread_ident =
      py::module_::import("threading").attr("main_thread")().attr("ident").cast<unsigned long>();

  py::class_<PyStream>(m, "Stream")
      .def("next", &PyStream::Next)
      .def("close", &PyStream::Close)
      .def("result", &PyStream::Result)
      .def_property_readonly("running", &PyStream::running);

  py::class_<PyEnsemble>(m, "Ensemble")
      .def(py::init<const py::list&>(), py::arg("models"))
      .def("infos", &PyEnsemble::Infos)
      .def("load_warnings", &PyEnsemble::LoadWarnings)
      .def("generate", &PyEnsemble::Generate, py::arg("request"))
      .def("score", &PyEnsemble::Score, py::arg("request"), py::arg("continuations"))
      .def("stream", &PyEnsemble::Stream, py::arg("request"))
      .def("close", &PyEnsemble::Close)
      .def_property_readonly("closed", &PyEnsemble::closed);

  m.def("json_schema_to_grammar", &JsonSchemaToGrammarPy, py::arg("schema"));
  m.def("check_grammar", &CheckGrammarPy, py::arg("gbnf"));
  m.def("methods", &Methods);
  m.def("default_method", [] { return std::string(coolfusion::DefaultMethod()); });
}
