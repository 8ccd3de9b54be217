"""escalate: decide, turn by turn, when a bot conversation should go to a human.

The public surface is everything in ``__all__``; modules are private unless named here.

Examples
--------
>>> import escalate
>>> engine = escalate.Engine.from_policy("dialogue_only", affect=None)
>>> decision = engine.session("c1").observe(escalate.Turn(role="user", text="I need a human"))
>>> decision.action, decision.rule
('handoff', 'explicit_request')
"""

from escalate.affect.base import AffectModel, AffectScores
from escalate.engine import Engine, Session, SessionState
from escalate.errors import (
    AffectModelError,
    EscalateError,
    InputError,
    MissingExtraError,
    PolicyError,
    PolicyProblem,
    StoreError,
)
from escalate.models import (
    ContactRecord,
    Conversation,
    Decision,
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

__all__ = [
    "AffectModel",
    "AffectModelError",
    "AffectScores",
    "ContactRecord",
    "Conversation",
    "Decision",
    "Engine",
    "EscalateError",
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
