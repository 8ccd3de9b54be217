"""Where the service keeps the packet of each handed-off conversation.

A bot asks for the packet after a handoff (``GET /v1/conversations/{id}/packet``),
possibly on another replica than the one that decided, so packets live beside the
session states: in memory for one process, or in Redis (one key per conversation,
with a time-to-live) when sessions are shared.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any, Protocol

from pydantic import ValidationError

from escalate.errors import EscalateError, MissingExtraError, StoreError
from escalate.models import HandoffPacket

__all__ = ["MemoryPacketStore", "PacketStore", "RedisPacketStore", "open_packet_store"]


class PacketStore(Protocol):
    """The latest handoff packet of each conversation."""

    def get(self, conversation_id: str) -> HandoffPacket | None:
        """The packet, or ``None`` when the conversation was never handed off."""
        ...

    def put(self, packet: HandoffPacket) -> None:
        """Keep ``packet`` as its conversation's latest."""
        ...

    def ping(self) -> None:
        """Raise when the store cannot be reached."""
        ...


class MemoryPacketStore:
    """Packets in this process, the least recently stored dropped beyond ``capacity``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> store = MemoryPacketStore(capacity=2)
    >>> store.put(HandoffPacket(conversation_id="c1", created_at=datetime(2026, 5, 4, tzinfo=UTC),
    ...                         rule=None, queue=None, priority=None, reasons=[], transcript=[],
    ...                         signals={}))
    >>> store.get("c1").conversation_id, store.get("c2")
    ('c1', None)
    """

    def __init__(self, capacity: int = 100_000) -> None:
        if capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity = capacity
        self._packets: OrderedDict[str, HandoffPacket] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, conversation_id: str) -> HandoffPacket | None:
        with self._lock:
            return self._packets.get(conversation_id)

    def put(self, packet: HandoffPacket) -> None:
        with self._lock:
            self._packets[packet.conversation_id] = packet
            self._packets.move_to_end(packet.conversation_id)
            while len(self._packets) > self.capacity:
                self._packets.popitem(last=False)

    def ping(self) -> None:
        return None


class RedisPacketStore:
    """Packets in Redis (the ``redis`` extra): one JSON string per conversation.

    Parameters
    ----------
    url:
        ``redis://host:6379/0`` (``rediss://``, ``unix://``), as for the session store.
    prefix:
        Prefix of every key.
    ttl_seconds:
        How long a packet is kept after its handoff.
    timeout:
        Seconds allowed to connect and for each command.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> store = RedisPacketStore("redis://127.0.0.1:6379/0", prefix="doc:packet:", ttl_seconds=60)
    >>> store.put(HandoffPacket(conversation_id="c1", created_at=datetime(2026, 5, 4, tzinfo=UTC),
    ...                         rule="asked", queue=None, priority=None, reasons=[], transcript=[],
    ...                         signals={}))
    >>> store.get("c1").rule
    'asked'
    """

    def __init__(
        self,
        url: str,
        *,
        prefix: str = "escalate:packet:",
        ttl_seconds: float = 86_400.0,
        timeout: float = 1.0,
    ) -> None:
        try:
            import redis
        except ImportError:
            raise MissingExtraError("Redis packets", "redis") from None
        if ttl_seconds <= 0:
            raise EscalateError(f"ttl_seconds must be a positive number, got {ttl_seconds!r}")
        self.prefix = prefix
        self._ttl_ms = max(1, int(ttl_seconds * 1000))
        self._client: Any = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout
        )

    def get(self, conversation_id: str) -> HandoffPacket | None:
        try:
            raw = self._client.get(self.prefix + conversation_id)
        except Exception as exc:
            raise StoreError(f"redis: packet load failed: {type(exc).__name__}: {exc}") from exc
        if raw is None:
            return None
        try:
            return HandoffPacket.model_validate_json(raw)
        except ValidationError as exc:
            raise StoreError(
                f"redis: the packet of {conversation_id!r} is not a valid packet"
            ) from exc

    def put(self, packet: HandoffPacket) -> None:
        try:
            self._client.set(
                self.prefix + packet.conversation_id, packet.model_dump_json(), px=self._ttl_ms
            )
        except Exception as exc:
            raise StoreError(f"redis: packet save failed: {type(exc).__name__}: {exc}") from exc

    def ping(self) -> None:
        try:
            self._client.ping()
        except Exception as exc:
            raise StoreError(f"redis: unreachable: {type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        """Close the connections."""
        self._client.close()


def open_packet_store(url: str | None) -> PacketStore:
    """The packet store beside a session store URL: Redis for ``redis://`` (and
    ``rediss://``, ``unix://``), else memory.

    Examples
    --------
    >>> type(open_packet_store("memory://")).__name__
    'MemoryPacketStore'
    """
    scheme = (url or "memory://").split(":", 1)[0].lower()
    if scheme in ("redis", "rediss", "unix"):
        assert url is not None
        return RedisPacketStore(url)
    return MemoryPacketStore()
