"""Session states in Redis, shared by every worker process and kept across restarts.

Each conversation is one Redis hash under ``<prefix><conversation id>`` with two fields:
``v``, the state's version, and ``s``, the state as JSON (pydantic). Every save renews
the key's time-to-live. :meth:`RedisSessionStore.save_if` is one Lua script that
compares ``v`` with the expected version and writes only when they agree, so two
workers observing turns of one conversation at once never lose an update: the loser
gets ``False`` and the engine runs its turn again on the newer state.

Every command has a socket timeout; failures, timeouts and data that is not a valid
state are raised as :class:`~escalate.errors.StoreError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from escalate.engine.state import SessionState
from escalate.errors import InputError, MissingExtraError, StoreError

if TYPE_CHECKING:
    import redis

__all__ = ["RedisSessionStore"]

#: Write ``ARGV[2]`` (version) and ``ARGV[3]`` (JSON) when the saved version is ``ARGV[1]``.
_SAVE_IF = """
local current = redis.call('HGET', KEYS[1], 'v')
if current == false then current = '0' end
if current ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'v', ARGV[2], 's', ARGV[3])
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""


class RedisSessionStore:
    """Session states in Redis (the ``redis`` extra), with a time-to-live.

    Parameters
    ----------
    url:
        ``redis://host:6379/0`` (``rediss://`` for TLS, ``unix:///path`` for a socket).
    prefix:
        Prefix of every key, so several deployments (or test runs) can share a server.
    ttl_seconds:
        Forget a conversation this long after its last saved turn.
    timeout:
        Seconds allowed to connect and for each command.
    client:
        An existing ``redis.Redis`` client to use instead of ``url``.

    Examples
    --------
    >>> store = RedisSessionStore("redis://127.0.0.1:6379/0", prefix="doc:", ttl_seconds=60)
    >>> store.save_if(SessionState(conversation_id="c1", version=1), expected_version=0)
    True
    >>> store.save_if(SessionState(conversation_id="c1", version=1), expected_version=0)
    False
    >>> store.load("c1").version
    1
    >>> store.delete("c1")
    """

    def __init__(
        self,
        url: str = "redis://localhost:6379/0",
        *,
        prefix: str = "escalate:session:",
        ttl_seconds: float = 86_400.0,
        timeout: float = 1.0,
        client: redis.Redis | None = None,
    ) -> None:
        try:
            import redis as redis_module
        except ImportError:
            raise MissingExtraError("Redis sessions", "redis") from None
        if ttl_seconds <= 0:
            raise InputError(f"must be a positive number, got {ttl_seconds!r}", field="ttl_seconds")
        if timeout <= 0:
            raise InputError(
                f"must be a positive number of seconds, got {timeout!r}", field="timeout"
            )
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.timeout = timeout
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._client: redis.Redis = client or redis_module.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
        )
        self._save_if = self._client.register_script(_SAVE_IF)

    def __repr__(self) -> str:
        return f"RedisSessionStore(prefix={self.prefix!r}, ttl_seconds={self.ttl_seconds})"

    def _key(self, conversation_id: str) -> str:
        return self.prefix + conversation_id

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:  # redis raises its own tree, plus OSError and friends
            raise StoreError(f"redis: {what} failed: {type(exc).__name__}: {exc}") from exc

    def load(self, conversation_id: str) -> SessionState | None:
        with self._errors("load"):
            raw: Any = self._client.hget(self._key(conversation_id), "s")
        if raw is None:
            return None
        try:
            state = SessionState.model_validate_json(raw)
        except (ValidationError, ValueError) as exc:
            raise StoreError(
                f"redis: the saved state of {conversation_id!r} is not a valid session state"
            ) from exc
        if state.conversation_id != conversation_id:
            raise StoreError(f"redis: the key of {conversation_id!r} holds another conversation")
        return state

    def save(self, state: SessionState) -> None:
        key = self._key(state.conversation_id)
        with self._errors("save"):
            pipe = self._client.pipeline(transaction=True)
            pipe.hset(key, mapping={"v": str(state.version), "s": state.model_dump_json()})
            pipe.pexpire(key, self._ttl_ms)
            pipe.execute()

    def save_if(self, state: SessionState, expected_version: int) -> bool:
        key = self._key(state.conversation_id)
        with self._errors("save"):
            saved = self._save_if(
                keys=[key],
                args=[
                    str(expected_version),
                    str(state.version),
                    state.model_dump_json(),
                    self._ttl_ms,
                ],
            )
        return bool(saved)

    def delete(self, conversation_id: str) -> None:
        with self._errors("delete"):
            self._client.delete(self._key(conversation_id))

    def clear(self) -> int:
        """Delete every key under this store's prefix; returns how many."""
        deleted = 0
        with self._errors("clear"):
            batch: list[Any] = []
            for key in self._client.scan_iter(match=self.prefix + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += int(self._client.delete(*batch))
                    batch = []
            if batch:
                deleted += int(self._client.delete(*batch))
        return deleted

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
