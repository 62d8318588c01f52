"""Ensemble.generate, chat, score and stream on the zoo: what they return."""

import json
import math
import re

import pytest

import coolfusion
from conftest import ADDITION, SUBTRACTION, ZOO, question


def test_generate_fuses_the_zoo_and_reports_each_model(zoo):
    r = zoo.generate(SUBTRACTION, max_tokens=32)
    assert r.text == " 23 - 8 = 15\n#### 15"
    assert r.stop_reason == "eog"
    # C cannot subtract: it sits out; A and B answer together
    assert [m.sat_out for m in r.models] == [False, False, True]
    assert r.weights[2] == 0 and 0.5 < r.weights[0] <= 1 and r.weights[1] == 1
    assert len({m.prompt_bytes for m in r.models}) == 1 and 0 < r.models[0].prompt_bytes <= len(SUBTRACTION)
    assert "".join(s.text for s in r.segments) == r.text
    scored = [c for s in r.segments for c in s.candidates if len(s.candidates) > 1]
    for c in scored:
        assert len(c.ppl) == 3 and math.isnan(c.ppl[2]) and c.ppl[0] >= 1
    assert all(s.delta is None for s in r.segments)
    assert r.counters.decode_calls > 0 and r.counters.sat_out == 1
    assert r.timings.total_ms > 0 and r.n_new_tokens > 0 and r.n_prompt_tokens > 0


def test_result_types_are_frozen_dataclasses(zoo):
    r = zoo.generate(ADDITION, max_tokens=8)
    assert isinstance(r, coolfusion.GenerationResult)
    assert isinstance(r.segments[0], coolfusion.Segment)
    assert isinstance(r.counters, coolfusion.Counters)
    with pytest.raises(AttributeError):
        r.text = "x"


def test_stream_yields_segments_whose_deltas_spell_the_text(zoo):
    whole = zoo.generate(ADDITION, max_tokens=32)
    s = zoo.stream(ADDITION, max_tokens=32)
    segments = list(s)
    assert "".join(x.delta for x in segments) == whole.text == s.result.text
    assert s.result.stop_reason == whole.stop_reason == "eog"
    assert [x.text for x in s.result.segments] == [x.text for x in whole.segments]
    assert all(isinstance(x, coolfusion.Segment) and x.candidates for x in segments)
    assert list(s) == []  # over


def test_stream_holds_back_what_may_begin_a_stop_string(zoo):
    s = zoo.stream(ADDITION, max_tokens=32, stop="####")
    deltas = [x.delta for x in s]
    assert s.result.stop_reason == "stop"
    assert "".join(deltas) == s.result.text == " 5 + 3 = 8\n"


def test_chat_renders_each_models_template(zoo):
    with coolfusion.Ensemble(ZOO[:2], chat_template="chatml") as e:
        a = e.chat([{"role": "user", "content": ADDITION}], max_tokens=16)
        b = e.chat([("user", ADDITION)], max_tokens=16)
        assert a.text == b.text and a.text.strip()
        s = e.stream([{"role": "user", "content": ADDITION}], max_tokens=16)
        assert "".join(x.delta for x in s) == a.text


def test_score_ranks_given_answers(zoo):
    right, wrong = " 23 - 8 = 15\n#### 15", " 23 - 8 = 14\n#### 14"
    r = zoo.score(SUBTRACTION, [wrong, right])
    assert r.best == 1 and r.best_text == right
    assert [c.text for c in r.continuations] == [wrong, right]
    for c in r.continuations:
        assert len(c.nll) == len(c.tokens) == len(c.nll_per_byte) == len(c.ppl) == 3
        assert math.isnan(c.nll[2])  # C sat out
        assert c.tokens[0] > 0 and c.nll[0] > 0
        assert c.nll_per_byte[0] == pytest.approx(c.nll[0] / len(c.text))
    assert r.continuations[1].score < r.continuations[0].score
    assert r.models[2].sat_out
    # the paper's rule, everyone scoring
    m = zoo.score(SUBTRACTION, [wrong, right], score="mean")
    assert all(not math.isnan(x) for x in m.continuations[0].nll)


def test_json_schema_and_grammar_constrain_the_answer(zoo):
    r = zoo.generate(ADDITION, max_tokens=16, json_schema={"type": "integer"})
    assert re.fullmatch(r"-?[0-9]+", r.text), r.text
    g = zoo.generate(ADDITION, max_tokens=16, grammar='root ::= " " [0-9]+')
    assert re.fullmatch(r" [0-9]+", g.text), g.text
    assert "root ::=" in coolfusion.json_schema_to_grammar('{"type": "integer"}')


def test_methods_and_the_prompt_cache(zoo):
    assert "cool" in coolfusion.methods() and "rerank" in coolfusion.methods()
    r = zoo.generate(ADDITION, max_tokens=32, method="rerank")
    assert r.answers and len(r.answers) == len(r.answer_scores)
    again = zoo.generate(ADDITION, max_tokens=32, method="rerank")
    assert again.text == r.text and again.n_cached_tokens > 0
    only = zoo.generate(ADDITION, max_tokens=8, only_model=1)
    assert only.models == ()


def test_models_describe_the_files(zoo):
    assert len(zoo) == 3
    assert [m.name for m in zoo.models] == ["arith3-a.gguf", "arith3-b.gguf", "arith3-c.gguf"]
    assert zoo.models[2].tokenizer != zoo.models[0].tokenizer
    assert zoo.models[0].n_ctx == 4096 and not zoo.models[0].vocab_only
    assert "arith3-a.gguf" in repr(zoo)


def test_close_and_the_context_manager():
    with coolfusion.Ensemble(ZOO[0]) as e:
        assert not e.closed
        e.generate(ADDITION, max_tokens=2)
    assert e.closed
    with pytest.raises(ValueError, match="closed"):
        e.generate(ADDITION)
    e.close()  # idempotent


def test_vocab_only_models_load_but_do_not_generate():
    with coolfusion.Ensemble(ZOO, vocab_only=True) as e:
        assert e.models[0].vocab_only and e.models[0].n_params == 0
        with pytest.raises(ValueError):
            e.generate(question("x"))


def test_results_print_as_json_friendly_values(zoo):
    import dataclasses
    r = zoo.generate(ADDITION, max_tokens=4)
    d = dataclasses.asdict(r)
    assert json.loads(json.dumps(d["counters"]))["decode_calls"] == r.counters.decode_calls
