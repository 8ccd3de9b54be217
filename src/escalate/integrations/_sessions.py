"""What the adapters share: observing the turns of a transcript that a session has not seen."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from escalate.engine import Session
from escalate.models import Decision, Turn

__all__ = ["observe_new"]

_log = logging.getLogger("escalate.integrations")


def observe_new(session: Session, turns: Sequence[Turn]) -> Decision | None:
    """Observe the turns of ``turns`` that ``session`` has not seen yet, in order.

    Frameworks hand over the whole conversation on every turn (a LangGraph state's
    messages, a Rasa tracker's events); the session's saved state says how many turns it
    has seen, so each turn is observed exactly once however often this is called.
    Returns the decision at the last new user turn, or ``None`` when there is none.
    When the session store cannot be read, only the last turn is observed (its decision
    then follows the policy's ``on_error``).

    Examples
    --------
    >>> import escalate
    >>> engine = escalate.Engine.from_policy("dialogue_only", affect=None, history=None)
    >>> session = engine.session("c1")
    >>> turns = [Turn(role="user", text="hi"), Turn(role="bot", text="Hello!")]
    >>> observe_new(session, turns).turn
    0
    >>> observe_new(session, [*turns, Turn(role="user", text="get me a human")]).action
    'handoff'
    >>> observe_new(session, turns) is None   # nothing new
    True
    """
    try:
        state = session.state()
        seen = len(state.turns) if state is not None else 0
    except Exception as exc:  # the engine turns the store's failure into on_error
        _log.warning("conversation %s: state unavailable: %s", session.conversation_id, exc)
        seen = max(len(turns) - 1, 0)
    decision: Decision | None = None
    for turn in turns[seen:]:
        observed = session.observe(turn)
        if turn.role == "user":
            decision = observed
    return decision
