"""Bad input from Python: each one raises a Python exception of the documented type with a
message naming what is wrong, and the interpreter goes on (every case runs in this one
process)."""

import os

import pytest

import coolfusion
from conftest import ADDITION, ZOO

A = ZOO[0]


@pytest.mark.parametrize("args, kwargs, exc, words", [
    (("no/such/model.gguf",), {}, FileNotFoundError, "no/such/model.gguf"),
    (([A, "missing.gguf"],), {}, FileNotFoundError, "missing.gguf"),
    (([],), {}, ValueError, "paths is empty"),
    ((42,), {}, TypeError, "paths"),
    (([A, 3],), {}, TypeError, "paths[1]"),
    (([A, ""],), {}, ValueError, "paths[1]"),
    ((A,), {"n_ctx": -5}, ValueError, "n_ctx"),
    ((A,), {"n_ctx": "big"}, TypeError, "n_ctx"),
    ((A,), {"n_ctx": 2.5}, TypeError, "n_ctx"),
    ((A,), {"n_threads": True}, TypeError, "n_threads"),
    ((A,), {"n_gpu_layers": -2}, ValueError, "n_gpu_layers"),
    (([A, A],), {"weights": [1.0]}, ValueError, "weights has 1"),
    (([A, A],), {"weights": [1.0, -1]}, ValueError, "weights[1]"),
    (([A, A],), {"weights": [1.0, float("nan")]}, ValueError, "weights[1]"),
    (([A, A],), {"weights": "11"}, TypeError, "weights"),
    ((A,), {"chat_template": ""}, ValueError, "chat_template"),
    ((A,), {"chat_template": "no-such-template"}, ValueError, "template"),
    ((A,), {"flash_attn": 1}, TypeError, "flash_attn"),
    ((A,), {"bogus": 1}, TypeError, "bogus"),
])
def test_bad_ensemble_arguments(args, kwargs, exc, words):
    with pytest.raises(exc) as e:
        coolfusion.Ensemble(*args, **kwargs)
    assert words in str(e.value)


def test_a_file_that_is_not_a_model_is_an_oserror(tmp_path):
    bad = tmp_path / "garbage.gguf"
    bad.write_bytes(b"GGUF" + os.urandom(200))
    with pytest.raises(OSError) as e:
        coolfusion.Ensemble(str(bad))
    assert not isinstance(e.value, FileNotFoundError)
    assert "garbage.gguf" in str(e.value) and e.value.status == "corruption"
    text = tmp_path / "text.gguf"
    text.write_text("hello")
    with pytest.raises(OSError, match="not a GGUF file"):
        coolfusion.Ensemble(text)  # a PathLike


def test_engine_errors_carry_their_status_code():
    with pytest.raises(FileNotFoundError) as e:
        coolfusion.Ensemble("nope.gguf")
    assert e.value.status == "not_found" and isinstance(e.value, OSError)


BAD_OPTIONS = [
    ({"max_tokens": 0}, ValueError, "max_tokens"),
    ({"max_tokens": -5}, ValueError, "max_tokens"),
    ({"max_tokens": 1.5}, TypeError, "max_tokens"),
    ({"max_tokens": "10"}, TypeError, "max_tokens"),
    ({"method": "nope"}, ValueError, "method must be one of"),
    ({"method": 3}, TypeError, "method"),
    ({"score": "best"}, ValueError, "score must be one of"),
    ({"temperature": -1}, ValueError, "temperature"),
    ({"temperature": "hot"}, TypeError, "temperature"),
    ({"temperature": float("inf")}, ValueError, "temperature"),
    ({"top_p": 0}, ValueError, "top_p"),
    ({"top_k": -1}, ValueError, "top_k"),
    ({"min_p": 2}, ValueError, "min_p"),
    ({"seed": -1}, ValueError, "seed"),
    ({"seed": 2**32}, ValueError, "seed"),
    ({"repeat_last_n": -2}, ValueError, "repeat_last_n"),
    ({"stop": ""}, ValueError, "stop"),
    ({"stop": [""]}, ValueError, "stop[0]"),
    ({"stop": [1]}, TypeError, "stop[0]"),
    ({"stop": 5}, TypeError, "stop"),
    ({"only_model": 3}, ValueError, "only_model"),
    ({"only_model": -1}, ValueError, "only_model"),
    ({"max_segment_tokens": 0}, ValueError, "max_segment_tokens"),
    ({"sit_out": 1.0}, ValueError, "sit_out"),
    ({"prompt_temp": 0}, ValueError, "prompt_temp"),
    ({"prompt_weights": 1}, TypeError, "prompt_weights"),
    ({"cache_prompt": None}, TypeError, "cache_prompt"),
    ({"peer": {"gate": 0}}, ValueError, "gate"),
    ({"peer": {"nope": 1}}, ValueError, "nope"),
    ({"peer": [1]}, TypeError, "peer"),
    ({"grammar": "root ::= ("}, ValueError, "grammar"),
    ({"grammar": ""}, ValueError, "grammar"),
    ({"grammar": 'root ::= "a"', "json_schema": {}}, ValueError, "not both"),
    ({"json_schema": "{not json"}, ValueError, "json_schema"),
    ({"json_schema": 5}, TypeError, "json_schema"),
    ({"json_schema": {"type": "object", "x": {1, 2}}}, ValueError, "json_schema"),
    ({"bogus": 1}, TypeError, "bogus"),
]


