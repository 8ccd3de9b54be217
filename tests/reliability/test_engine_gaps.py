"""Gaps the engine had under failure, each kept as a regression test of its fix.

The queue of unsaved turns is tested in depth in ``test_pending_turns.py``.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from benchmarks.reliability.workload import POLICY

from escalate import Engine, Turn, parse_policy
from escalate.errors import InputError, StoreError
from escalate.stores.history import MemoryHistoryStore
from escalate.stores.session import MemorySessionStore, SessionState


class Unreachable(MemorySessionStore):
    """A session store that fails every call while ``down`` is set."""

    down = False

    def _check(self) -> None:
        if self.down:
            raise StoreError("redis: load failed: ConnectionError: Connection refused")

    def load(self, conversation_id: str) -> SessionState | None:
        self._check()
        return super().load(conversation_id)

    def save(self, state: SessionState) -> None:
        self._check()
        super().save(state)

    def save_if(self, state: SessionState, expected_version: int) -> bool:
        self._check()
        return super().save_if(state, expected_version)


def test_turns_observed_during_a_long_session_store_outage_are_kept(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.CRITICAL, logger="escalate")
    store = Unreachable()
    engine = Engine(
        parse_policy(POLICY, affect=False), sessions=store, history=MemoryHistoryStore()
    )
    session = engine.session("c1")
    session.observe(Turn(role="user", text="before"))
    store.down = True
    session.observe(Turn(role="user", text="during"))
    store.down = False
    session.observe(Turn(role="user", text="after"))
    state = store.load("c1")
    assert state is not None
    assert [t.text for t in state.turns] == ["before", "during", "after"]


@pytest.mark.parametrize(
    "ids", [{"conversation_id": "c" * 201}, {"customer_id": "u" * 201}, {"customer_id": ""}]
)
def test_ids_the_history_cannot_hold_are_refused_up_front(ids: dict[str, Any]) -> None:
    engine = Engine(parse_policy(POLICY, affect=False), history=MemoryHistoryStore())
    arguments = {"conversation_id": "c1", "customer_id": "u1", **ids}
    with pytest.raises(InputError):
        session = engine.session(arguments.pop("conversation_id"), **arguments)
        session.observe(Turn(role="user", text="get me a human"))
