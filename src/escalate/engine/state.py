"""What the engine remembers about one conversation between its turns.

:class:`SessionState` is engine state: the engine builds it, advances it one turn at a
time (:mod:`escalate.engine.step`) and hands it to a
:class:`~escalate.stores.session.SessionStore` to keep between turns. Stores only
serialise it; they never look inside.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from escalate.affect.base import AffectScores
from escalate.models import Action, Outcome, Turn
from escalate.signals.dialogue import DialogueState

__all__ = ["APPLIED_KEPT", "SessionState", "text_key"]

#: How many ids of the latest turns applied a state remembers (see ``SessionState.applied``).
APPLIED_KEPT = 32


class SessionState(BaseModel):
    """Everything the engine remembers about one conversation.

    ``version`` grows by one with every saved turn, so a store shared by several
    workers can detect a concurrent update. ``customer`` holds the caller's customer
    attributes as signal values; ``history`` the history signals computed when the
    conversation started (and again when its topic became known), ``None`` until then.
    ``topic`` is what the conversation is about (see :mod:`escalate.signals.history`),
    and ``outcome`` how it ended so far, as last recorded in the history.

    ``applied`` holds the ids of the latest turns applied (at most :data:`APPLIED_KEPT`,
    newest last): a turn that waited in memory because its save failed (see
    :mod:`escalate.engine.pending`) is looked up here before it is applied, so a save
    that reached the store although it reported a failure never applies a turn twice.

    Examples
    --------
    >>> state = SessionState(conversation_id="c1", customer_id="u9")
    >>> state.version, state.handed_off, len(state.turns)
    (0, False, 0)
    """

    model_config = ConfigDict(frozen=True)

    conversation_id: str
    customer_id: str | None = None
    channel: str = "chat"
    version: int = 0
    turns: tuple[Turn, ...] = ()
    dialogue: DialogueState = Field(default_factory=DialogueState)
    series: dict[str, tuple[float, ...]] = Field(default_factory=dict)
    #: The affect scores of each user turn, in order (``None`` where a turn had no text or
    #: the model failed).
    user_affect: tuple[AffectScores | None, ...] = ()
    last_escalation_action: Action | None = None
    last_escalation_user_turn: int | None = None
    handed_off: bool = False
    started_at: datetime | None = None
    customer: dict[str, float] = Field(default_factory=dict)
    topic: str | None = None
    topic_source: str | None = None
    topic_text: str | None = None
    history: dict[str, float | None] | None = None
    history_error: str | None = None
    outcome: Outcome | None = None
    applied: tuple[str, ...] = ()
    #: The affect model's encodings of the latest bot message and the latest customer
    #: message (base64, by :func:`text_key` of their text), so the next customer turn,
    #: on whichever worker, reads them without encoding them again.
    encodings: dict[str, str] = Field(default_factory=dict)


def text_key(text: str) -> str:
    """The key of a message's encoding in :attr:`SessionState.encodings`.

    >>> text_key("Refunds take 5-7 days.") == text_key("Refunds take 5-7 days.")
    True
    """
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()
