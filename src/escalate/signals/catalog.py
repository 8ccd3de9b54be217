"""The catalogue of every signal a policy can name.

Each signal has a dotted name, a source and a one-line meaning. The policy loader checks
every name in a rule against this catalogue at load time (with a did-you-mean for typos),
and refuses a policy that names an affect signal when the engine has no affect model.

Sources
-------
``dialogue``
    Computed from the turns alone (counts, fallbacks, repeats, timing). Always available.
``affect``
    Scores of the latest user message from the affect model.
``trajectory``
    How affect scores moved over the user turns so far. Needs the affect model.
``history``
    The customer's earlier contacts, from the engine's history store (repeat contacts,
    unresolved issues, earlier handoffs). Needs a history store and a customer id.
``customer``
    Attributes the caller supplies about the customer when a session starts
    (``engine.session(..., customer={"tier": 2, "vulnerable": True})``). The policy
    language compares numbers, so every attribute is a number: true/false become 1/0,
    and a tier is a rank (0 standard, higher is more valuable).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from escalate.affect.base import EMOTION_GROUPS, EMOTION_LABELS, SENTIMENT_LABELS

__all__ = [
    "CATALOG",
    "CUSTOMER_ATTRIBUTES",
    "HISTORY_SIGNALS",
    "LATEST_TURN_SIGNALS",
    "TRAJECTORY_SERIES",
    "TRAJECTORY_STATS",
    "SignalSpec",
    "from_sources",
    "names",
    "requires_affect",
    "requires_history",
]

Source = Literal["dialogue", "affect", "trajectory", "history", "customer"]


@dataclass(frozen=True, slots=True)
class SignalSpec:
    """One signal: its name, where it comes from and what it means."""

    name: str
    source: Source
    description: str


_DIALOGUE: dict[str, str] = {
    "dialogue.turns": "turns so far, all roles",
    "dialogue.user_turns": "user turns so far",
    "dialogue.bot_turns": "bot turns so far",
    "dialogue.fallbacks": "bot fallbacks so far (event or intent marker, or a fallback phrase)",
    "dialogue.consecutive_fallbacks": "bot fallbacks in a row at the end of the conversation",
    "dialogue.reprompts": "bot re-prompts so far (the bot asking the same question again)",
    "dialogue.bot_repeats": "bot messages that repeat an earlier bot message (the bot loops)",
    "dialogue.user_repeats": "user messages that nearly repeat an earlier user message",
    "dialogue.user_repeated": "1 when the latest user message nearly repeats an earlier one, else 0",
    "dialogue.user_negations": "user turns that correct or contradict the bot",
    "dialogue.failures": "fallbacks + re-prompts + user negations so far",
    "dialogue.user_failures": "user turns the bot could not use at all (noise, nothing "
    "recognised; the policy's user_failure_intents) so far",
    "dialogue.consecutive_user_failures": "user turns in a row, ending now, that the bot "
    "could not use",
    "dialogue.successes": "bot or user turns so far that mark progress: a task completed or "
    "confirmed (the policy's success_intents)",
    "dialogue.turns_since_success": "user turns since the latest success, or since the start "
    "when there has been none",
    "dialogue.asked_for_human": "1 when the latest user turn asks for a person (keywords or intent), else 0",
    "dialogue.human_requests": "user turns so far that ask for a person (keywords or intent)",
    "dialogue.last_bot_fallback": "1 when the bot's latest message is a fallback, else 0 (on a "
    "bot turn: the message about to be sent)",
    "dialogue.last_bot_reprompt": "1 when the bot's latest message re-asks its question, else 0",
    "dialogue.last_bot_repeated": "1 when the bot's latest message repeats an earlier one, else 0",
    "dialogue.elapsed_seconds": "seconds since the first turn (needs timestamps)",
    "dialogue.gap_seconds": "seconds between the latest turn and the one before (needs timestamps)",
}

#: Affect series tracked over the user turns, and the affect signal each follows.
TRAJECTORY_SERIES: dict[str, str] = {
    "negative": "sentiment.negative",
    "frustration": "mood.frustration",
    "dissatisfaction": "dissatisfaction",
    "distress": "distress",
    "human_request": "human_request",
}
TRAJECTORY_STATS: dict[str, str] = {
    "current": "value at the latest user turn",
    "worst": "highest value over the user turns so far",
    "mean_recent": "mean over the last `trajectory.window` user turns",
    "streak": "user turns in a row, ending now, at or above `trajectory.threshold`",
    "slope": "least-squares slope per user turn over the last `trajectory.window` user turns",
}


#: Signals about the customer's earlier contacts. Windows end at the start of this
#: conversation; "same topic" means the same bot intent, or similar words when the
#: conversation has no intent.
HISTORY_SIGNALS: dict[str, str] = {
    "history.contacts_24h": "earlier contacts of this customer in the last 24 hours",
    "history.contacts_7d": "earlier contacts of this customer in the last 7 days",
    "history.contacts_30d": "earlier contacts of this customer in the last 30 days",
    "history.contacts_same_topic_7d": "earlier contacts on the same topic in the last 7 days "
    "(unknown until the topic is: an intent, or a message of three words or more)",
    "history.contacts_same_topic_30d": "earlier contacts on the same topic in the last 30 days",
    "history.unresolved_30d": "earlier contacts in the last 30 days that the bot did not "
    "resolve (handed off or abandoned)",
    "history.unresolved_same_topic_30d": "earlier contacts on the same topic in the last "
    "30 days that the bot did not resolve",
    "history.handoffs_30d": "earlier contacts in the last 30 days handed to a person",
    "history.abandoned_30d": "earlier contacts in the last 30 days the customer left unresolved",
    "history.hours_since_last_contact": "hours since the customer's latest earlier contact "
    "ended (unknown when there is none)",
    "history.last_sentiment": "final sentiment (positive minus negative, -1..1) of the "
    "latest earlier contact in the last 30 days (unknown when none was scored)",
}

#: Attributes a caller may supply about the customer; each is a number (true/false are 1/0).
CUSTOMER_ATTRIBUTES: dict[str, str] = {
    "customer.tier": "the customer's tier as a rank: 0 standard, higher is more valuable",
    "customer.vip": "1 for a VIP customer, else 0",
    "customer.vulnerable": "1 when the customer is known to be vulnerable, else 0",
    "customer.lifetime_value": "the customer's lifetime value, in the caller's currency",
    "customer.tenure_days": "days since the customer joined",
    "customer.open_orders": "orders or cases the customer has open",
    "customer.churn_risk": "the caller's churn-risk score, 0..1",
}


def _build() -> dict[str, SignalSpec]:
    specs = [SignalSpec(n, "dialogue", d) for n, d in _DIALOGUE.items()]
    specs += [
        SignalSpec(f"sentiment.{s}", "affect", f"probability the message is {s}")
        for s in SENTIMENT_LABELS
    ]
    specs += [
        SignalSpec(f"emotion.{e}", "affect", f"probability of the emotion '{e}'")
        for e in EMOTION_LABELS
    ]
    specs += [
        SignalSpec(f"mood.{g}", "affect", f"highest of the emotions {', '.join(m)}")
        for g, m in EMOTION_GROUPS.items()
    ]
    specs.append(SignalSpec("human_request", "affect", "probability the message asks for a human"))
    specs.append(
        SignalSpec(
            "dissatisfaction",
            "affect",
            "probability the customer is unhappy with how they are being served (misunderstood, "
            "unhelped, kept waiting), read with the bot's previous message; not negativity "
            "about the topic (unknown for a model without this head)",
        )
    )
    specs.append(
        SignalSpec(
            "distress",
            "affect",
            "probability the customer is in a vulnerable situation: bereavement, illness, job "
            "loss or money trouble, fear for their safety (unknown for a model without this head)",
        )
    )
    specs += [
        SignalSpec(f"trajectory.{series}.{stat}", "trajectory", f"{signal}: {meaning}")
        for series, signal in TRAJECTORY_SERIES.items()
        for stat, meaning in TRAJECTORY_STATS.items()
    ]
    specs += [SignalSpec(n, "history", d) for n, d in HISTORY_SIGNALS.items()]
    specs += [SignalSpec(n, "customer", d) for n, d in CUSTOMER_ATTRIBUTES.items()]
    return {s.name: s for s in specs}


#: Every signal a policy can name, by name.
CATALOG: dict[str, SignalSpec] = _build()


def names() -> list[str]:
    """Every known signal name, sorted."""
    return sorted(CATALOG)


def requires_affect(name: str) -> bool:
    """True when the signal needs an affect model."""
    spec = CATALOG.get(name)
    return spec is not None and spec.source in ("affect", "trajectory")


def requires_history(name: str) -> bool:
    """True when the signal needs a history store."""
    spec = CATALOG.get(name)
    return spec is not None and spec.source == "history"


#: Dialogue signals computed from the latest user turn alone; every other dialogue
#: signal, and every trajectory, needs the conversation's earlier turns too.
LATEST_TURN_SIGNALS = frozenset({"dialogue.asked_for_human"})


def from_sources(*sources: Source) -> frozenset[str]:
    """The names of every signal from the given sources.

    Examples
    --------
    >>> sorted(from_sources("history"))[:2]
    ['history.abandoned_30d', 'history.contacts_24h']
    """
    return frozenset(name for name, spec in CATALOG.items() if spec.source in sources)
