"""Scripted conversations for the reliability runs: every turn carries a unique id.

The ids (``metadata["id"]``) let a run find each observed turn in a conversation's saved
state afterwards: missing (lost), present twice (applied twice) or out of order.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from escalate import Turn

__all__ = ["POLICY", "Accounting", "account", "script"]

#: A dialogue-only policy that also reads the history (so that a history outage matters)
#: and hands off often enough that contacts are written while servers go up and down.
POLICY = """\
version: 1
name: reliability
rules:
  - id: asked-for-human
    when: dialogue.asked_for_human
    then: {action: handoff, queue: general}
  - id: returning
    when: history.contacts_7d >= 2 and dialogue.user_turns >= 2
    then: {action: offer_human}
  - id: stuck
    when: dialogue.consecutive_fallbacks >= 2 or dialogue.user_repeats >= 2
    then: {action: offer_human}
guards:
  cooldown_turns: 1
on_error: offer_human
"""

_ASKS = [
    "Where is my parcel?",
    "I was charged twice this month",
    "How do I change my delivery address?",
    "My discount code does not work",
    "The app logs me out all the time",
    "Can I return a gift without the receipt?",
]
_FOLLOW_UPS = [
    "It says delivered but nothing came",
    "The order number is 4481-2231",
    "I already tried that",
    "ok",
    "Could you check again please",
    "Thanks, and what about the refund?",
    "This is getting ridiculous",
    "Can I talk to a real person?",
]
_START = datetime(2026, 5, 4, 9, tzinfo=UTC)


def script(
    conversation: str, user_turns: int, rng: random.Random, *, timestamps: bool = False
) -> list[Turn]:
    """A conversation's turns, user and bot in turn, each with ``metadata["id"]``.

    With ``timestamps`` every turn has one (a minute apart), so the state a run saves
    does not depend on when the run happened.
    """
    turns: list[Turn] = []
    moment = _START + timedelta(seconds=rng.randrange(86_400))
    for k in range(user_turns):
        text = rng.choice(_ASKS) if k == 0 else rng.choice(_FOLLOW_UPS)
        when = {"timestamp": moment + timedelta(minutes=2 * k)} if timestamps else {}
        turns.append(Turn(role="user", text=text, metadata={"id": f"{conversation}:{k}"}, **when))
        reply = {"event": "fallback"} if rng.random() < 0.3 else {"text": "Let me look."}
        if timestamps:
            reply["timestamp"] = moment + timedelta(minutes=2 * k + 1)  # type: ignore[assignment]
        turns.append(Turn(role="bot", metadata={"id": f"{conversation}:{k}b"}, **reply))  # type: ignore[arg-type]
    return turns


@dataclass
class Accounting:
    """Observed turns against saved ones, over many conversations."""

    conversations: int = 0
    turns: int = 0
    lost: int = 0
    applied_twice: int = 0
    reordered: int = 0

    def add(self, observed: Sequence[Turn], saved: Sequence[Turn]) -> list[str]:
        """Count one conversation; returns the ids of its lost turns."""
        expected = [str(t.metadata["id"]) for t in observed]
        found = [str(t.metadata.get("id")) for t in saved]
        counts = Counter(found)
        missing = [i for i in expected if i not in counts]
        self.conversations += 1
        self.turns += len(expected)
        self.lost += len(missing)
        self.applied_twice += sum(n - 1 for n in counts.values() if n > 1)
        wanted = set(expected)
        if [i for i in dict.fromkeys(found) if i in wanted] != [i for i in expected if i in counts]:
            self.reordered += 1
        return missing


def account(observed: Sequence[Turn], saved: Sequence[Turn]) -> Accounting:
    """The accounting of one conversation (see :class:`Accounting`)."""
    result = Accounting()
    result.add(observed, saved)
    return result
