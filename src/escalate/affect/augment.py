"""Text perturbations that should not change what a customer asks.

Used twice: by training, to teach the model that an added "ugh", a typo or an unrelated
sentence does not turn a request into something else; and by the behavioural suites
(:mod:`escalate.affect.checklist`), to check that it learned it. The suites use their own
lists of interjections and asides, so a passing suite is not a memorised one.

Every function takes a :class:`random.Random`, so a perturbation is reproducible.

Examples
--------
>>> import random
>>> from escalate.affect.augment import add_typo, with_aside
>>> rng = random.Random(1)
>>> with_aside("put me through to a person", "Unbelievable.", rng, where="before")
'Unbelievable. Put me through to a person'
>>> len(add_typo("representative", random.Random(3))) in (13, 14, 15)
True
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Literal

__all__ = ["add_typo", "change_case", "perturb", "with_aside"]

_KEYBOARD_NEIGHBOURS = {
    "a": "qs", "b": "vn", "c": "xv", "d": "sf", "e": "wr", "f": "dg", "g": "fh", "h": "gj",
    "i": "uo", "j": "hk", "k": "jl", "l": "k", "m": "n", "n": "bm", "o": "ip", "p": "o",
    "q": "w", "r": "et", "s": "ad", "t": "ry", "u": "yi", "v": "cb", "w": "qe", "x": "zc",
    "y": "tu", "z": "x",
}  # fmt: skip


def add_typo(text: str, rng: random.Random) -> str:
    """One typo in a word of four letters or more: swap, drop, double or a neighbour key."""
    words = text.split(" ")
    candidates = [i for i, w in enumerate(words) if sum(c.isalpha() for c in w) >= 4]
    if not candidates:
        return text
    i = rng.choice(candidates)
    word = words[i]
    letters = [k for k, c in enumerate(word) if c.isalpha()]
    k = rng.choice(letters[1:-1] or letters)
    kind = rng.randrange(4)
    if kind == 0 and k + 1 < len(word) and word[k + 1].isalpha():
        word = word[:k] + word[k + 1] + word[k] + word[k + 2 :]
    elif kind == 1:
        word = word[:k] + word[k + 1 :]
    elif kind == 2:
        word = word[:k] + word[k] + word[k:]
    else:
        near = _KEYBOARD_NEIGHBOURS.get(word[k].lower(), word[k])
        word = word[:k] + rng.choice(near) + word[k + 1 :]
    words[i] = word
    return " ".join(words)


def change_case(text: str, rng: random.Random) -> str:
    """All lower case, all upper case, or the first letter changed."""
    kind = rng.randrange(3)
    if kind == 0:
        return text.lower()
    if kind == 1:
        return text.upper()
    return text[:1].swapcase() + text[1:]


def with_aside(
    text: str,
    aside: str,
    rng: random.Random,
    *,
    where: Literal["before", "after", "any"] = "any",
) -> str:
    """``aside`` (an interjection or another sentence) before or after ``text``."""
    if where == "any":
        where = "before" if rng.random() < 0.6 else "after"
    if where == "before":
        body = text[:1].upper() + text[1:] if aside.rstrip()[-1:] in ".!?" else text
        return f"{aside.strip()} {body}"
    end = "" if text.rstrip()[-1:] in ".!?" else "."
    return f"{text.rstrip()}{end} {aside.strip()}"


def perturb(text: str, rng: random.Random, asides: Sequence[str]) -> str:
    """A random perturbation: an aside, a typo, a change of case, or two of them."""
    steps: list[Callable[[str], str]] = [
        lambda t: with_aside(t, rng.choice(asides), rng),
        lambda t: add_typo(t, rng),
        lambda t: change_case(t, rng),
    ]
    first = rng.randrange(len(steps))
    text = steps[first](text)
    if rng.random() < 0.3:
        second = rng.choice([s for k, s in enumerate(steps) if k != first])
        text = second(text)
    return text
