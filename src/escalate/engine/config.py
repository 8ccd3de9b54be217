"""How :meth:`Engine.from_policy <escalate.engine.Engine.from_policy>` turns its arguments
into an affect model and stores: names, URLs, environment variables and defaults.

Nothing here connects to anything: a store is opened lazily, on first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from escalate.affect.base import AffectModel
from escalate.errors import InputError
from escalate.stores.history import HistoryStore, open_history_store
from escalate.stores.session import SessionStore, open_session_store

__all__ = [
    "DEFAULT_HISTORY_URL",
    "HISTORY_URL_ENV",
    "AffectArg",
    "HistoryArg",
    "SessionsArg",
    "resolve_affect",
    "resolve_history",
    "resolve_sessions",
]

#: The environment variable naming the history store when ``from_policy`` is given none.
HISTORY_URL_ENV = "ESCALATE_HISTORY_URL"
#: The history store of an engine built with no configuration: a SQLite file in the
#: working directory, created when the first contact is recorded.
DEFAULT_HISTORY_URL = "sqlite:///escalate-history.db"

AffectArg = AffectModel | Literal["default"] | None
HistoryArg = HistoryStore | str | None
SessionsArg = SessionStore | str | None
_S = TypeVar("_S")


def resolve_history(history: HistoryArg) -> HistoryStore | None:
    """The history store for ``from_policy(history=...)``.

    ``"default"`` reads :data:`HISTORY_URL_ENV` (where ``none`` means no history), else
    uses :data:`DEFAULT_HISTORY_URL`; any other text is a store URL.

    Examples
    --------
    >>> type(resolve_history("memory://")).__name__
    'MemoryHistoryStore'
    >>> resolve_history(None) is None
    True
    """
    if history is None:
        return None
    if isinstance(history, str):
        if history == "default":
            history = os.environ.get(HISTORY_URL_ENV) or DEFAULT_HISTORY_URL
            if history.strip().lower() == "none":
                return None
        return _opened(open_history_store, history, "history")
    if isinstance(history, HistoryStore):
        return history
    raise InputError(
        f"must be a HistoryStore, a URL, 'default' or None, got {type(history).__name__}",
        field="history",
    )


def resolve_sessions(sessions: SessionsArg) -> SessionStore:
    """The session store for ``from_policy(sessions=...)``: a store, a URL, or ``None``
    for ``ESCALATE_SESSION_URL`` (else in memory).

    Examples
    --------
    >>> type(resolve_sessions("memory://")).__name__
    'MemorySessionStore'
    """
    if sessions is None or isinstance(sessions, str):
        return _opened(open_session_store, sessions, "sessions")
    if isinstance(sessions, SessionStore):
        return sessions
    raise InputError(
        f"must be a SessionStore, a URL or None, got {type(sessions).__name__}", field="sessions"
    )


def _opened(open_store: Callable[[Any], _S], url: str | None, field: str) -> _S:
    """``open_store(url)``, with a URL it refuses reported as an error in ``field``."""
    try:
        return open_store(url)
    except InputError as exc:
        raise InputError(exc.detail, field=field) from None


def resolve_affect(affect: AffectArg) -> AffectModel | None:
    """The affect model for ``from_policy(affect=...)``: ``"default"`` loads the shipped
    model, ``None`` runs without one.

    Examples
    --------
    >>> resolve_affect(None) is None
    True
    """
    if affect is None:
        return None
    if affect == "default":
        from escalate.affect import default_model

        return default_model()
    if isinstance(affect, AffectModel):
        return affect
    raise InputError(
        f"must be an AffectModel, 'default' or None, got {affect!r}"
        if isinstance(affect, str)
        else f"must be an AffectModel, 'default' or None, got {type(affect).__name__}",
        field="affect",
    )
