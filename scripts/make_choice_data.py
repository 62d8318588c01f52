#!/usr/bin/env python3
"""Writes the multiple-choice datasets of data/choice/ (issue 35), deterministically.

    python3 scripts/make_choice_data.py            # writes data/choice/*.jsonl
    python3 scripts/make_choice_data.py --check    # exit 1 if a committed file differs

Each file is one of `coolfusion eval`'s multiple-choice layouts (src/eval/choice.h):

  data/choice/arith3.jsonl   300 rows: the first 300 problems of data/arith3/test.jsonl
      (100 per operation), {"question", "choices", "answer": index}. The choices are the
      zoo's own answer line "a op b = r" with r the right result or one of three wrong
      ones drawn from r-10, r-2, r-1, r+1, r+2, r+10 and the other two operations' results
      on the same operands (none negative, all different).
  data/choice/facts3.jsonl   60 rows: every fact of data/facts3/test.jsonl, the right
      colour among three others drawn from the eight colours facts3 uses.
  data/choice/stories.jsonl  200 rows in HellaSwag's layout {"ctx", "endings", "label"}:
      a short TinyStories-like story (a child, a toy, a place, an animal) and four
      one-sentence endings on one template: the right one, the same with another
      child's name, the same with another toy, and the ending of another story (other
      name, toy and animal). Telling them apart is remembering who and what the story is
      about, which the tiny story models can do somewhat.

The right answer's position is drawn at random per row. Python's random.Random with a
fixed seed gives the same draws on every Python 3 (random(), randrange, shuffle, sample),
so the files are the same on every run: ctest's choice_data_reproducible runs --check.
"""
import json
import os
import random
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "data", "choice")
COLOURS = ["red", "blue", "green", "yellow", "pink", "black", "white", "brown"]


def read_jsonl(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def jsonl(rows):
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in rows)


def place(rng, right, wrong):
    """The choices with `right` at a random position, and that position."""
    choices = list(wrong)
    gold = rng.randrange(len(wrong) + 1)
    choices.insert(gold, right)
    return choices, gold


def arith3(rng):
    rows = []
    for p in read_jsonl(os.path.join(ROOT, "data", "arith3", "test.jsonl"))[:300]:
        line = p["answer"].split("\n")[0]  # "9 + 19 = 28"
        a, op, b, _, r = line.split()
        a, b, r = int(a), int(b), int(r)
        results = {"+": a + b, "-": a - b, "*": a * b}
        pool = [r - 10, r - 2, r - 1, r + 1, r + 2, r + 10]
        pool += [v for o, v in sorted(results.items()) if o != op]
        pool = sorted({v for v in pool if v >= 0 and v != r})
        wrong = rng.sample(pool, 3)
        choices, gold = place(rng, line, ["%d %s %d = %d" % (a, op, b, v) for v in wrong])
        rows.append({"question": p["question"], "choices": choices, "answer": gold})
    return rows


def facts3(rng):
    rows = []
    for p in read_jsonl(os.path.join(ROOT, "data", "facts3", "test.jsonl")):
        colour = p["answer"].split("####")[-1].strip()
        wrong = rng.sample([c for c in COLOURS if c != colour], 3)
        choices, gold = place(rng, colour, wrong)
        rows.append({"question": p["question"], "choices": choices, "answer": gold})
    return rows


GIRLS = ["Lily", "Sue", "Anna", "Mia", "Amy", "Lucy", "Sara", "Emma"]
BOYS = ["Tim", "Ben", "Max", "Tom", "Sam", "Jack", "Leo", "Bob"]
TOYS = ["ball", "kite", "doll", "boat", "car", "hat", "book", "drum", "truck", "teddy bear"]
PLACES = ["park", "beach", "garden", "forest", "lake", "farm"]
ANIMALS = ["dog", "cat", "bird", "frog", "bunny", "duck", "fish", "bear"]
COLOURED = ["red", "blue", "green", "yellow", "big", "small", "shiny", "new"]
ENDINGS = [
    "{name} shared the {toy} with the {animal}, and they played together all day.",
    "{name} gave the {toy} to the {animal}, and the {animal} was very happy.",
    "{name} and the {animal} played with the {toy} until the sun went down.",
    "{name} smiled and threw the {toy} to the {animal}.",
]


def story(rng):
    girl = rng.random() < 0.5
    name = rng.choice(GIRLS if girl else BOYS)
    he, his = ("She", "her") if girl else ("He", "his")
    toy, place_, animal = rng.choice(TOYS), rng.choice(PLACES), rng.choice(ANIMALS)
    text = (
        "Once upon a time, there was a little {kid} named {name}. {He} had a {adj} {toy}. "
        "{name} loved {his} {toy} very much. One day, {name} went to the {place} with {his} "
        "{toy}. At the {place}, {name} saw a little {animal}. The {animal} looked at the {toy} "
        "and wanted to play."
    ).format(kid="girl" if girl else "boy", name=name, He=he, his=his, adj=rng.choice(COLOURED),
             toy=toy, place=place_, animal=animal)
    return {"name": name, "toy": toy, "animal": animal, "text": text}


def stories(rng, n=200):
    tales = [story(rng) for _ in range(n)]
    rows = []
    for i, s in enumerate(tales):
        ending = rng.choice(ENDINGS)
        other_name = rng.choice([x for x in GIRLS + BOYS if x != s["name"]])
        other_toy = rng.choice([x for x in TOYS if x != s["toy"]])
        # Another story: all three differ from this one's.
        o = tales[(i + 1 + rng.randrange(n - 1)) % n]
        while o["name"] == s["name"] or o["toy"] == s["toy"] or o["animal"] == s["animal"]:
            o = tales[rng.randrange(n)]
        right = ending.format(**s)
        wrong = [ending.format(name=other_name, toy=s["toy"], animal=s["animal"]),
                 ending.format(name=s["name"], toy=other_toy, animal=s["animal"]),
                 ending.format(**o)]
        endings, gold = place(rng, right, wrong)
        rows.append({"ctx": s["text"], "endings": endings, "label": gold})
    return rows


def main():
    check = sys.argv[1:] == ["--check"]
    files = {"arith3.jsonl": jsonl(arith3(random.Random(35))),
             "facts3.jsonl": jsonl(facts3(random.Random(36))),
             "stories.jsonl": jsonl(stories(random.Random(37)))}
    os.makedirs(OUT, exist_ok=True)
    differ = []
    for name, text in files.items():
        path = os.path.join(OUT, name)
        if check:
            with open(path, encoding="utf-8") as f:
                if f.read() != text:
                    differ.append(path)
        else:
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
    for path in differ:
        print("%s is not what scripts/make_choice_data.py writes" % path, file=sys.stderr)
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
