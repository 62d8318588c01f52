"""How four Python threads on four ensembles share the machine (docs/python.md). Not a
test: it prints a measurement.

    python concurrency_bench.py [--threads 4] [--rounds 8] [--n-threads 1]

Each thread has its own Ensemble of the zoo (models/arith3-{a,b,c}.gguf) and answers the
same `rounds` questions of data/arith3/test.jsonl, greedy, 32 tokens, without the prompt
cache. One thread alone, then `threads` at once (threads times the work): the ratio of
their wall times is 1 when the threads run fully in parallel, `threads` when they run one
after another (as they would if the GIL were held while the engine works), and at best
threads / cores when there are fewer free cores than threads.
"""

import argparse
import json
import os
import threading
import time
from pathlib import Path

import coolfusion

ROOT = Path(__file__).resolve().parents[2]
ZOO = [str(ROOT / "models" / f"arith3-{x}.gguf") for x in "abc"]


def questions(n):
    with open(ROOT / "data" / "arith3" / "test.jsonl", encoding="utf-8") as f:
        rows = [json.loads(line) for line, _ in zip(f, range(n))]
    return [f"Question: {r['question']}\nAnswer:" for r in rows]


def work(ensemble, prompts):
    return [ensemble.generate(p, max_tokens=32, cache_prompt=False).text for p in prompts]


def timed(ensembles, prompts):
    out = [None] * len(ensembles)

    def run(i):
        out[i] = work(ensembles[i], prompts)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(ensembles))]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--n-threads", type=int, default=1, help="CPU threads per model")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    prompts = questions(a.rounds)
    ensembles = [coolfusion.Ensemble(ZOO, n_threads=a.n_threads) for _ in range(a.threads)]
    work(ensembles[0], prompts[:1])  # warm up
    ones, alls = [], []
    for _ in range(a.repeat):
        t1, (texts,) = timed(ensembles[:1], prompts)
        tn, outs = timed(ensembles, prompts)
        assert all(o == texts for o in outs), "threads gave different answers"
        ones.append(t1)
        alls.append(tn)
    t1, tn = min(ones), min(alls)
    print(f"cores: {os.cpu_count()}, OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY')}, "
          f"{a.n_threads} CPU thread(s) per model, {a.rounds} generations per thread, "
          f"best of {a.repeat}")
    print(f"1 thread:  {t1:.2f} s")
    print(f"{a.threads} threads: {tn:.2f} s for {a.threads}x the work: "
          f"{tn / t1:.2f}x one thread's wall time (serial: {a.threads}x)")
    for e in ensembles:
        e.close()


if __name__ == "__main__":
    main()
