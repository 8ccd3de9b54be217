"""Session states in Redis, shared by every worker process and kept across restarts.

Each conversation is one Redis hash under ``<prefix><conversation id>`` with three
fields: ``v``, the state's version, ``s``, the state as JSON (pydantic), and ``w``, the
tokens naming the latest writes. Every save renews the key's time-to-live.
:meth:`RedisSessionStore.save_if` is one Lua script that compares ``v`` with the
expected version and writes only when they agree, so two workers observing turns of one
conversation at once never lose an update: the loser gets ``False`` and the engine runs
its turn again on the newer state.

Restarts and lost replies
-------------------------
A command that fails for want of a connection (refused, reset, timed out, or the server
still loading its data after a restart) is sent again, with a growing pause, until
``retry_seconds`` have passed; only then is the failure raised. A restart of the server
(with its data persisted) therefore costs the turns that meet it a delay, not their state.
Sending a command again is safe:

- ``save_if`` is idempotent. Each call carries a fresh token; when the first try was
  applied but its reply was lost, the second finds its own token among the latest 16
  in ``w`` and answers ``True``, rather than ``False`` (which would make the engine
  apply the turn twice).
- ``save`` never replaces a newer state (a higher ``v``) with an older one: it raises
  instead. A caller that could not load a conversation and saves a fresh state cannot
  wipe the conversation once the server answers again.

Every command has a socket timeout; failures, timeouts and data that is not a valid
state are raised as :class:`~escalate.errors.StoreError`.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import ValidationError

from escalate.engine.state import SessionState
from escalate.errors import InputError, MissingExtraError, StoreError

if TYPE_CHECKING:
    import redis

__all__ = ["RedisSessionStore"]

#: The tokens of the latest writes kept in ``w``, newest first, each 32 characters.
_TOKENS_KEPT = 16

#: Write version ``ARGV[2]``, JSON ``ARGV[3]`` and token ``ARGV[5]`` when the saved version
#: is ``ARGV[1]``; answer 1 also when this very write (its token) was applied already,
#: even if other writes came after it.
_SAVE_IF = f"""
local tokens = redis.call('HGET', KEYS[1], 'w') or ''
if string.find(tokens, ARGV[5], 1, true) then return 1 end
local current = redis.call('HGET', KEYS[1], 'v')
if current == false then current = '0' end
if current ~= ARGV[1] then return 0 end
tokens = string.sub(ARGV[5] .. ' ' .. tokens, 1, {33 * _TOKENS_KEPT - 1})
redis.call('HSET', KEYS[1], 'v', ARGV[2], 's', ARGV[3], 'w', tokens)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return 1
"""

#: Write unless a newer version is saved; answer the saved version when it is newer.
_SAVE = f"""
local current = tonumber(redis.call('HGET', KEYS[1], 'v') or '0')
if current > tonumber(ARGV[1]) then return current end
local tokens = redis.call('HGET', KEYS[1], 'w') or ''
tokens = string.sub(ARGV[4] .. ' ' .. tokens, 1, {33 * _TOKENS_KEPT - 1})
redis.call('HSET', KEYS[1], 'v', ARGV[1], 's', ARGV[2], 'w', tokens)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return -1
"""

#: The longest pause between two tries of a command.
_MAX_PAUSE = 0.25

T = TypeVar("T")


class _InvalidState(StoreError):
    """The data under a conversation's key is not a valid state of that conversation."""


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
    retry_seconds:
        How long a command that failed for want of a connection is tried again (a server
        restarting, say) before the failure is raised; ``0`` never tries again.
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
        retry_seconds: float = 2.0,
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
        if retry_seconds < 0:
            raise InputError(
                f"must be zero or a positive number of seconds, got {retry_seconds!r}",
                field="retry_seconds",
            )
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self._retryable: tuple[type[BaseException], ...] = (
            redis_module.ConnectionError,  # BusyLoadingError (a restart loading data) too
            redis_module.TimeoutError,
            OSError,
        )
        self.retry_seconds = retry_seconds
        self.prefix = prefix
        self.ttl_seconds = ttl_seconds
        self.timeout = timeout
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._client: redis.Redis = client or redis_module.Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            health_check_interval=30,
            retry=Retry(NoBackoff(), 0),  # tried again here, within retry_seconds
        )
        self._save_if = self._client.register_script(_SAVE_IF)
        self._save = self._client.register_script(_SAVE)

    def __repr__(self) -> str:
        return f"RedisSessionStore(prefix={self.prefix!r}, ttl_seconds={self.ttl_seconds})"

    def _key(self, conversation_id: str) -> str:
        return self.prefix + conversation_id

    def _run(self, what: str, command: Callable[[], T]) -> T:
        """Run ``command``, again while its failure is a connection's and time is left."""
        deadline = time.monotonic() + self.retry_seconds
        pause = 0.01
        while True:
            try:
                return command()
            except self._retryable as exc:
                if time.monotonic() + pause > deadline:
                    raise StoreError(f"redis: {what} failed: {type(exc).__name__}: {exc}") from exc
            except StoreError:
                raise
            except Exception as exc:  # redis raises its own tree, plus OSError and friends
                raise StoreError(f"redis: {what} failed: {type(exc).__name__}: {exc}") from exc
            time.sleep(pause)
            pause = min(pause * 2, _MAX_PAUSE)

    def load(self, conversation_id: str) -> SessionState | None:
        raw: Any = self._run("load", lambda: self._client.hget(self._key(conversation_id), "s"))
        if raw is None:
            return None
        try:
            state = SessionState.model_validate_json(raw)
        except (ValidationError, ValueError) as exc:
            raise _InvalidState(
                f"redis: the saved state of {conversation_id!r} is not a valid session state"
            ) from exc
        if state.conversation_id != conversation_id:
            raise _InvalidState(f"redis: the key of {conversation_id!r} holds another conversation")
        return state

    def save(self, state: SessionState) -> None:
        """Save ``state`` unless a valid state of a newer version is saved (data that is
        not a valid state is replaced, so that a conversation recovers from garbage).

        Raises
        ------
        StoreError
            The store failed, or holds a newer valid version (which stays).
        """
        key = self._key(state.conversation_id)
        args: list[str | int] = [
            state.version,
            state.model_dump_json(),
            self._ttl_ms,
            uuid.uuid4().hex,
        ]
        newer = int(self._run("save", lambda: self._save(keys=[key], args=args)))
        if newer < 0:
            return
        try:
            self.load(state.conversation_id)
        except _InvalidState:
            self._run("save", lambda: self._overwrite(key, args))
            return
        raise StoreError(
            f"redis: save refused: version {newer} of {state.conversation_id!r} is saved, "
            f"newer than version {state.version}"
        )

    def _overwrite(self, key: str, args: list[str | int]) -> None:
        pipe = self._client.pipeline(transaction=True)
        pipe.delete(key)
        pipe.hset(key, mapping={"v": args[0], "s": args[1], "w": args[3]})
        pipe.pexpire(key, self._ttl_ms)
        pipe.execute()

    def save_if(self, state: SessionState, expected_version: int) -> bool:
        key = self._key(state.conversation_id)
        args: list[str | int] = [
            str(expected_version),
            str(state.version),
            state.model_dump_json(),
            self._ttl_ms,
            uuid.uuid4().hex,  # one token for every try of this write
        ]
        return bool(self._run("save", lambda: self._save_if(keys=[key], args=args)))

    def delete(self, conversation_id: str) -> None:
        self._run("delete", lambda: self._client.delete(self._key(conversation_id)))

    def clear(self) -> int:
        """Delete every key under this store's prefix; returns how many."""

        def clear() -> int:
            deleted = 0
            batch: list[Any] = []
            for key in self._client.scan_iter(match=self.prefix + "*", count=500):
                batch.append(key)
                if len(batch) >= 500:
                    deleted += int(self._client.delete(*batch))
                    batch = []
            if batch:
                deleted += int(self._client.delete(*batch))
            return deleted

        return self._run("clear", clear)

    def close(self) -> None:
        """Close the connections."""
        self._client.close()
