"""Split a customer message into its sentences.

A request for a person is a property of one sentence, not of the whole message: "Sorry
for the long message. Put me through to someone." asks for a person as plainly as its
second sentence alone. A mean-pooled encoder dilutes that sentence with the rest of the
message, so the model also scores each sentence of a message that has several and keeps
the highest human-request score (:class:`~escalate.affect.onnx.OnnxAffectModel`).

The splitter is deliberately plain: a sentence ends at ``.``, ``!``, ``?`` or ``…``
followed by white space, or at a line break. Common abbreviations ("Mr.", "e.g.") do not
end a sentence, and a piece without a letter or digit ("...", "?!") is not one. Chat
interjections written without a stop at the start or the end of a sentence ("lol",
"ugh", "omg": :data:`INTERJECTIONS`) stand apart as a sentence of their own.

Examples
--------
>>> sentences("Unbelievable. Put me through to a person now.")
['Unbelievable.', 'Put me through to a person now.']
>>> sentences("Please ask Mr. Jones to call me")
['Please ask Mr. Jones to call me']
>>> sentences("hello?!  ...  anyone there\\nI need help")
['hello?!', 'anyone there', 'I need help']
>>> sentences("ugh get me a human lol")
['ugh', 'get me a human', 'lol']
"""

from __future__ import annotations

import re

__all__ = [
    "ABBREVIATIONS",
    "INTERJECTIONS",
    "MAX_SENTENCES",
    "MIN_WORDS",
    "scored_sentences",
    "sentences",
]

#: Words that end with a full stop without ending a sentence (compared in lower case).
ABBREVIATIONS: frozenset[str] = frozenset(
    {
        "mr", "mrs", "ms", "dr", "prof", "st", "jr", "sr", "vs", "etc", "e.g", "i.e", "eg",
        "ie", "nr", "approx", "dept", "ref", "tel", "inc", "ltd", "co", "a.m", "p.m",
    }
)  # fmt: skip

#: Chat interjections that stand apart from the sentence they open or close (regular
#: expressions, matched whole and in any case: "ugh" also matches "ughhh").
INTERJECTIONS: tuple[str, ...] = (
    "lol", "lmao", "rofl", "ugh+", "argh+", "omg", "smh", "ffs", "wtf", "sigh", "meh",
    "jeez", "geez", "hm+", "ok", "okay",
)  # fmt: skip

#: At most this many sentences of one message are scored on their own (see
#: :func:`scored_sentences`).
MAX_SENTENCES = 4

#: A sentence of fewer words is not scored on its own: "Please." or "Seriously." asks
#: for nothing by itself, and is read as part of the whole message.
MIN_WORDS = 2

_BOUNDARY = re.compile(r"(?<=[.!?\u2026])\s+|[ \t]*(?:\r\n|\r|\n)+\s*")
_WORD_BEFORE_STOP = re.compile(r"([\w.]+)\.$")
_HAS_WORD = re.compile(r"\w")
_WORDS = "|".join(INTERJECTIONS)
_LEADING = re.compile(rf"^(?:{_WORDS})\b[,!.]*\s+(?=\S)", re.IGNORECASE)
_TRAILING = re.compile(rf"(?<=\S)[,]?\s+(?:{_WORDS})[!.]*$", re.IGNORECASE)


def sentences(text: str) -> list[str]:
    """The sentences of ``text``, in order, stripped; pieces without a word are dropped.

    Every sentence is a substring of ``text``; a text without a word gives ``[]``.
    """
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(text):
        piece = text[start : match.start()]
        ends_line = "\n" in match.group() or "\r" in match.group()
        if not ends_line:
            word = _WORD_BEFORE_STOP.search(piece)
            if word is not None and word.group(1).lower() in ABBREVIATIONS:
                continue  # "Mr. Jones": the stop belongs to the abbreviation
        pieces.append(piece)
        start = match.end()
    pieces.append(text[start:])
    out: list[str] = []
    for piece in (p.strip() for p in pieces):
        out.extend(_apart(piece))
    return [p for p in out if _HAS_WORD.search(p)]


def _apart(piece: str) -> list[str]:
    """``piece`` with an interjection at its start or end set apart."""
    parts: list[str] = []
    lead = _LEADING.match(piece)
    if lead is not None:
        parts.append(lead.group().strip().rstrip(","))
        piece = piece[lead.end() :]
    tail = _TRAILING.search(piece)
    if tail is not None:
        parts.extend([piece[: tail.start()], tail.group().strip().lstrip(",").strip()])
    else:
        parts.append(piece)
    return parts


def scored_sentences(text: str, limit: int = MAX_SENTENCES) -> list[str]:
    """The sentences of ``text`` that are scored on their own: none when the text has
    fewer than two; otherwise those of :data:`MIN_WORDS` words or more, and of a longer
    message the first and last of them, ``limit`` at most (a request usually opens or
    closes a message).

    >>> scored_sentences("One two. Three four. Five six. Seven eight. Nine ten. Eleven twelve.")
    ['One two.', 'Three four.', 'Nine ten.', 'Eleven twelve.']
    >>> scored_sentences("Just one sentence here.")
    []
    >>> scored_sentences("Please. Seriously. Can I talk to someone?")
    ['Can I talk to someone?']
    """
    if limit < 0:
        raise ValueError(f"limit must be >= 0, got {limit!r}")
    found = sentences(text)
    if len(found) < 2:
        return []
    found = [s for s in found if _word_count(s) >= MIN_WORDS]
    if len(found) <= limit:
        return found
    head = (limit + 1) // 2
    return found[:head] + found[len(found) - (limit - head) :]


def _word_count(sentence: str) -> int:
    return sum(1 for word in sentence.split() if _HAS_WORD.search(word))