@pytest.mark.parametrize("kwargs, exc, words", BAD_OPTIONS)
def test_bad_generation_options(zoo, kwargs, exc, words):
    with pytest.raises(exc) as e:
        zoo.generate(ADDITION, **kwargs)
    assert words in str(e.value)


@pytest.mark.parametrize("kwargs, exc, words", BAD_OPTIONS[:8])
def test_a_stream_refuses_bad_options_before_it_starts(zoo, kwargs, exc, words):
    with pytest.raises(exc, match=words):
        zoo.stream(ADDITION, **kwargs)
    zoo.generate(ADDITION, max_tokens=2)  # nothing was left running


@pytest.mark.parametrize("prompt, exc, words", [
    (123, TypeError, "prompt"),
    (b"bytes", TypeError, "prompt"),
    (None, TypeError, "prompt"),
    ("\udc80 lone surrogate", ValueError, "prompt"),
])
def test_bad_prompts(zoo, prompt, exc, words):
    with pytest.raises(exc, match=words):
        zoo.generate(prompt)


def test_a_prompt_longer_than_the_context_is_a_valueerror():
    with coolfusion.Ensemble(ZOO[:2], n_ctx=64) as e:
        with pytest.raises(ValueError, match="context") as err:
            e.generate("one two three " * 200)
        assert err.value.status == "resource_exhausted"
        with pytest.raises(ValueError, match="context"):
            e.stream("one two three " * 200)
        e.generate(ADDITION[:40], max_tokens=2)  # still usable


@pytest.mark.parametrize("messages, exc, words", [
    ([], ValueError, "messages is empty"),
    ("hi", TypeError, "messages"),
    ([{"role": "robot", "content": "x"}], ValueError, "role"),
    ([{"role": "user"}], ValueError, "'role' and 'content'"),
    ([{"role": "user", "content": 5}], TypeError, "content"),
    ([{"role": "user", "content": "x", "name": "y"}], ValueError, "unknown keys"),
    ([("user",)], TypeError, "messages[0]"),
    ([42], TypeError, "messages[0]"),
])
def test_bad_chat_messages(zoo, messages, exc, words):
    with pytest.raises(exc) as e:
        zoo.chat(messages)
    assert words in str(e.value)


@pytest.mark.parametrize("continuations, exc, words", [
    ([], ValueError, "continuations is empty"),
    ("abc", TypeError, "continuations"),
    ([""], ValueError, "continuations[0]"),
    ([" 8", 8], TypeError, "continuations[1]"),
    (None, TypeError, "continuations"),
])
def test_bad_continuations(zoo, continuations, exc, words):
    with pytest.raises(exc) as e:
        zoo.score(ADDITION, continuations)
    assert words in str(e.value)


def test_too_many_continuations_is_the_engines_valueerror(zoo):
    with pytest.raises(ValueError, match="4096") as e:
        zoo.score(ADDITION, ["x"] * 4097)
    assert e.value.status == "invalid_argument"


def test_the_private_extension_refuses_malformed_requests_too(zoo):
    core = zoo._core
    with pytest.raises(TypeError, match="unexpected option"):
        core.generate({"prompt": "x", "nope": 1})
    with pytest.raises(TypeError, match="max_tokens"):
        core.generate({"prompt": "x", "max_tokens": "many"})
    with pytest.raises(TypeError):
        core.generate({"prompt": 5})
    with pytest.raises(TypeError):
        core.score({"prompt": "x"}, "abc")
    with pytest.raises(ValueError, match="-n must be"):  # the engine's own check
        core.generate({"prompt": "x", "max_tokens": 0})
    with pytest.raises(TypeError):
        coolfusion._core.Ensemble([{"path": A, "n_ctx": "x"}])
    with pytest.raises(TypeError):
        coolfusion._core.Ensemble([1])
