"""The server scores given answers as lm-evaluation-harness's local-completions model asks
for them (issue 35): its remote tokenizer (GET /tokenizer_info, POST /tokenize with vLLM's
field names), its loglikelihood request (echo, logprobs 1, max_tokens 1, the prompt as the
first model's token ids) and its reading of the answer (the sum of token_logprobs[ctxlen:-1]),
written here after the harness's api_models.py and openai_completions.py. The sums must be
the library's Ensemble.score of the same inputs (nll_fused under equal weights, no prompt
weights), for the ensemble and for one source model, within llama.cpp's arithmetic (TOL):
a token's logits are rounded slightly differently with the batch it is decoded in. The
server reads the whole text in one pass; Score reads the prompt, then each answer from the
last anchor before it (for a number, from before the word ahead of it, since no anchor
precedes a digit), so the answers attend to the same tokens decoded in other batches: here
word answers agree to 1e-6, numbers to within 0.2% (0.04 nats of 21). The library reads
the prompt afresh (cache_prompt off): a prompt reused from an earlier request's cache, decoded
in other batches again, moved an answer by 0.004 nats of 0.45.
"""

import json
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

import coolfusion
from conftest import CLI, ZOO

# Contexts without a trailing space and answers that start with one: the harness moves a
# context's trailing spaces into the answer (TemplateLM._encode_pair).
TOL = dict(rel=3e-3, abs=1e-3)

CASES = [
    ("Question: Ann has 23 shells. Ann gives 8 shells to Ben. How many shells does Ann have "
     "now?\nAnswer:", [" 15", " 31", " 14", " 5"]),
    ("Question: What is the favourite colour of Zork?\nAnswer:", [" brown", " yellow", " blue"]),
    ("Once upon a time, there was a little", [" girl", " dog named Max", " tree that could talk."]),
]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def call(url, body=None):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def server():
    port = free_port()
    args = [CLI, "serve", "--port", str(port)]
    for m in ZOO:
        args += ["-m", m]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if call(base + "/health")[0] == 200:
                break
        except (urllib.error.URLError, ConnectionError):
            pass
        time.sleep(0.1)
    else:
        proc.kill()
        pytest.fail("the server did not start: " + proc.stderr.read().decode())
    yield base
    proc.terminate()
    proc.wait(timeout=30)


class RemoteTokenizer:
    """The harness's remote tokenizer backend, as it probes and calls the server."""

    def __init__(self, base):
        self.base = base
        status, info = call(base + "/tokenizer_info")
        assert status == 200 and "eos_token" in info, info
        status, probe = call(base + "/tokenize", {"prompt": "test", "add_special_tokens": False})
        assert status == 200 and isinstance(probe.get("tokens"), list), probe

    def encode(self, text):
        status, r = call(self.base + "/tokenize", {"prompt": text, "add_special_tokens": False})
        assert status == 200, r
        return r["tokens"]


def loglikelihood(base, tok, model, pairs):
    """(sum of logprobs, is_greedy) per (context, continuation), one request for the batch."""
    inputs, ctxlens = [], []
    for context, continuation in pairs:
        whole = tok.encode(context + continuation)
        context_enc = tok.encode(context)
        continuation_enc = whole[len(context_enc):]
        inputs.append(context_enc + continuation_enc)
        ctxlens.append(len(context_enc))
    payload = {"model": model, "prompt": inputs, "temperature": 0, "max_tokens": 1,
               "logprobs": 1, "seed": 1234, "echo": True}
    status, out = call(base + "/v1/completions", payload)
    assert status == 200, out
    assert len(out["choices"]) == len(pairs)
    res = []
    for choice, ctxlen in zip(sorted(out["choices"], key=lambda c: c["index"]), ctxlens):
        assert ctxlen > 0
        lps = choice["logprobs"]["token_logprobs"][ctxlen:-1]
        tops = choice["logprobs"]["top_logprobs"][ctxlen:-1]
        greedy = all(lp == max(top.values()) for lp, top in zip(lps, tops))
        res.append((sum(lps), greedy))
    return res


def test_the_harness_requests_sum_to_the_librarys_scores(server):
    tok = RemoteTokenizer(server)
    with coolfusion.Ensemble(ZOO) as e:
        for context, answers in CASES:
            got = loglikelihood(server, tok, "coolfusion", [(context, a) for a in answers])
            lib = e.score(context, answers, score="mean", cache_prompt=False)
            for (sum_lp, _), c in zip(got, lib.continuations):
                assert -sum_lp == pytest.approx(c.nll_fused, **TOL), c.text
            # One source model: its own likelihood, and greedy where its top token is the
            # answer's.
            got = loglikelihood(server, tok, "arith3-a", [(context, a) for a in answers])
            lib = e.score(context, answers, only_model=0, cache_prompt=False)
            for (sum_lp, greedy), c in zip(got, lib.continuations):
                assert -sum_lp == pytest.approx(c.nll[0], **TOL), c.text
                assert isinstance(greedy, bool)
    # The harness's multiple-choice pick: the highest sum is the library's lowest nll_fused.
    context, answers = CASES[1]
    got = loglikelihood(server, tok, "coolfusion", [(context, a) for a in answers])
    with coolfusion.Ensemble(ZOO) as e:
        lib = e.score(context, answers, score="mean")
    best = max(range(len(answers)), key=lambda i: got[i][0])
    assert best == min(range(len(answers)), key=lambda i: lib.continuations[i].nll_fused)


def test_echo_requests_that_cannot_be_honoured_are_400s_naming_the_field(server):
    ok = {"prompt": "Once upon a time", "echo": True, "logprobs": 1, "max_tokens": 0}
    for change, field in [({"logprobs": None}, "echo"),
                          ({"echo": False}, "logprobs"),
                          ({"max_tokens": 2}, "max_tokens"),
                          ({"stream": True}, "stream"),
                          ({"stop": ["x"]}, "stop"),
                          ({"logprobs": 6}, "logprobs"),
                          ({"prompt": [[1, 2], "x", 3]}, "prompt"),
                          ({"prompt": [[1, 10 ** 9]]}, "prompt"),
                          ({"prompt": []}, "prompt"),
                          ({"max_tokens": 1, "temperature": 0.7}, "temperature"),
                          ({"coolfusion": {"score": "mean"}}, "coolfusion")]:
        body = dict(ok, **change)
        body = {k: v for k, v in body.items() if v is not None}
        status, out = call(server + "/v1/completions", body)
        assert status == 400 and out["error"]["param"] == field, (change, out)
    # A batch needs echo; a generation takes a prompt of token ids as its text.
    status, out = call(server + "/v1/completions", {"prompt": ["a", "b"], "max_tokens": 1})
    assert status == 400 and out["error"]["param"] == "prompt", out
    tok = RemoteTokenizer(server)
    status, a = call(server + "/v1/completions",
                     {"prompt": tok.encode(CASES[0][0]), "max_tokens": 4, "temperature": 0})
    status_b, b = call(server + "/v1/completions",
                       {"prompt": CASES[0][0], "max_tokens": 4, "temperature": 0})
    assert status == 200 and status_b == 200 and a["choices"][0]["text"] == b["choices"][0]["text"]
