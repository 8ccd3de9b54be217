"""Facts the customer already gave: order and invoice numbers, emails, amounts, places...

Structured identifiers are found by regular expressions anchored on context words
("order", "invoice", "#", "account number"); places and names by small gazetteers and
cues ("my name is", "Mr.", "ship to"). No model is loaded and nothing is downloaded:
extraction takes microseconds per message.

Every :class:`~escalate.models.Fact` carries the turn it came from, its span in that
turn's message (``message[start:end] == fact.text``), a normalised ``value`` and a
confidence. Overlapping candidates are resolved by type priority, then confidence, then
length, so "order 2026-05-01" is an order number, not a date.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from escalate.models import Fact, FactType, Turn
from escalate.packet._gazetteers import (
    AMBIGUOUS_PLACES,
    CITIES,
    COUNTRIES,
    FIRST_NAMES,
    NOT_NAMES,
)

__all__ = ["FactExtractor", "conversation_facts", "extract_facts", "luhn_valid"]


@dataclass(frozen=True, slots=True)
class _Candidate:
    type: FactType
    start: int
    end: int
    value: str
    confidence: float


#: Which type wins when two candidates overlap (higher first).
_PRIORITY: dict[str, int] = {
    "email": 100,
    "order_id": 90,
    "invoice_id": 90,
    "account_id": 85,
    "address": 80,
    "postcode": 75,
    "amount": 70,
    "date": 65,
    "phone": 60,
    "person_name": 50,
    "country": 45,
    "city": 45,
    "account_type": 40,
}

_ID = r"(?:[A-Za-z]{1,4}[-/]?)?\d[\dA-Za-z/-]*"
_CONNECT = (
    r"(?:\s*(?:number|numbers|num|no\.?|nr\.?|nº|n°|id|ref(?:erence)?|code|#|:|is|was|"
    r"with|of|the|my|for|ending|ending in|reference)\b\.?)*"
)
_ORDER_CUE = (
    r"(?:order|purchase|parcel|package|shipment|delivery|consignment|tracking|booking|"
    r"reservation|return|item)s?"
)
_INVOICE_CUE = r"(?:invoice|bill|receipt|statement|inv)s?"
_ACCOUNT_CUE = r"(?:account|acct|a/c|customer|member(?:ship)?|client|policy|contract)"

_ORDER_RE = re.compile(rf"(?i)\b{_ORDER_CUE}{_CONNECT}\s*(?P<id>#?\s?{_ID})")
_INVOICE_RE = re.compile(rf"(?i)\b{_INVOICE_CUE}{_CONNECT}\s*(?P<id>#?\s?{_ID})")
_ACCOUNT_RE = re.compile(
    rf"(?i)\b{_ACCOUNT_CUE}\s*(?:number|num|no\.?|nr\.?|id|#|:|ref(?:erence)?)"
    rf"(?:\s*(?:is|was|:))?\s*(?P<id>#?{_ID})"
)
_ANY_ID_RE = re.compile(r"(?<![\w#])(?P<id>#?\s?(?:[A-Za-z]{1,4}[-/]?)?\d[\dA-Za-z/-]*)")
_WORD_RE = re.compile(r"[A-Za-z]+")
_CONNECTORS = frozenset(
    [
        "number",
        "numbers",
        "num",
        "no",
        "nr",
        "id",
        "ref",
        "reference",
        "code",
        "is",
        "was",
        "with",
        "of",
        "the",
        "my",
        "for",
        "a",
        "an",
        "this",
        "that",
        "ending",
        "in",
    ]
)
_FUZZY_CUES: tuple[tuple[FactType, tuple[str, ...]], ...] = (
    ("invoice_id", ("invoice", "bill", "receipt")),
    ("order_id", ("order", "purchase", "parcel", "package", "shipment", "delivery", "tracking")),
)
_HASH_RE = re.compile(r"(?<![\w#])#\s?(?P<id>[A-Za-z]{0,3}\d{3,}[\dA-Za-z-]*)")

_EMAIL_RE = re.compile(r"(?<![\w.+-])[\w.+-]+@(?:[A-Za-z0-9-]+\.)+[A-Za-z]{2,24}(?![A-Za-z])")
_PHONE_RE = re.compile(r"(?<![\d+])(?:\+|00)?\(?\d[\d\s().-]{5,18}\d(?!\d)")
_PHONE_CUE = re.compile(
    r"(?i)\b(?:phone|mobile|cell|tel|telephone|call|ring|number|whatsapp|text me|reach me|"
    r"contact me|landline)\b[^\d]{0,20}$"
)

_SYM = r"(?:US\$|C\$|A\$|[$€£¥₹])"
_CODES = r"(?:usd|eur|gbp|cad|aud|jpy|inr|chf)"
_WORDS = r"(?:dollars?|bucks|euros?|pounds?|quid|yen|rupees?)"
_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:[.,]\d{1,2})?"
_AMOUNT_RES = (
    re.compile(rf"(?i)(?P<cur>{_SYM})\s?(?P<num>{_NUM})(?![\d])"),
    re.compile(rf"(?i)\b(?P<cur>{_CODES})\s?(?P<num>{_NUM})(?![\d])"),
    re.compile(rf"(?i)(?<![\w.,])(?P<num>{_NUM})\s?(?P<cur>{_SYM}|{_CODES}\b|{_WORDS}\b)"),
)
_AMOUNT_CUE_RE = re.compile(
    rf"(?i)\b(?:refund(?:ed)?|reimburse\w*|paid|pay|charged?|costs?|price|fee|amount|total|"
    rf"spent|owe[ds]?|refund of|rebate|compensation)\b(?:\s+(?:of|me|was|is|for|a|about|"
    rf"around))*\s+(?P<num>{_NUM})(?![\d.,]?\d)(?!\s*(?:%|percent|days?|weeks?|months?|"
    rf"years?|hours?|minutes?|items?|times?|orders?))"
)
_CURRENCY: dict[str, str] = {
    "$": "USD", "us$": "USD", "c$": "CAD", "a$": "AUD", "€": "EUR", "£": "GBP", "¥": "JPY",
    "₹": "INR", "dollar": "USD", "dollars": "USD", "bucks": "USD", "euro": "EUR",
    "euros": "EUR", "pound": "GBP", "pounds": "GBP", "quid": "GBP", "yen": "JPY",
    "rupee": "INR", "rupees": "INR",
}  # fmt: skip

_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6, "jul": 7, "aug": 8,
    "sep": 9, "sept": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:January|Jan|February|Feb|March|Mar|April|Apr|May|June|Jun|July|Jul|August|Aug|"
    r"September|Sept|Sep|October|Oct|November|Nov|December|Dec)\.?"
)
_DATE_RES = (
    re.compile(r"\b(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})\b"),
    re.compile(r"\b(?P<d>\d{1,2})[/.](?P<m>\d{1,2})[/.](?P<y>\d{4}|\d{2})\b"),
    re.compile(
        rf"(?i)\b(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:\s+of)?\s+(?P<mon>{_MONTH})"
        rf"(?:,?\s+(?P<y>\d{{4}}))?\b"
    ),
    re.compile(
        rf"(?i)\b(?P<mon>{_MONTH})\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?!\d)(?:,?\s+(?P<y>\d{{4}}))?\b"
    ),
)

_NAME_WORD = r"[A-Z][a-z'’-]+"
_NAME_CUE_RE = re.compile(
    rf"(?:(?i:my name is|my name's|name is|i am|i'm|this is|call me|it's))\s+"
    rf"(?P<name>{_NAME_WORD}(?:\s+{_NAME_WORD}){{0,2}})"
)
_NAME_CUE_LOWER_RE = re.compile(
    r"(?i:my name is|my name's)\s+(?P<name>[a-z][a-z'’-]+(?:\s+[a-z][a-z'’-]+)?)"
)
_HONORIFIC_RE = re.compile(
    rf"\b(?:Mr|Mrs|Ms|Miss|Mx|Dr|Prof|Sir|Dame)\.?\s+{_NAME_WORD}(?:\s+{_NAME_WORD})?"
)
_FULL_NAME_RE = re.compile(rf"\b(?P<first>{_NAME_WORD})\s+(?P<last>{_NAME_WORD})")

_PLACE_CUE = re.compile(
    r"(?i)\b(?:to|from|in|at|into|near|via|ship|shipping|deliver|delivery|live|based|"
    r"located|address)\b\W*(?:\w+\W+){0,1}$"
)
_STREET = (
    r"(?:Street|St|Road|Rd|Avenue|Ave|Lane|Ln|Drive|Dr|Boulevard|Blvd|Way|Close|Court|Ct|"
    r"Place|Pl|Terrace|Crescent|Square|Sq|Gardens|Grove|Row|Hill|Parkway|Pkwy|Highway|Hwy|"
    r"Strasse|Straße|Rue|Calle|Via)"
)
_ADDRESS_RE = re.compile(
    rf"(?i)\b\d{{1,5}}[A-Za-z]?,?\s+(?:[A-Za-z][\w'’-]*\s+){{1,4}}{_STREET}\b\.?"
)
_UK_POSTCODE_RE = re.compile(r"(?i)\b[A-Z]{1,2}\d[A-Z\d]?\s?\d[A-Z]{2}\b")
_ZIP_RE = re.compile(
    r"(?i)\b(?:zip(?:\s*code)?|post\s?code|postal\s+code|plz)\s*(?:is|:)?\s*"
    r"(?P<code>[A-Z0-9]{3,5}(?:[\s-][A-Z0-9]{3,4})?)\b"
)
_STATE_ZIP_RE = re.compile(r"\b[A-Z]{2}\s(?P<code>\d{5}(?:-\d{4})?)\b")

_TIERS = (
    r"free|freemium|basic|standard|plus|premium|pro|professional|gold|silver|platinum|"
    r"bronze|business|personal|family|student|enterprise|starter|savings|checking|current|"
    r"joint|corporate|vip|elite|lite"
)
_ACCOUNT_TYPE_RE = re.compile(
    rf"(?i)\b(?P<tier>{_TIERS})\s+(?=(?:ac+[a-z]{{0,5}}|profile|plan|membership|"
    rf"subscription|tier|package|version|level|user)s?\b)"
)
_ACCOUNT_TYPE_LOOSE_RE = re.compile(
    rf"(?i)(?:\b|(?<=[a-z])(?=[A-Z]))(?P<tier>{_TIERS})(?:\s*(?P<glued>account|profile)|"
    rf"\s+(?P<noun>[a-z]{{4,10}}))\b"
)
_ACCOUNT_NOUNS = ("account", "profile", "membership", "subscription")
_ACCOUNT_TYPE_MOVE_RE = re.compile(
    rf"(?i)\b(?:upgrade|downgrade|switch|change|move|go|upgrading|switching|changing)\w*\s+"
    rf"(?:me\s+)?(?:to|into)\s+(?:the\s+|a\s+)?(?P<tier>{_TIERS})\b"
)


def luhn_valid(digits: str) -> bool:
    """The Luhn checksum of a card number (digits only).

    Examples
    --------
    >>> luhn_valid("4111111111111111"), luhn_valid("4111111111111112")
    (True, False)
    """
    if not digits.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _gazetteer_re(names: Iterable[str]) -> re.Pattern[str]:
    ordered = sorted(set(names), key=lambda n: (-len(n), n))
    alternation = "|".join(re.escape(n).replace(r"\ ", r"\s+") for n in ordered)
    return re.compile(rf"(?i)(?<![\w-])(?:{alternation})(?![\w-])")


def _clean_id(raw: str) -> tuple[str, int, int] | None:
    """Trim an identifier; (value, left offset, right offset) or None if it is no id."""
    left = len(raw) - len(raw.lstrip("# "))
    core = raw[left:].rstrip("-/")
    digits = sum(c.isdigit() for c in core)
    if digits < 3 or len(core) < 3 or digits * 2 < len(core):
        return None
    return core, left, len(raw) - left - len(core)


class FactExtractor:
    """Finds the facts a customer gave in their messages.

    Parameters
    ----------
    cities, countries, first_names:
        Gazetteers; the defaults cover major cities, every country and common first
        names.

    Examples
    --------
    >>> ex = FactExtractor()
    >>> [(f.type, f.text) for f in ex.extract("Order #A1234-99 never came, I paid £89.99")]
    [('order_id', 'A1234-99'), ('amount', '£89.99')]
    >>> f = ex.extract("Ship it to Toronto please", turn=4)[0]
    >>> f.type, f.value, f.turn
    ('city', 'Toronto', 4)
    """

    def __init__(
        self,
        *,
        cities: Iterable[str] = CITIES,
        countries: Iterable[str] = COUNTRIES,
        first_names: Iterable[str] = FIRST_NAMES,
    ) -> None:
        self._countries = {c.lower(): c for c in countries}
        self._cities = {c.lower(): c for c in cities}
        self._places = _gazetteer_re([*self._countries.values(), *self._cities.values()])
        self._first_names = {n.lower() for n in first_names}
        self._places_lower = {**self._cities, **self._countries}

    # -- public ---------------------------------------------------------------------------
    def extract(self, text: str, *, turn: int = 0) -> list[Fact]:
        """Every fact in one message, in text order, without overlaps."""
        if not text:
            return []
        candidates: list[_Candidate] = []
        for finder in (
            self._ids,
            self._emails,
            self._amounts,
            self._dates,
            self._phones,
            self._names,
            self._places_in,
            self._addresses,
            self._account_types,
        ):
            candidates.extend(finder(text))
        chosen: list[_Candidate] = []
        taken: list[tuple[int, int]] = []
        for c in sorted(
            candidates,
            key=lambda c: (-_PRIORITY[c.type], -c.confidence, -(c.end - c.start), c.start),
        ):
            if c.end <= c.start or any(c.start < e and s < c.end for s, e in taken):
                continue
            chosen.append(c)
            taken.append((c.start, c.end))
        chosen.sort(key=lambda c: c.start)
        return [
            Fact(
                type=c.type,
                value=c.value,
                text=text[c.start : c.end],
                turn=turn,
                start=c.start,
                end=c.end,
                confidence=round(c.confidence, 3),
            )
            for c in chosen
        ]

    def extract_turns(
        self, turns: Sequence[Turn], *, roles: Sequence[str] = ("user",)
    ) -> list[Fact]:
        """Facts from every turn whose role is in ``roles``, one per distinct value.

        A value given twice is kept at its first mention, with the higher confidence.
        """
        seen: dict[tuple[str, str], int] = {}
        out: list[Fact] = []
        for index, turn in enumerate(turns):
            if turn.role not in roles or not turn.text:
                continue
            for fact in self.extract(turn.text, turn=index):
                key = (fact.type, fact.value.lower())
                if key in seen:
                    i = seen[key]
                    if fact.confidence > out[i].confidence:
                        out[i] = out[i].model_copy(update={"confidence": fact.confidence})
                    continue
                seen[key] = len(out)
                out.append(fact)
        return out

    # -- finders --------------------------------------------------------------------------
    def _ids(self, text: str) -> Iterable[_Candidate]:
        strict: tuple[tuple[FactType, re.Pattern[str], float], ...] = (
            ("order_id", _ORDER_RE, 0.95),
            ("invoice_id", _INVOICE_RE, 0.95),
            ("account_id", _ACCOUNT_RE, 0.9),
        )
        for kind, pattern, conf in strict:
            for m in pattern.finditer(text):
                raw = m.group("id")
                cleaned = _clean_id(raw)
                if cleaned is None:
                    continue
                value, left, right = cleaned
                start, end = m.start("id") + left, m.end("id") - right
                yield _Candidate(kind, start, end, value, conf)
        for m in _ANY_ID_RE.finditer(text):
            fuzzy = _fuzzy_cue(text[max(0, m.start() - 40) : m.start()])
            cleaned = _clean_id(m.group("id")) if fuzzy else None
            if fuzzy is None or cleaned is None:
                continue
            value, left, right = cleaned
            yield _Candidate(fuzzy, m.start("id") + left, m.end("id") - right, value, 0.8)
        for m in _HASH_RE.finditer(text):
            yield _Candidate("order_id", m.start("id"), m.end("id"), m.group("id"), 0.5)

    def _emails(self, text: str) -> Iterable[_Candidate]:
        for m in _EMAIL_RE.finditer(text):
            yield _Candidate("email", m.start(), m.end(), m.group().lower(), 0.99)

    def _phones(self, text: str) -> Iterable[_Candidate]:
        for m in _PHONE_RE.finditer(text):
            raw = m.group().rstrip(").- ")
            digits = "".join(c for c in raw if c.isdigit())
            if not 7 <= len(digits) <= 15:
                continue
            if 13 <= len(digits) <= 19 and luhn_valid(digits):
                continue  # a card number, not a phone number
            international = raw.startswith(("+", "00"))
            cue = _PHONE_CUE.search(text[max(0, m.start() - 40) : m.start()]) is not None
            separated = any(c in raw for c in " ().-")
            if international:
                conf = 0.9
            elif cue:
                conf = 0.85
            elif separated and raw.lstrip("(").startswith("0") and 10 <= len(digits) <= 11:
                conf = 0.7
            else:
                continue
            value = ("+" if raw.startswith("+") else "") + digits
            yield _Candidate("phone", m.start(), m.start() + len(raw), value, conf)

    def _amounts(self, text: str) -> Iterable[_Candidate]:
        for pattern in _AMOUNT_RES:
            for m in pattern.finditer(text):
                num = m.group("num")
                cur = _currency(m.group("cur"))
                yield _Candidate("amount", m.start(), m.end(), f"{_number(num)} {cur}", 0.95)
        for m in _AMOUNT_CUE_RE.finditer(text):
            yield _Candidate("amount", m.start("num"), m.end("num"), _number(m.group("num")), 0.6)

    def _dates(self, text: str) -> Iterable[_Candidate]:
        for pattern in _DATE_RES:
            for m in pattern.finditer(text):
                groups = m.groupdict()
                month = (
                    _MONTHS.get(groups["mon"].lower().rstrip(".")[:4].rstrip("t"), 0)
                    if groups.get("mon")
                    else int(groups["m"])
                )
                if groups.get("mon") and month == 0:
                    month = _MONTHS.get(groups["mon"].lower()[:3], 0)
                day = int(groups["d"])
                year_text = groups.get("y")
                year = int(year_text) if year_text else None
                if year is not None and year < 100:
                    year += 2000
                try:
                    date(year or 2000, month, day)
                except ValueError:
                    continue
                value = f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"
                yield _Candidate("date", m.start(), m.end(), value, 0.9 if year else 0.75)

    def _names(self, text: str) -> Iterable[_Candidate]:
        for m in _NAME_CUE_RE.finditer(text):
            words = m.group("name").split()
            while words and (words[-1] in NOT_NAMES or words[-1].lower() in self._places_lower):
                words.pop()
            if not words or words[0] in NOT_NAMES:
                continue
            cue = m.group().lower()
            strong = cue.startswith(("my name", "name is", "call me"))
            if not strong and words[0].lower() not in self._first_names:
                continue
            start = m.start("name")
            end = start + len(" ".join(words))
            if text[start:end] != " ".join(words):
                end = start + len(words[0])
            yield _Candidate("person_name", start, end, text[start:end], 0.9 if strong else 0.8)
        for m in _NAME_CUE_LOWER_RE.finditer(text):
            words = m.group("name").split()
            if words[0] not in self._first_names:
                continue
            if len(words) > 1 and not words[1].isalpha():
                words = words[:1]
            start = m.start("name")
            end = start + len(" ".join(words))
            yield _Candidate("person_name", start, end, " ".join(words).title(), 0.75)
        for m in _HONORIFIC_RE.finditer(text):
            words = m.group().split()
            if len(words) > 2 and (
                words[-1] in NOT_NAMES or words[-1].lower() in self._places_lower
            ):
                words = words[:-1]
            if words[1] in NOT_NAMES:
                continue
            span = " ".join(words)
            if text[m.start() : m.start() + len(span)] != span:
                continue
            yield _Candidate("person_name", m.start(), m.start() + len(span), span, 0.85)
        for m in _FULL_NAME_RE.finditer(text):
            first, last = m.group("first"), m.group("last")
            if first.lower() not in self._first_names or last in NOT_NAMES:
                continue
            if last.lower() in self._places_lower:
                continue
            yield _Candidate("person_name", m.start(), m.end(), m.group(), 0.75)

    def _places_in(self, text: str) -> Iterable[_Candidate]:
        for m in self._places.finditer(text):
            found = m.group()
            key = " ".join(found.lower().split())
            canonical = self._countries.get(key) or self._cities.get(key)
            if canonical is None:
                continue
            kind: FactType = "country" if key in self._countries else "city"
            capitalised = found[:1].isupper()
            cue = _PLACE_CUE.search(text[max(0, m.start() - 30) : m.start()]) is not None
            if canonical.isupper() and found != canonical:
                continue  # "us" is a pronoun, "US" a country
            if canonical in AMBIGUOUS_PLACES and not (capitalised and cue):
                continue
            conf = (0.9 if cue else 0.75) if capitalised else (0.7 if cue else 0.5)
            yield _Candidate(kind, m.start(), m.end(), canonical, conf)

    def _addresses(self, text: str) -> Iterable[_Candidate]:
        for m in _ADDRESS_RE.finditer(text):
            span = m.group().rstrip(".")
            yield _Candidate("address", m.start(), m.start() + len(span), span, 0.8)
        for m in _UK_POSTCODE_RE.finditer(text):
            code = m.group()
            if not any(c.isalpha() for c in code[-2:]) or not code[:1].isalpha():
                continue
            conf = 0.85 if code.isupper() else 0.6
            yield _Candidate("postcode", m.start(), m.end(), code.upper(), conf)
        for pattern in (_ZIP_RE, _STATE_ZIP_RE):
            for m in pattern.finditer(text):
                code = m.group("code")
                if not any(c.isdigit() for c in code):
                    continue
                yield _Candidate("postcode", m.start("code"), m.end("code"), code.upper(), 0.8)

    def _account_types(self, text: str) -> Iterable[_Candidate]:
        for pattern, conf in ((_ACCOUNT_TYPE_RE, 0.9), (_ACCOUNT_TYPE_MOVE_RE, 0.6)):
            for m in pattern.finditer(text):
                tier = m.group("tier")
                value = tier.upper() if tier.lower() == "vip" else tier.capitalize()
                yield _Candidate("account_type", m.start("tier"), m.end("tier"), value, conf)
        for m in _ACCOUNT_TYPE_LOOSE_RE.finditer(text):
            noun = (m.group("noun") or "").lower()
            if m.group("glued") is None and not any(
                difflib.SequenceMatcher(None, noun, n).ratio() >= 0.75 for n in _ACCOUNT_NOUNS
            ):
                continue
            tier = m.group("tier")
            value = tier.upper() if tier.lower() == "vip" else tier.capitalize()
            yield _Candidate("account_type", m.start("tier"), m.end("tier"), value, 0.75)


def _similar(word: str, target: str) -> bool:
    if word == target or word.endswith(target):
        return True
    if abs(len(word) - len(target)) > 2 or len(word) < 4:
        return False
    return difflib.SequenceMatcher(None, word, target).ratio() >= 0.75


def _fuzzy_cue(before: str) -> FactType | None:
    """The id type named by the last content word before an id, allowing typos."""
    matches = list(_WORD_RE.finditer(before))[-4:]
    while matches and matches[-1].group().lower() in _CONNECTORS:
        matches.pop()
    if not matches or any(c.isdigit() for c in before[matches[-1].end() :]):
        return None  # no cue word, or another number stands between it and the id
    return _cue_kind(matches[-1].group().lower())


@functools.lru_cache(maxsize=4096)
def _cue_kind(word: str) -> FactType | None:
    word = word.rstrip("s") if len(word) > 4 else word
    for kind, cues in _FUZZY_CUES:
        if any(_similar(word, cue) for cue in cues):
            return kind
    return None


def _currency(raw: str) -> str:
    key = raw.lower()
    return _CURRENCY.get(key, raw.upper())


def _number(raw: str) -> str:
    if "," in raw and "." not in raw and len(raw.rsplit(",", 1)[1]) == 2:
        raw = raw.replace(",", ".")  # 89,99 is a decimal comma
    raw = raw.replace(",", "")
    return raw


_DEFAULT = FactExtractor()


def extract_facts(text: str, *, turn: int = 0) -> list[Fact]:
    """Facts in one message, with the default gazetteers.

    Examples
    --------
    >>> [(f.type, f.value) for f in extract_facts("Mail me at Jo@Example.com, invoice INV-20931")]
    [('email', 'jo@example.com'), ('invoice_id', 'INV-20931')]
    """
    return _DEFAULT.extract(text, turn=turn)


def conversation_facts(turns: Sequence[Turn], *, roles: Sequence[str] = ("user",)) -> list[Fact]:
    """Facts from a conversation's customer turns, one per distinct value (first mention).

    Examples
    --------
    >>> turns = [Turn(role="user", text="Order 4481-2231 is late"),
    ...          Turn(role="bot", text="Order 9999-0000?"),
    ...          Turn(role="user", text="No! Order 4481-2231.")]
    >>> [(f.value, f.turn) for f in conversation_facts(turns)]
    [('4481-2231', 0)]
    """
    return _DEFAULT.extract_turns(turns, roles=roles)
