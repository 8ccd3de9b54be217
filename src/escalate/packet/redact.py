"""Personal data out of the packet: emails, phone numbers, cards, IBANs, postcodes, addresses.

Each span found is replaced by a typed placeholder (``[EMAIL]``, ``[PHONE]``, ``[CARD]``,
``[IBAN]``, ``[POSTCODE]``, ``[ADDRESS]``, ``[NAME]``) and counted. Card numbers are
only taken when their Luhn checksum holds and IBANs when their mod-97 check does, so an
order number is not mistaken for a card. Phone numbers are redacted generously: any run
of 9 or more digits written like a phone number that is not an order, invoice or account
number, an amount or a date is replaced, with or without a cue word.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any

from escalate.packet.facts import FactExtractor, luhn_valid
from escalate.policy.schema import REDACT_TYPES

__all__ = ["Redactor", "redact_text"]

_CARD_RE = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN_RE = re.compile(r"(?i)(?<![\w])[A-Z]{2}\d{2}(?:[ ]?[A-Z0-9]){11,30}(?![\w])")
_PHONE_SWEEP_RE = re.compile(r"(?<![\d+])(?:\+|00)?\(?\d(?:[\s().-]{0,2}\d){8,}(?!\d)")
_CARD_CUE = re.compile(r"(?i)\b(?:card|visa|mastercard|amex|debit|credit|cc)\b")
_PROTECTED = frozenset({"order_id", "invoice_id", "account_id", "amount", "date"})
_FACT_KIND = {"email": "email", "phone": "phone", "postcode": "postcode",
              "address": "address", "person_name": "person_name"}  # fmt: skip


def _iban_valid(raw: str) -> bool:
    code = raw.replace(" ", "").upper()
    if not 15 <= len(code) <= 34:
        return False
    moved = code[4:] + code[:4]
    digits = "".join(str(int(c, 36)) for c in moved)
    return int(digits) % 97 == 1


class Redactor:
    """Replaces personal data in text by typed placeholders and counts what it replaced.

    Parameters
    ----------
    types:
        The kinds to redact (keys of :data:`~escalate.policy.schema.REDACT_TYPES`);
        by default every kind but ``person_name``.

    Examples
    --------
    >>> r = Redactor()
    >>> text, counts = r.redact("Mail jo@example.com or call +44 7700 900123 re order 4481-2231")
    >>> text
    'Mail [EMAIL] or call [PHONE] re order 4481-2231'
    >>> dict(counts)
    {'email': 1, 'phone': 1}
    """

    def __init__(
        self,
        types: Iterable[str] = ("email", "phone", "card", "iban", "postcode", "address"),
        *,
        extractor: FactExtractor | None = None,
    ) -> None:
        self.types = frozenset(types)
        unknown = self.types - set(REDACT_TYPES)
        if unknown:
            raise ValueError(
                f"types must be among {', '.join(REDACT_TYPES)}; got {', '.join(sorted(unknown))}"
            )
        self._extractor = extractor or FactExtractor()

    def spans(self, text: str) -> list[tuple[int, int, str]]:
        """The spans to replace, as (start, end, kind), in text order, never overlapping."""
        found: list[tuple[int, int, str]] = []

        def free(start: int, end: int) -> bool:
            return not any(start < e and s < end for s, e, _ in found)

        facts = self._extractor.extract(text)
        protected = [(f.start, f.end) for f in facts if f.type in _PROTECTED]
        if "card" in self.types:
            for m in _CARD_RE.finditer(text):
                digits = re.sub(r"\D", "", m.group())
                if not (13 <= len(digits) <= 19 and luhn_valid(digits)):
                    continue
                is_id = any(m.start() < e and s < m.end() for s, e in protected)
                if is_id and not _CARD_CUE.search(text[max(0, m.start() - 30) : m.start()]):
                    continue  # an order number that happens to pass the Luhn check
                found.append((m.start(), m.end(), "card"))
        if "iban" in self.types:
            for m in _IBAN_RE.finditer(text):
                if _iban_valid(m.group()) and free(m.start(), m.end()):
                    found.append((m.start(), m.end(), "iban"))
        for fact in facts:
            kind = _FACT_KIND.get(fact.type)
            if kind in self.types and free(fact.start, fact.end):
                found.append((fact.start, fact.end, kind))
        if "phone" in self.types:
            masked = list(text)
            others = [(s, e) for s, e, k in found if k != "phone"]
            for s, e in [*protected, *others]:  # other spans break a run of digits
                masked[s:e] = "x" * (e - s)
            for m in _PHONE_SWEEP_RE.finditer("".join(masked)):
                start, end = m.start(), m.end()
                inside = [f for f in found if start < f[1] and f[0] < end]
                if all(k == "phone" for _, _, k in inside):  # widen to the whole number
                    found = [f for f in found if f not in inside]
                    found.append((min([start, *(f[0] for f in inside)]),
                                  max([end, *(f[1] for f in inside)]), "phone"))  # fmt: skip
        return sorted(found)

    def redact(self, text: str) -> tuple[str, Counter[str]]:
        """``text`` with every span replaced, and the count of replacements by kind."""
        if not text:
            return text, Counter()
        return self.apply(text, self.spans(text))

    def apply(self, text: str, spans: Iterable[tuple[int, int, str]]) -> tuple[str, Counter[str]]:
        """``text`` with the given :meth:`spans` replaced, and the count by kind."""
        counts: Counter[str] = Counter()
        out: list[str] = []
        last = 0
        for start, end, kind in spans:
            out.append(text[last:start])
            out.append(REDACT_TYPES[kind])
            counts[kind] += 1
            last = end
        out.append(text[last:])
        return "".join(out), counts

    def redact_value(self, value: Any, counts: Counter[str] | None = None) -> Any:
        """Redact every string inside ``value`` (nested dicts, lists and tuples)."""
        if isinstance(value, str):
            redacted, found = self.redact(value)
            if counts is not None:
                counts.update(found)
            return redacted
        if isinstance(value, Mapping):
            return {k: self.redact_value(v, counts) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_value(v, counts) for v in value)
        return value


def redact_text(
    text: str, types: Iterable[str] = ("email", "phone", "card", "iban", "postcode", "address")
) -> tuple[str, dict[str, int]]:
    """Redact one text; the counts are by kind.

    Examples
    --------
    >>> redact_text("card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32")
    ('card [CARD], IBAN [IBAN]', {'card': 1, 'iban': 1})
    """
    redacted, counts = Redactor(types).redact(text)
    return redacted, dict(counts)
