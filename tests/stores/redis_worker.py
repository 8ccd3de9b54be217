"""A worker process for the concurrency test: observes turns of one shared conversation."""

from __future__ import annotations

from typing import Any

from escalate import Engine, Turn, parse_policy
from escalate.stores.redis import RedisSessionStore

POLICY = """\
version: 1
rules:
  - id: never
    when: dialogue.user_turns < 0
    then: {action: handoff}
on_error: continue
"""


class CountingStore(RedisSessionStore):
    """Counts compare-and-set saves that lost to another worker."""

    conflicts = 0

    def save_if(self, state: Any, expected_version: int) -> bool:
        saved = super().save_if(state, expected_version)
        if not saved:
            self.conflicts += 1
        return saved


def observe_many(
    url: str, prefix: str, worker: int, turns: int, start: Any, conversation_id: str
) -> tuple[int, int]:
    """Observe ``turns`` user turns; returns (decisions that were not on_error, conflicts)."""
    store = CountingStore(url, prefix=prefix, timeout=5.0)
    engine = Engine(parse_policy(POLICY, affect=False), sessions=store)
    session = engine.session(conversation_id, customer_id="u1")
    start.wait()
    clean = 0
    for i in range(turns):
        decision = session.observe(Turn(role="user", text=f"worker {worker} message {i}"))
        clean += decision.guard != "on_error"
    store.close()
    return clean, store.conflicts
