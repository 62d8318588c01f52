#!/usr/bin/env python3
"""The table of scripts/calibrate_table.sh: for each setting, the best single model and the
default (NAME.base.json) against the default with --calibrate (NAME.cal.json), with paired
95% bootstrap intervals on the same rows (4,000 resamples, a fixed seed).
  scripts/calibrate_table.py DIR NAME..."""
import json
import os
import random
import sys


def correct(doc, label):
    return [1 if p["correct"] else 0 for p in doc["predictions"] if p["run"] == label]


def paired(a, b, resamples=4000):
    rnd = random.Random(20240727)
    n = len(a)
    d = [x - y for x, y in zip(a, b)]
    means = sorted(sum(d[rnd.randrange(n)] for _ in range(n)) / n for _ in range(resamples))
    lo, hi = means[int(0.025 * (resamples - 1))], means[int(0.975 * (resamples - 1))]
    return "%+.1f [%+.1f, %+.1f]" % (100 * sum(d) / n, 100 * lo, 100 * hi)


def main():
    folder, names = sys.argv[1], sys.argv[2:]
    print("| setting | best single | default | --calibrate | calibrated - default "
          "| calibrated - best single |")
    print("|---|---|---|---|---|---|")
    for name in names:
        base_path = os.path.join(folder, name + ".base.json")
        cal_path = os.path.join(folder, name + ".cal.json")
        base, cal = json.load(open(base_path)), json.load(open(cal_path))
        labels = [r["label"] for r in base["results"]]
        singles = [l for l in labels if l.startswith("single")]
        best = max(singles, key=lambda l: sum(correct(base, l)))  # first on ties
        default = next(l for l in labels if l.startswith("cool"))
        calibrated = next(r["label"] for r in cal["results"] if r["label"].startswith("cool"))
        s, d, c = correct(base, best), correct(base, default), correct(cal, calibrated)
        if not (len(s) == len(d) == len(c)):
            sys.exit("error: %s: the runs have different rows" % name)
        acc = lambda x: "%.1f" % (100 * sum(x) / len(x))
        print("| %s | %s (%s) | %s | %s | %s | %s |" % (
            name, acc(s), best.split()[-1], acc(d), acc(c), paired(c, d), paired(c, s)))


if __name__ == "__main__":
    main()
