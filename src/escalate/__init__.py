"""escalate: decide, turn by turn, when a bot conversation should go to a human.

The public surface is everything in ``__all__``; modules are private unless named here.
Names are imported on first use (PEP 562), so ``import escalate`` stays cheap for a CLI,
a replay worker or a serverless cold start: the engine, the affect runtime, the stores
and replay load when first asked for.

Examples
--------
>>> import escalate
>>> engine = escalate.Engine.from_policy("dialogue_only", affect=None)
>>> decision = engine.session("c1").observe(escalate.Turn(role="user", text="I need a human"))
>>> decision.action, decision.rule
('handoff', 'explicit_request')
"""

import importlib as _importlib
from typing import TYPE_CHECKING as _TYPE_CHECKING
from typing import Any as _Any

from escalate.errors import (
    AffectModelError,
    EscalateError,
    InputError,
    MissingExtraError,
    PolicyError,
    PolicyProblem,
    StoreError,
)

if _TYPE_CHECKING:
    from escalate.affect.base import AffectModel, AffectScores
    from escalate.engine import Engine, Session, SessionState
    from escalate.models import (
        ContactRecord,
        Conversation,
        Decision,
        Failure,
        HandoffPacket,
        Label,
        Reason,
        Signals,
        Turn,
    )
    from escalate.policy import Policy, load_policy, parse_policy, shipped_policies
    from escalate.replay.readers import open_conversations, read_jsonl
    from escalate.stores.history import HistoryStore, MemoryHistoryStore, open_history_store
    from escalate.stores.redis import RedisSessionStore
    from escalate.stores.session import MemorySessionStore, SessionStore, open_session_store
    from escalate.stores.sql import SQLHistoryStore

__version__ = "0.1.0"

#: Where each lazily imported public name lives.
_WHERE: dict[str, str] = {
    "AffectModel": "escalate.affect.base",
    "AffectScores": "escalate.affect.base",
    "ContactRecord": "escalate.models",
    "Conversation": "escalate.models",
    "Decision": "escalate.models",
    "Engine": "escalate.engine",
    "Failure": "escalate.models",
    "HandoffPacket": "escalate.models",
    "HistoryStore": "escalate.stores.history",
    "Label": "escalate.models",
    "MemoryHistoryStore": "escalate.stores.history",
    "MemorySessionStore": "escalate.stores.session",
    "Policy": "escalate.policy",
    "Reason": "escalate.models",
    "RedisSessionStore": "escalate.stores.redis",
    "SQLHistoryStore": "escalate.stores.sql",
    "Session": "escalate.engine",
    "SessionState": "escalate.engine",
    "SessionStore": "escalate.stores.session",
    "Signals": "escalate.models",
    "Turn": "escalate.models",
    "load_policy": "escalate.policy",
    "open_conversations": "escalate.replay.readers",
    "open_history_store": "escalate.stores.history",
    "open_session_store": "escalate.stores.session",
    "parse_policy": "escalate.policy",
    "read_jsonl": "escalate.replay.readers",
    "shipped_policies": "escalate.policy",
}

__all__ = [
    "AffectModel",
    "AffectModelError",
    "AffectScores",
    "ContactRecord",
    "Conversation",
    "Decision",
    "Engine",
    "EscalateError",
    "Failure",
    "HandoffPacket",
    "HistoryStore",
    "InputError",
    "Label",
    "MemoryHistoryStore",
    "MemorySessionStore",
    "MissingExtraError",
    "Policy",
    "PolicyError",
    "PolicyProblem",
    "Reason",
    "RedisSessionStore",
    "SQLHistoryStore",
    "Session",
    "SessionState",
    "SessionStore",
    "Signals",
    "StoreError",
    "Turn",
    "__version__",
    "load_policy",
    "open_conversations",
    "open_history_store",
    "open_session_store",
    "parse_policy",
    "read_jsonl",
    "shipped_policies",
]


def __getattr__(name: str) -> _Any:
    where = _WHERE.get(name)
    if where is None:
        raise AttributeError(f"module 'escalate' has no attribute {name!r}")
    value = getattr(_importlib.import_module(where), name)
    globals()[name] = value  # imported once; later look-ups find it directly
    return value


def __dir__() -> list[str]:
    return sorted(set(__all__) | {n for n in globals() if not n.startswith("_")})
