"""The packet for other systems: JSON Schema, Markdown for an agent desk, Bot Framework.

* :func:`packet_json_schema` is the published JSON Schema (draft 2020-12) of
  :class:`~escalate.models.HandoffPacket` as serialised by ``model_dump(mode="json")``;
  the same schema is committed as ``schemas/handoff_packet.schema.json``.
* :func:`to_markdown` is a compact view for a person: who, what, facts, what the bot
  tried, how they felt, earlier contacts, why, then the transcript.
* :func:`to_bot_framework` is a Bot Framework ``handoff.initiate`` event activity: the
  transcript travels as a JSON attachment (``{"activities": [...]}``) and the rest of the
  packet as the activity's ``value`` (the handoff context an agent hub reads).
"""

from __future__ import annotations

import json
from typing import Any

from escalate.models import HandoffPacket, Turn

__all__ = ["packet_json_schema", "to_bot_framework", "to_json", "to_markdown"]

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def packet_json_schema() -> dict[str, Any]:
    """The JSON Schema of a serialised :class:`~escalate.models.HandoffPacket`.

    Examples
    --------
    >>> schema = packet_json_schema()
    >>> schema["title"], "opener" in schema["properties"]
    ('HandoffPacket', True)
    """
    schema = HandoffPacket.model_json_schema(mode="serialization")
    _trim_examples(schema)
    return {"$schema": SCHEMA_DIALECT, **schema}


def _trim_examples(node: Any) -> None:
    """Keep the prose of each description, not the docstring's runnable examples."""
    if isinstance(node, dict):
        description = node.get("description")
        if isinstance(description, str):
            node["description"] = description.split("\n\nExamples\n")[0].strip()
        for value in node.values():
            _trim_examples(value)
    elif isinstance(node, list):
        for value in node:
            _trim_examples(value)


def to_json(packet: HandoffPacket, *, indent: int | None = 2) -> str:
    """The packet as JSON text (what the schema describes)."""
    return json.dumps(packet.model_dump(mode="json"), ensure_ascii=False, indent=indent)


def _who(turn: Turn) -> str:
    return {"user": "Customer", "bot": "Bot", "agent": "Agent", "system": "System"}[turn.role]


