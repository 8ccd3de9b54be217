"""The engine: a compiled policy, an affect model and stores; sessions observe turns.

One job per module:

- :mod:`~escalate.engine.core`: the :class:`Engine` façade (construction, reload,
  sessions, replay through :meth:`Engine.decide_many`);
- :mod:`~escalate.engine.session`: :class:`Session`, one live conversation;
- :mod:`~escalate.engine.step`: the pure decision step both of them take;
- :mod:`~escalate.engine.state`: :class:`SessionState`, what the engine remembers of a
  conversation between turns;
- :mod:`~escalate.engine.history`: the history gateway (circuit breaker and write queue)
  and the contact record of a conversation;
- :mod:`~escalate.engine.pending`: the queue of turns the session store could not take
  yet;
- :mod:`~escalate.engine.runtime`: what an engine shares with its sessions;
- :mod:`~escalate.engine.config`: how arguments, URLs and environment variables become
  a model and stores.

Names are imported on first use, so that importing the package (or
:mod:`escalate.engine.state` alone, as the stores do) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from escalate.engine.config import DATA_DIR_ENV, HISTORY_URL_ENV, data_dir
    from escalate.engine.core import Engine
    from escalate.engine.session import Session
    from escalate.engine.state import SessionState

__all__ = ["DATA_DIR_ENV", "HISTORY_URL_ENV", "Engine", "Session", "SessionState", "data_dir"]

_WHERE = {
    "DATA_DIR_ENV": "escalate.engine.config",
    "HISTORY_URL_ENV": "escalate.engine.config",
    "data_dir": "escalate.engine.config",
    "Engine": "escalate.engine.core",
    "Session": "escalate.engine.session",
    "SessionState": "escalate.engine.state",
}


def __getattr__(name: str) -> Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'escalate.engine' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
