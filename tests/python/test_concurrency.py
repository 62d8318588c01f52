"""Streams that are abandoned, threads, the GIL, Ctrl-C and close() while the engine runs.

The rand-* models never end their text: a generation without max_tokens runs for seconds,
until their 2048-token contexts are full, so "done within a second" means it was cancelled.
"""

import gc
import os
import signal
import threading
import time

import pytest

import coolfusion
from conftest import ADDITION, RAND, SUBTRACTION, ZOO

LONG = None  # until the context (2048) is full: several seconds of the rand-* models
PROMPT = "The quick brown fox"


def assert_free_within_a_second(ensemble, t0):
    """The next call on `ensemble` ran within a second of t0 (its own time not counted)."""
    r = ensemble.generate("Hello", max_tokens=4)
    waited = time.monotonic() - t0 - r.timings.total_ms / 1000
    assert waited < 1.0, f"the Ensemble was busy for {waited:.2f} s after the stream was left"
    assert r.n_new_tokens > 0


def test_closing_a_stream_after_its_first_segment_frees_the_ensemble_at_once(rand):
    s = rand.stream(PROMPT, max_tokens=LONG)
    first = next(s)
    assert first.text
    t0 = time.monotonic()
    s.close()
    assert_free_within_a_second(rand, t0)
    assert s.result.stop_reason == "cancelled"
    assert len(s.result.segments) < 10
    assert list(s) == []


def test_a_stream_left_by_break_is_cancelled_when_dropped(rand):
    for _ in rand.stream(PROMPT, max_tokens=LONG):
        t0 = time.monotonic()
        break
    # the for loop held the only reference: the stream is gone, its generation cancelled
    assert_free_within_a_second(rand, t0)


def test_a_stream_leaving_a_with_block_is_cancelled(rand):
    with rand.stream(PROMPT, max_tokens=LONG) as s:
        next(s)
        t0 = time.monotonic()
    assert_free_within_a_second(rand, t0)
    assert s.result.stop_reason == "cancelled"


def test_the_result_of_a_running_stream_is_not_there_yet(rand):
    s = rand.stream(PROMPT, max_tokens=LONG)
    with pytest.raises(RuntimeError, match="still running"):
        s.result
    # the thread that holds an open stream cannot also generate: it would wait on itself
    with pytest.raises(RuntimeError, match="stream of this Ensemble is still running"):
        rand.generate("Hello", max_tokens=4)
    s.close()
    rand.generate("Hello", max_tokens=4)


def test_the_gil_is_released_while_the_engine_works(rand):
    ticks = []
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            ticks.append(time.monotonic())
            time.sleep(0.002)

    t = threading.Thread(target=ticker)
    t.start()
    try:
        t0 = time.monotonic()
        rand.generate(PROMPT, max_tokens=300)
        t1 = time.monotonic()
    finally:
        stop.set()
        t.join()
    assert t1 - t0 > 0.2, "the generation was too short to tell"
    # Python code ran in the middle of the call, not only before and after it
    middle = [x for x in ticks if t0 + 0.25 * (t1 - t0) < x < t1 - 0.25 * (t1 - t0)]
    assert len(middle) > 10, (len(middle), t1 - t0)


def test_four_threads_on_four_ensembles_give_the_single_threaded_answers():
    prompts = [SUBTRACTION, ADDITION] * 2
    ensembles = [coolfusion.Ensemble(ZOO, n_threads=1) for _ in prompts]
    try:
        alone = [e.generate(p, max_tokens=32).text for e, p in zip(ensembles, prompts)]
        results = [None] * len(prompts)
        errors = []

        def run(i):
            try:
                results[i] = [ensembles[i].generate(prompts[i], max_tokens=32,
                                                    cache_prompt=False).text for _ in range(3)]
            except BaseException as e:  # noqa: B902 (reported below)
                errors.append(e)

        threads = [threading.Thread(target=run, args=(i,)) for i in range(len(prompts))]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors
        for i, texts in enumerate(results):
            assert texts == [alone[i]] * 3
    finally:
        for e in ensembles:
            e.close()


def test_threads_sharing_one_ensemble_take_turns(zoo):
    want = zoo.generate(ADDITION, max_tokens=32).text
    got = []
    threads = [threading.Thread(target=lambda: got.append(zoo.generate(ADDITION, max_tokens=32).text))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [want] * 4


def test_a_stream_in_another_thread_makes_a_call_wait_not_fail(rand):
    s = rand.stream(PROMPT, max_tokens=30)
    out = []
    t = threading.Thread(target=lambda: out.append(rand.generate("Hello", max_tokens=4)))
    t.start()
    s.close()
    t.join(timeout=30)
    assert out and out[0].n_new_tokens > 0


def test_close_stops_a_generation_running_on_another_thread():
    e = coolfusion.Ensemble(RAND, n_ctx=2048)
    out = []
    t = threading.Thread(target=lambda: out.append(e.generate(PROMPT, max_tokens=LONG)))
    t.start()
    time.sleep(0.3)
    t0 = time.monotonic()
    e.close()
    t.join(timeout=30)
    assert time.monotonic() - t0 < 1.0
    assert out[0].stop_reason == "cancelled"
    with pytest.raises(ValueError, match="closed"):
        e.generate(PROMPT)
    with pytest.raises(ValueError, match="closed"):
        e.stream(PROMPT)


def test_closing_the_ensemble_ends_its_stream():
    e = coolfusion.Ensemble(RAND, n_ctx=2048)
    s = e.stream(PROMPT, max_tokens=LONG)
    next(s)
    t0 = time.monotonic()
    e.close()
    rest = list(s)
    assert time.monotonic() - t0 < 1.0
    assert len(rest) < 10 and s.result.stop_reason == "cancelled"


def test_ctrl_c_stops_a_generation_with_keyboard_interrupt(rand):
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    t0 = time.monotonic()
    timer.start()
    with pytest.raises(KeyboardInterrupt):
        rand.generate(PROMPT, max_tokens=LONG)
    assert time.monotonic() - t0 < 2.0
    assert rand.generate("Hello", max_tokens=4).n_new_tokens > 0  # still usable


def test_ctrl_c_while_waiting_for_a_stream_segment(rand):
    s = rand.stream(PROMPT, max_tokens=LONG)
    timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        for _ in s:
            time.sleep(0)  # the consumer keeps up: it waits in next() for each segment
    assert time.monotonic() - t0 < 2.0
    # Raised inside next() (nearly always: the reader waits there), Ctrl-C stopped the
    # stream; raised in the reader's own loop body, the reader closes it. Either way the
    # stream ends cancelled and the ensemble is free.
    s.close()
    assert not s.running
    assert s.result.stop_reason == "cancelled"
    assert rand.generate("Hello", max_tokens=4).n_new_tokens > 0


def test_an_unclosed_stream_does_not_outlive_the_interpreter():
    # a child interpreter exits with a stream still running: no hang, no crash
    import subprocess
    import sys
    code = ("import coolfusion, sys\n"
            f"e = coolfusion.Ensemble({RAND!r}, n_ctx=2048)\n"
            f"s = e.stream('x', max_tokens={LONG})\n"
            "next(s)\n"
            "sys.stdout.write('started')\n")
    t0 = time.monotonic()
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout == "started"
    assert time.monotonic() - t0 < 8.0


def test_garbage_collected_streams_leave_nothing_running(rand):
    for _ in range(5):
        s = rand.stream(PROMPT, max_tokens=LONG)
        next(s)
        t0 = time.monotonic()
        del s
        gc.collect()
        assert_free_within_a_second(rand, t0)
