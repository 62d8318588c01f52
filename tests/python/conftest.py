"""Shared paths and ensembles of the Python package's tests (tests/python/run_tests.sh runs
them in a virtual environment where the package is installed).

Environment: COOLFUSION_CLI (the build's bin/coolfusion), COOLFUSION_TINY_MODEL_DIR (the
build's models/: rand-*.gguf); the zoo is the repository's models/.
"""

import os
from pathlib import Path

import pytest

import coolfusion

ROOT = Path(__file__).resolve().parents[2]
CLI = os.environ.get("COOLFUSION_CLI", str(ROOT / "build" / "bin" / "coolfusion"))
TINY = Path(os.environ.get("COOLFUSION_TINY_MODEL_DIR", str(ROOT / "build" / "models")))
ZOO = [str(ROOT / "models" / f"arith3-{x}.gguf") for x in "abc"]
# Random-weight models that never end their text: a generation runs until max_tokens.
RAND = [str(TINY / "rand-llama-spm.gguf"), str(TINY / "rand-gpt-2.gguf")]


def question(text):
    return f"Question: {text}\nAnswer:"


SUBTRACTION = question("Ann has 23 shells. Ann gives 8 shells to Ben. "
                       "How many shells does Ann have now?")
ADDITION = question("Ann has 5 cups. Ann buys 3 more cups. How many cups does Ann have now?")


@pytest.fixture(scope="session")
def zoo():
    with coolfusion.Ensemble(ZOO) as e:
        yield e


@pytest.fixture(scope="session")
def rand():
    with coolfusion.Ensemble(RAND, n_ctx=2048) as e:
        yield e