def _turn_line(index: int, turn: Turn) -> str:
    parts = []
    if turn.text:
        parts.append(turn.text.replace("\n", " "))
    tags = [t for t in (turn.intent, turn.event) if t]
    tag = f" _({', '.join(tags)})_" if tags else ""
    body = " ".join(parts) if parts else "—"
    return f"{index}. **{_who(turn)}**: {body}{tag}"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def to_markdown(packet: HandoffPacket) -> str:
    """A Markdown view of the packet for an agent desk.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> p = HandoffPacket(conversation_id="c1", customer_id="u9",
    ...                   created_at=datetime(2026, 5, 4, tzinfo=UTC), rule="asked-for-human",
    ...                   queue="general", priority="high", reasons=[],
    ...                   transcript=[Turn(role="user", text="Get me a person")], signals={},
    ...                   opener="Thanks for waiting.")
    >>> print(to_markdown(p).splitlines()[0])
    # Handoff: c1 — customer u9
    """
    lines: list[str] = []
    who = f" — customer {packet.customer_id}" if packet.customer_id else ""
    lines.append(f"# Handoff: {packet.conversation_id}{who}")
    lines.append("")
    route = " · ".join(
        x
        for x in (
            f"queue **{packet.queue}**" if packet.queue else None,
            f"priority **{packet.priority}**" if packet.priority else None,
            f"rule `{packet.rule}`" if packet.rule else None,
            f"channel {packet.channel}",
            packet.created_at.isoformat(),
        )
        if x
    )
    lines.append(route)
    if packet.opener:
        lines += ["", f"> **Suggested opener:** {packet.opener}"]
    lines += ["", "## Issue", "", packet.issue or "_The customer gave no text._"]
    if packet.latest_message and packet.latest_message.text not in (packet.issue or ""):
        lines += ["", f"Latest message (turn {packet.latest_message.turn}): "
                      f"“{packet.latest_message.text}”"]  # fmt: skip
    if packet.facts:
        lines += ["", "## What they already told us", ""]
        lines += ["| fact | value | turn | confidence |", "|---|---|---|---|"]
        for f in packet.facts:
            lines.append(f"| {f.type} | {f.value} | {f.turn} | {f.confidence:.2f} |")
    if packet.bot_attempts:
        lines += ["", "## What the bot tried", ""]
        for a in packet.bot_attempts:
            what = a.intent or ("fallback" if a.fallback else "answer")
            flags = [x for x, on in (("fallback", a.fallback), ("repeated", a.repeated)) if on]
            flag = f" ({', '.join(flags)})" if flags and what != "fallback" else ""
            text = f": “{a.text}”" if a.text else ""
            lines.append(f"- turn {a.turn}: `{what}`{flag}{text}")
    scored = [m for m in packet.affect if m.sentiment is not None]
    if scored:
        lines += ["", "## How they feel", ""]
        for m in scored:
            emotions = ", ".join(f"{k} {_pct(v)}" for k, v in m.emotions.items()) or "—"
            lines.append(
                f"- turn {m.turn}: {m.sentiment} (negative {_pct(m.negative)}); {emotions}"
            )
    if packet.history:
        lines += ["", f"## Earlier contacts ({len(packet.history)})", ""]
        for h in packet.history:
            topic = f" about {h.topic}" if h.topic else ""
            lines.append(f"- {h.started_at.date().isoformat()} via {h.channel}{topic}: {h.outcome}")
    if packet.reasons:
        lines += ["", "## Why it was handed off", ""]
        lines += [f"- {reason}" for reason in packet.reasons]
    if packet.redacted:
        counted = ", ".join(f"{k} {v}" for k, v in packet.redactions.items()) or "none found"
        lines += ["", f"_Personal data redacted: {counted}._"]
    lines += ["", "## Transcript", ""]
    if packet.transcript_omitted:
        lines.append(f"_{packet.transcript_omitted} earlier turn(s) omitted._")
        lines.append("")
    for offset, turn in enumerate(packet.transcript):
        lines.append(_turn_line(packet.transcript_omitted + offset, turn))
    return "\n".join(lines) + "\n"


def _activity(packet: HandoffPacket, turn: Turn) -> dict[str, Any]:
    role = "user" if turn.role == "user" else "bot"
    sender = packet.customer_id or "user" if turn.role == "user" else turn.role
    activity: dict[str, Any] = {
        "type": "message",
        "from": {"id": sender, "role": role},
        "conversation": {"id": packet.conversation_id},
    }
    if turn.text:
        activity["text"] = turn.text
    if turn.timestamp is not None:
        activity["timestamp"] = turn.timestamp.isoformat()
    if turn.intent or turn.event:
        activity["channelData"] = {
            k: v for k, v in (("intent", turn.intent), ("event", turn.event)) if v
        }
    return activity


def to_bot_framework(packet: HandoffPacket) -> dict[str, Any]:
    """The packet as a Bot Framework ``handoff.initiate`` event activity.

    The attachment holds the transcript as Bot Framework message activities; ``value``
    holds the handoff context: everything else in the packet.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> p = HandoffPacket(conversation_id="c1", created_at=datetime(2026, 5, 4, tzinfo=UTC),
    ...                   rule="r", queue="general", priority="high", reasons=[],
    ...                   transcript=[Turn(role="user", text="Get me a person")], signals={})
    >>> event = to_bot_framework(p)
    >>> event["type"], event["name"], event["attachments"][0]["content"]["activities"][0]["text"]
    ('event', 'handoff.initiate', 'Get me a person')
    """
    context = packet.model_dump(mode="json", exclude={"transcript"})
    return {
        "type": "event",
        "name": "handoff.initiate",
        "conversation": {"id": packet.conversation_id},
        "timestamp": packet.created_at.isoformat(),
        "attachments": [
            {
                "contentType": "application/json",
                "name": "Transcript",
                "content": {"activities": [_activity(packet, t) for t in packet.transcript]},
            }
        ],
        "value": context,
    }
