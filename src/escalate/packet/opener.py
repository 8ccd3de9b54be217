"""A suggested first line for the agent, specific to this customer and these reasons.

A line acknowledges a repeat contact ("I can see this is the third time you've contacted
us about your refund of £89.99"), names the issue and takes ownership. It is chosen from
templates by the reasons the policy handed off for (their *family*: asked for a human,
bot stuck, repeat contact, distress, frustration, confusion, error), by the customer's
latest emotions and by how often they have contacted us; its placeholders are filled
from the facts and the summary. A team puts its own templates in the policy's
``packet: openers:``; they are tried before the built-in ones.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from escalate.models import Fact, Reason, Turn
from escalate.policy.schema import OpenerTemplate, template_slots

__all__ = [
    "DEFAULT_OPENERS",
    "OpenerContext",
    "choose_opener",
    "issue_phrase",
    "opener_slots",
    "reason_families",
    "request_phrase",
]

_ORDINALS = ("first", "second", "third", "fourth", "fifth", "sixth", "seventh", "eighth",
             "ninth", "tenth")  # fmt: skip


def _t(text: str, **when: object) -> OpenerTemplate:
    return OpenerTemplate.model_validate({"text": text, **when})


#: The built-in templates, tried in order after a team's own.
_DISTRESS = (
    "I'm here to help with {issue}, and there's no rush. I've read everything you've told "
    "us, so you won't need to repeat any of it, and I'll stay with you until it's sorted."
)
_CHASE = (
    "You shouldn't have had to chase {issue}. I have the details you've already given us, "
    "and I'm taking this over now to get it resolved."
)

#: The built-in templates, tried in order after a team's own: repeat contacts first, then
#: distress (reason, or fear and sadness in the latest message), then the other reasons,
#: then emotions alone, then lines that need nothing but the conversation.
DEFAULT_OPENERS: tuple[OpenerTemplate, ...] = (
    _t(
        "I can see this is the {contact_ordinal} time you've been in touch about {issue}, "
        "and I'm sorry you've had to keep coming back while this is so worrying. I'm here "
        "now and I'll stay with you until it's sorted.",
        min_contacts=2,
        when_reason=["distress"],
    ),
    _t(
        "I can see this is the {contact_ordinal} time you've contacted us about {issue} — "
        "I'm sorry you've had to come back again. I'll sort this out now.",
        min_contacts=2,
    ),
    _t(_DISTRESS, when_reason=["distress"]),
    _t(_DISTRESS, when_emotion="fear", min_score=0.5),
    _t(_DISTRESS, when_emotion="sadness", min_score=0.7),
    _t(
        "I'm sorry our assistant went round in circles on {issue}. I've read everything "
        "you told it, so you won't need to repeat yourself — I'll sort this out now.",
        when_reason=["bot_stuck"],
        when_emotion="frustration",
    ),
    _t(
        "Sorry our assistant couldn't help with {issue}. I've read what you told it, so "
        "let's get this done now — I'll take it from here.",
        when_reason=["bot_stuck"],
    ),
    _t(_CHASE, when_reason=["frustration"]),
    _t(
        "Thanks for waiting. I have everything you've told us about {issue}, so there's no "
        "need to repeat anything — I'll take it from here.",
        when_reason=["asked_for_human"],
    ),
    _t(
        "Let's get {issue} straightened out. I've read the conversation so far and I'll "
        "walk you through it step by step.",
        when_reason=["confusion"],
    ),
    _t(
        "Sorry for the wait. I'm picking up {issue} now, and I have the whole conversation "
        "in front of me.",
        when_reason=["error"],
    ),
    _t(_CHASE, when_emotion="frustration", min_score=0.6),
    _t(
        "I can see you're trying to {request}. I've read the conversation so far, and I'll "
        "sort that out for you now."
    ),
    _t(
        "I've read everything you've told us about {issue}, so you won't need to repeat "
        "yourself. I'll take it from here."
    ),
)

#: Rule-id words and signal names that place a reason in a family.
_FAMILY_RULE_WORDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("asked_for_human", ("human", "agent", "person", "explicit_request", "asked")),
    ("repeat_contact", ("repeat", "history", "recontact", "returning")),
    ("bot_stuck", ("stuck", "loop", "fallback", "failure", "reprompt", "repeat")),
    ("distress", ("distress", "vulnerab", "fear", "sad", "crisis")),
    (
        "frustration",
        ("frustrat", "anger", "angry", "annoy", "negative", "upset", "dissatisf", "unhappy"),
    ),
    ("confusion", ("confus",)),
    ("error", ("on_error",)),
)
_FAMILY_SIGNALS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("asked_for_human", ("human_request", "dialogue.asked_for_human", "dialogue.human_requests")),
    ("repeat_contact", ("history.",)),
    ("bot_stuck", ("dialogue.fallbacks", "dialogue.consecutive_fallbacks", "dialogue.reprompts",
                   "dialogue.user_repeats", "dialogue.bot_repeats", "dialogue.user_negations")),
    ("distress", ("distress", "mood.distress", "emotion.fear", "emotion.sadness", "emotion.nervousness",
                  "emotion.grief", "trajectory.distress")),
    ("frustration", ("dissatisfaction", "trajectory.dissatisfaction",
                     "mood.frustration", "emotion.anger", "emotion.annoyance",
                     "emotion.disgust", "emotion.disappointment", "emotion.disapproval",
                     "sentiment.negative", "trajectory.negative", "trajectory.frustration")),
    ("confusion", ("mood.confusion", "emotion.confusion")),
)  # fmt: skip


def reason_families(rule: str | None, reasons: Sequence[Reason]) -> list[str]:
    """The families of the reasons a policy handed off for, most specific first.

    Examples
    --------
    >>> reason_families("bot-stuck", [Reason(code="bot-stuck",
    ...                 signal="dialogue.consecutive_fallbacks", op=">=", threshold=2, value=2)])
    ['bot_stuck']
    """
    found: list[str] = []

    def add(family: str) -> None:
        if family not in found:
            found.append(family)

    for reason in reasons:
        if reason.signal:
            for family, prefixes in _FAMILY_SIGNALS:
                if reason.signal.startswith(prefixes):
                    add(family)
    for code in [rule or "", *(r.code for r in reasons)]:
        lowered = code.lower()
        for family, words in _FAMILY_RULE_WORDS:
            if any(w in lowered for w in words):
                add(family)
                break
    return found or ["other"]


_TOPICS: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE), phrase)
    for pattern, phrase in (
        (r"\brefund", "your refund{of_amount}"),
        (r"don'?t recogni[sz]e|do not recogni[sz]e|unauthori[sz]ed|fraud|someone .{0,30}"
         r"using my card|stolen", "the payments you don't recognise"),
        (r"charged twice|double[- ]charged|charged .{0,20}twice|overcharged",
         "the double charge{of_amount}"),
        (r"\b(?:invoice|bill)\b", "your invoice{invoice_ref}"),
        (r"delivery address|change .{0,20}address", "the delivery address{order_ref}"),
        (r"\b(?:order|parcel|package|delivery|shipment)\b", "your order{order_ref}"),
        (r"\bpassword|log ?in|locked out|sign ?in", "getting into your account"),
        (r"\bsubscription", "your subscription"),
        (r"\bcard\b", "your card"),
        (r"\b(?:payment|charge|charged)\b", "your payment{of_amount}"),
        (r"\baccount\b", "your account"),
    )
)  # fmt: skip


def _first(facts: Sequence[Fact], kind: str) -> str | None:
    for fact in facts:
        if fact.type == kind and not fact.redacted:
            return fact.text if kind in ("amount", "person_name") else fact.value
    return None


def issue_phrase(texts: Sequence[str], facts: Sequence[Fact] = ()) -> str | None:
    """A short noun phrase for what the customer wants ("your refund of £89.99").

    Examples
    --------
    >>> from escalate.packet.facts import extract_facts
    >>> text = "My refund of £89.99 still hasn't arrived."
    >>> issue_phrase([text], extract_facts(text))
    'your refund of £89.99'
    """
    amount, order, invoice = (
        _first(facts, "amount"),
        _first(facts, "order_id"),
        _first(facts, "invoice_id"),
    )
    fills = {
        "of_amount": f" of {amount}" if amount else "",
        "order_ref": f" for order {order}" if order else "",
        "invoice_ref": f" {invoice}" if invoice else "",
    }
    for pattern, phrase in _TOPICS:
        if any(pattern.search(t) for t in texts):
            out = phrase.format(**fills)
            if (out == "your order" and order) or out.startswith("your order for order"):
                out = f"your order {order}"
            return out
    return None


_REQUEST = re.compile(
    r"(?i)\b(?:i\s+(?:want|need|would like|'d like|am trying|'m trying|wanna)|"
    r"i'?d like|trying|how (?:do|can) i|can i|could i|please)\s+(?:to\s+)?"
    r"(?P<what>(?:change|cancel|update|return|get|reset|close|open|track|check|find|"
    r"download|edit|switch|delete|add|remove|report|dispute|book|reschedule|move|claim|"
    r"pay|stop|renew|upgrade|downgrade|fix|know)\b[^.!?\n]{3,80})"
)
_PRONOUNS = {"my": "your", "me": "you", "i": "you", "mine": "yours", "myself": "yourself",
             "i'm": "you're", "i've": "you've", "am": "are", "our": "your"}  # fmt: skip


def request_phrase(texts: Sequence[str]) -> str | None:
    """What the customer asked to do, in their words, addressed back to them.

    Examples
    --------
    >>> request_phrase(["I want to change the delivery address on my parcel!!"])
    'change the delivery address on your parcel'
    """
    for text in texts:
        m = _REQUEST.search(text)
        if m:
            words = m.group("what").strip(" ,;:!?.").split()
            swapped = [_PRONOUNS.get(w.lower(), w) for w in words]
            return " ".join(swapped)
    return None


@dataclass(frozen=True, slots=True)
class OpenerContext:
    """Everything an opener is chosen by and filled from.

    Examples
    --------
    >>> ctx = OpenerContext(rule="asked-for-human", families=("asked_for_human",),
    ...                     emotions={}, contacts=1, slots={"issue": "your refund"})
    >>> choose_opener(ctx).startswith("Thanks for waiting")
    True
    """

    rule: str | None
    families: tuple[str, ...]
    emotions: Mapping[str, float]
    contacts: int
    slots: Mapping[str, str | None]


def opener_slots(
    *,
    turns: Sequence[Turn],
    facts: Sequence[Fact],
    issue_texts: Sequence[str],
    contacts: int,
    fallbacks: int,
) -> dict[str, str | None]:
    """The values of every placeholder (``None`` where unknown)."""
    user_texts = [t.text for t in turns if t.role == "user" and t.text]
    issue = issue_phrase([*issue_texts, *user_texts], facts)
    ordinal = _ORDINALS[contacts - 1] if 1 <= contacts <= len(_ORDINALS) else f"{contacts}th"
    return {
        "issue": issue or "this",
        "request": request_phrase([*issue_texts, *user_texts]),
        "customer_name": _first(facts, "person_name"),
        "order_id": _first(facts, "order_id"),
        "invoice_id": _first(facts, "invoice_id"),
        "account_id": _first(facts, "account_id"),
        "amount": _first(facts, "amount"),
        "date": _first(facts, "date"),
        "city": _first(facts, "city"),
        "country": _first(facts, "country"),
        "account_type": _first(facts, "account_type"),
        "contacts": str(contacts),
        "contact_ordinal": ordinal,
        "fallbacks": str(fallbacks),
    }


def _applies(template: OpenerTemplate, ctx: OpenerContext) -> bool:
    if template.when_rule and ctx.rule not in template.when_rule:
        return False
    if template.when_reason and not set(template.when_reason) & set(ctx.families):
        return False
    if template.when_emotion is not None and (
        ctx.emotions.get(template.when_emotion, 0.0) < template.min_score
    ):
        return False
    return ctx.contacts >= template.min_contacts


def choose_opener(ctx: OpenerContext, templates: Sequence[OpenerTemplate] = ()) -> str:
    """The first template (``templates``, then :data:`DEFAULT_OPENERS`) that applies and
    whose placeholders all have a value, filled in."""
    for template in (*templates, *DEFAULT_OPENERS):
        if not _applies(template, ctx):
            continue
        names = template_slots(template.text)
        if any(not ctx.slots.get(name) for name in names):
            continue
        return template.text.format(**{name: ctx.slots[name] for name in names})
    return "I've read everything you've told us so far, so you won't need to repeat yourself."
