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
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from escalate.affect.base import EMOTION_GROUPS, EMOTION_LABELS, SENTIMENT_LABELS

__all__ = [
    "CATALOG",
    "TRAJECTORY_SERIES",
    "TRAJECTORY_STATS",
    "SignalSpec",
    "names",
    "requires_affect",
]

Source = Literal["dialogue", "affect", "trajectory"]


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
    "dialogue.asked_for_human": "1 when the latest user turn asks for a person (keywords or intent), else 0",
    "dialogue.human_requests": "user turns so far that ask for a person (keywords or intent)",
    "dialogue.elapsed_seconds": "seconds since the first turn (needs timestamps)",
    "dialogue.gap_seconds": "seconds between the latest turn and the one before (needs timestamps)",
}

#: Affect series tracked over the user turns, and the affect signal each follows.
TRAJECTORY_SERIES: dict[str, str] = {
    "negative": "sentiment.negative",
    "frustration": "mood.frustration",
    "distress": "mood.distress",
    "human_request": "human_request",
}
TRAJECTORY_STATS: dict[str, str] = {
    "current": "value at the latest user turn",
    "worst": "highest value over the user turns so far",
    "mean_recent": "mean over the last `trajectory.window` user turns",
    "streak": "user turns in a row, ending now, at or above `trajectory.threshold`",
    "slope": "least-squares slope per user turn over the last `trajectory.window` user turns",
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
    specs += [
        SignalSpec(f"trajectory.{series}.{stat}", "trajectory", f"{signal}: {meaning}")
        for series, signal in TRAJECTORY_SERIES.items()
        for stat, meaning in TRAJECTORY_STATS.items()
    ]
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
