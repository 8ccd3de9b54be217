"""How :meth:`Engine.from_policy <escalate.engine.Engine.from_policy>` turns its arguments
into an affect model and stores: names, URLs, environment variables and defaults.

Nothing here connects to anything: a store is opened lazily, on first use.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, TypeVar

from escalate.affect.base import AffectModel
from escalate.errors import InputError
from escalate.stores.history import HistoryStore, open_history_store
from escalate.stores.session import SessionStore, open_session_store

__all__ = [
    "DATA_DIR_ENV",
    "HISTORY_URL_ENV",
    "AffectArg",
    "HistoryArg",
    "SessionsArg",
    "data_dir",
    "default_history_url",
    "resolve_affect",
    "resolve_history",
    "resolve_sessions",
]

#: The environment variable naming the history store when ``from_policy`` is given none.
HISTORY_URL_ENV = "ESCALATE_HISTORY_URL"
#: The environment variable naming the folder where escalate keeps its own files.
DATA_DIR_ENV = "ESCALATE_DATA_DIR"
#: The default history's file name, in :func:`data_dir`.
HISTORY_FILE = "history.db"


def data_dir() -> Path:
    """The folder where escalate keeps its files when told nothing else.

    :data:`DATA_DIR_ENV` when set, else the user's data directory for applications:
    ``$XDG_DATA_HOME/escalate`` (``~/.local/share/escalate``) on Linux,
    ``~/Library/Application Support/escalate`` on macOS, ``%LOCALAPPDATA%\\escalate`` on
    Windows (as :func:`platformdirs.user_data_path` says). Never the working directory.
    Nothing is created here; a store creates its file when it first writes.

    Examples
    --------
    >>> from unittest import mock
    >>> with mock.patch.dict("os.environ", {"ESCALATE_DATA_DIR": "/srv/escalate"}):
    ...     str(data_dir())
    '/srv/escalate'
    """
    given = os.environ.get(DATA_DIR_ENV)
    if given:
        return Path(given).expanduser()
    import platformdirs

    return platformdirs.user_data_path("escalate", appauthor=False)


def default_history_url() -> str:
    """The history store of an engine built with no configuration: a SQLite file in
    :func:`data_dir`, created when the first contact is recorded.

    Examples
    --------
    >>> default_history_url().endswith("/history.db")
    True
    """
    return f"sqlite:///{data_dir() / HISTORY_FILE}"


AffectArg = AffectModel | Literal["default"] | None
HistoryArg = HistoryStore | str | None
SessionsArg = SessionStore | str | None
_S = TypeVar("_S")


def resolve_history(history: HistoryArg) -> HistoryStore | None:
    """The history store for ``from_policy(history=...)``.

    ``"default"`` reads :data:`HISTORY_URL_ENV` (where ``none`` means no history), else
    uses :func:`default_history_url`; any other text is a store URL.

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
            history = os.environ.get(HISTORY_URL_ENV) or default_history_url()
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
