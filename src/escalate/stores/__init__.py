"""Stores: where per-conversation state (and, later, contact history) is kept."""

from escalate.stores.session import MemorySessionStore, SessionState, SessionStore

__all__ = ["MemorySessionStore", "SessionState", "SessionStore"]
