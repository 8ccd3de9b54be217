"""Typos corrected before a message is read for a human request.

"Transfer me to a hmuan." asks for a person as plainly as "Transfer me to a human.", but
the encoder splits the misspelt word into pieces it never learned to read as "human":
the request head scores the first 0.28 and the second 0.97. :class:`Speller` replaces each
word it does not know by the most frequent English word one edit away (SymSpell, with the
82,765-word frequency dictionary that ships in ``symspellpy``), and
:class:`~escalate.affect.onnx.OnnxAffectModel` reads the corrected message for a human
request when ``request_spelling`` is on. The other heads read the message as written.

Only words of :data:`MIN_LENGTH` letters or more are corrected (short words are too often
one edit away from another word), and only when the dictionary lacks them, so names and
words it knows stay as written; case is kept, and a correction only changes letters. Left
as written too: a contraction ("doesn't", or "dont" written without its apostrophe, which
would otherwise become "done"), and a word in capitals in a message that is not ("AMEX",
"BYOB": an acronym, not a typo of "ALEX" or "BOB").

Examples
--------
>>> speller = Speller.shared()
>>> speller.correct("Transfer me to a hmuan.")
'Transfer me to a human.'
>>> speller.correct("PUT ME THROUGH TO SOMEONE NOW, PELASE")
'PUT ME THROUGH TO SOMEONE NOW, PLEASE'
>>> speller.correct("My order 55102 from Siobhan never came")
'My order 55102 from Siobhan never came'
>>> speller.correct("I dont want a bot, it doesn't take AMEX")
"I dont want a bot, it doesn't take AMEX"
"""

from __future__ import annotations

import re
import threading
from typing import Any, ClassVar

__all__ = ["MIN_LENGTH", "Speller"]

#: Words shorter than this are never corrected.
MIN_LENGTH = 4

_WORD = re.compile(r"[A-Za-z]+(?:['\u2019][A-Za-z]+)*")


class Speller:
    """Corrects words one edit away from a known English word (thread-safe).

    The dictionary is read on first use (about a second); :meth:`shared` gives one
    speller per process.
    """

    _shared: ClassVar[Speller | None] = None
    _shared_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self) -> None:
        self._symspell: Any = None
        self._words: Any = None
        self._closest: Any = None
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> Speller:
        """The process's speller."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def load(self) -> Speller:
        """Read the dictionary now rather than on the first correction; returns ``self``."""
        with self._lock:
            if self._symspell is None:
                from importlib.resources import files

                from symspellpy import SymSpell, Verbosity

                symspell = SymSpell(max_dictionary_edit_distance=1, prefix_length=7)
                dictionary = files("symspellpy") / "frequency_dictionary_en_82_765.txt"
                if not symspell.load_dictionary(str(dictionary), term_index=0, count_index=1):
                    raise RuntimeError(f"cannot read the spelling dictionary {dictionary}")
                self._words = symspell.words
                self._closest = Verbosity.TOP
                self._symspell = symspell
        return self

    def correct(self, text: str) -> str:
        """``text`` with each unknown word of :data:`MIN_LENGTH` letters or more replaced
        by the most frequent known word one edit away, if there is one."""
        if self._symspell is None:
            self.load()
        shouted = not any(c.islower() for c in text)
        return _WORD.sub(lambda match: self._fix(match.group(), shouted), text)

    def _fix(self, word: str, shouted: bool) -> str:
        """``word`` corrected, or as written (see the module's notes)."""
        key = word.lower().replace("\u2019", "'")
        if len(key) < MIN_LENGTH or key in self._words or "'" in key:
            return word
        if word.isupper() and not shouted:
            return word  # an acronym in a message written in lower case
        if any(f"{key[:i]}'{key[i:]}" in self._words for i in range(1, len(key))):
            return word  # a contraction without its apostrophe: "dont", "youre"
        found = self._symspell.lookup(key, self._closest, max_edit_distance=1)
        if not found or not str(found[0].term).isalpha():
            return word
        term = str(found[0].term)
        if word.isupper():
            return term.upper()
        if word[0].isupper():
            return term[:1].upper() + term[1:]
        return term
