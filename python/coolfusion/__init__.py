"""coolfusion: runs several GGUF language models as one, even when their tokenizers
differ (Cool-Fusion on llama.cpp, in C++; this package binds its library).

    import coolfusion
    with coolfusion.Ensemble(["a.gguf", "b.gguf"]) as e:
        r = e.generate("Question: ...\\nAnswer:", max_tokens=32)
        print(r.text, r.weights)

Ensemble.generate / chat / stream / score; results are frozen dataclasses
(coolfusion.results). Errors: TypeError and ValueError for bad arguments, FileNotFoundError
and OSError for model files, RuntimeError for the rest; each carries the engine's message,
and those raised by the engine its status code (``e.status``: "invalid_argument", ...).
docs/python.md has the whole API.
"""

import os as _os

# The grammar sandbox (coolfusion-sandbox, a child process that compiles grammars and JSON
# schemas) ships inside the package; the library finds it through $COOLFUSION_SANDBOX,
# which a user may set to another one.
_sandbox = _os.path.join(_os.path.dirname(_os.path.abspath(__file__)), "coolfusion-sandbox")
if _os.access(_sandbox, _os.X_OK):
    _os.environ.setdefault("COOLFUSION_SANDBOX", _sandbox)

# OpenMP's threads (ggml's, one team per thread that runs an ensemble) sleep when idle
# instead of spinning: a stream's worker, other threads' ensembles and the caller then do not
# steal each other's cores (measured: docs/python.md). libgomp reads this once, when it is
# loaded; set OMP_WAIT_POLICY=active before importing coolfusion to have it spin.
_os.environ.setdefault("OMP_WAIT_POLICY", "passive")

from . import results  # noqa: E402
from .ensemble import Ensemble, Stream, json_schema_to_grammar, methods  # noqa: E402
from .results import (  # noqa: E402
    Candidate,
    ContinuationScore,
    Counters,
    GenerationResult,
    ModelInfo,
    ModelReport,
    ScoreResult,
    Segment,
    Timings,
)

__version__ = "0.1.0"

__all__ = [
    "Ensemble",
    "Stream",
    "methods",
    "json_schema_to_grammar",
    "results",
    "Candidate",
    "ContinuationScore",
    "Counters",
    "GenerationResult",
    "ModelInfo",
    "ModelReport",
    "ScoreResult",
    "Segment",
    "Timings",
]
