"""Python and the CLI give the same text for the same arguments: 20 prompts (18 of the zoo's
test set, 2 for the random-weight models), each with other options (the method, the scoring
rule, sampling, stop strings, grammars, one model alone, chat), once through
Ensemble.generate / chat and once through `coolfusion generate --json` / `coolfusion chat`.
The text, the stop reason and each model's weight must agree."""

import json
import subprocess

import pytest

import coolfusion
from conftest import CLI, RAND, ROOT, ZOO, question


def zoo_questions(n):
    with open(ROOT / "data" / "arith3" / "test.jsonl", encoding="utf-8") as f:
        return [question(json.loads(line)["question"]) for line, _ in zip(f, range(n))]


Q = zoo_questions(18)
STORY = "Once upon a time"  # for the rand-* models
SCHEMA = {"type": "object", "properties": {"answer": {"type": "integer"}},
          "required": ["answer"]}

# (prompt, Python keyword arguments, the same as CLI flags)
CASES = [
    (Q[0], {}, []),
    (Q[1], {"max_tokens": 8}, ["-n", "8"]),
    (Q[2], {"method": "rerank"}, ["--method", "rerank"]),
    (Q[3], {"method": "cool+r", "peer": {"gate": 0.5}}, ["--method", "cool+r", "--gate", "0.5"]),
    (Q[4], {"score": "mean"}, ["--score", "mean"]),
    (Q[5], {"score": "geomean", "per_word": True}, ["--score", "geomean", "--per-word", "on"]),
    (Q[6], {"stop": "####"}, ["--stop", "####"]),
    (Q[7], {"stop": ["\n", " ="]}, ["--stop", "\n", "--stop", " ="]),
    # sampling, on the random-weight models: the zoo's are too sure of their answers for any
    # sampling setting to change them, the rand-* models' text changes with each one
    (STORY, {"temperature": 1.0, "top_k": 5, "seed": 7, "max_tokens": 16},
     ["--temp", "1", "--top-k", "5", "--seed", "7", "-n", "16"]),
    (STORY, {"temperature": 1.0, "top_p": 0.8, "min_p": 0.02, "seed": 3, "max_tokens": 16},
     ["--temp", "1", "--top-p", "0.8", "--min-p", "0.02", "--seed", "3", "-n", "16"]),
    (Q[10], {"only_model": 1}, ["--method", "single"]),  # see below: -m B alone
    (Q[11], {"prompt_weights": False, "confidence": False},
     ["--prompt-weights", "off", "--confidence", "off"]),
    (Q[12], {"method": "unite"}, ["--method", "unite"]),
    (Q[13], {"method": "gac", "peer": {"gate": 0.5}}, ["--method", "gac", "--gate", "0.5"]),
    (Q[14], {"grammar": 'root ::= " " [0-9]+ " " [-+*] " " [0-9]+'},
     ["--grammar", 'root ::= " " [0-9]+ " " [-+*] " " [0-9]+']),
    (Q[15], {"json_schema": SCHEMA, "max_tokens": 24},
     ["--json-schema", json.dumps(SCHEMA), "-n", "24"]),
    (Q[16], {"max_segment_tokens": 2}, ["--max-segment-tokens", "2"]),
    (Q[17], {"max_tokens": None}, ["-n", "-1"]),
]
CHATS = [
    ("Ann has 5 cups. Ann buys 3 more cups. How many cups does Ann have now?", {}),
    ("Ben has 4 bags with 6 pens in each bag. How many pens does Ben have?",
     {"max_tokens": 12}),
]


def cli_generate(prompt, flags, models=ZOO):
    args = [CLI, "generate", "--json", "--no-escape", "-p", prompt]
    for m in models:
        args += ["-m", m]
    p = subprocess.run(args + flags, capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.parametrize("i", range(len(CASES)))
def test_generate_gives_the_clis_text(zoo, rand, i):
    prompt, kwargs, flags = CASES[i]
    ensemble, models = (rand, RAND) if prompt == STORY else (zoo, ZOO)
    if prompt == STORY:
        flags = flags + ["-c", "2048"]  # the rand fixture's n_ctx
    if "only_model" in kwargs:
        # the CLI's one-model run: the model alone (its --method single with one -m)
        want = cli_generate(prompt, flags, [models[kwargs["only_model"]]])
    else:
        want = cli_generate(prompt, flags, models)
    # a CLI run starts with empty KV caches: no prompt cache here either (a cached prefix
    # is decoded in other batches, whose logits differ in the last bits)
    got = ensemble.generate(prompt, cache_prompt=False, **kwargs)
    assert got.text == want["text"]
    assert got.stop_reason == want["stop_reason"]
    if got.models:
        assert got.weights == pytest.approx([m["weight"] for m in want["model_weights"]], rel=1e-9)
    assert got.text.strip(), "an empty answer proves little"


@pytest.mark.parametrize("i", range(len(CHATS)))
def test_chat_gives_the_clis_text(i):
    content, kwargs = CHATS[i]
    flags = ["-n", str(kwargs["max_tokens"])] if "max_tokens" in kwargs else []
    args = [CLI, "chat", "--chat-template", "chatml"]
    for m in ZOO:
        args += ["-m", m]
    p = subprocess.run(args + flags, input=content + "\n", capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    with coolfusion.Ensemble(ZOO, chat_template="chatml") as e:
        # the CLI stops at "\nUser:" when a model has no GGUF template of its own
        stop = [] if all(m.has_chat_template for m in e.models) else ["\nUser:"]
        got = e.chat([{"role": "user", "content": content}], stop=stop or None, **kwargs)
    assert p.stdout == got.text + "\n"
    assert got.text.strip()


def test_there_are_twenty_prompts():
    assert len(CASES) + len(CHATS) == 20
