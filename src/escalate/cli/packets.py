"""Printing handoff packets from the command line (``escalate decide --packets``)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from typing import Literal, TextIO

from escalate.models import Decision
from escalate.packet.formats import to_bot_framework, to_markdown

__all__ = ["PacketFormat", "print_packets"]

#: ``json``: one JSON line per packet, ``{"conversation_id", "turn", "packet"}``;
#: ``markdown``: the agent-desk view; ``bot-framework``: one ``handoff.initiate`` event
#: activity per line.
PacketFormat = Literal["json", "markdown", "bot-framework"]


def print_packets(
    decisions: Iterable[Decision], *, out: TextIO | None = None, fmt: PacketFormat = "json"
) -> int:
    """Write the packet of every decision that carries one; return how many were written.

    Examples
    --------
    >>> import io, escalate
    >>> engine = escalate.Engine.from_policy("dialogue_only", affect=None)
    >>> conversation = escalate.Conversation(id="c1", turns=[
    ...     escalate.Turn(role="user", text="Order 4481-2231 is late. Get me a human.")])
    >>> buffer = io.StringIO()
    >>> print_packets(engine.decide(conversation), out=buffer)
    1
    >>> sorted(json.loads(buffer.getvalue()))
    ['conversation_id', 'packet', 'turn']
    """
    stream = out if out is not None else sys.stdout
    written = 0
    for decision in decisions:
        packet = decision.packet
        if packet is None:
            continue
        if fmt == "markdown":
            stream.write(to_markdown(packet) + "\n")
        elif fmt == "bot-framework":
            stream.write(json.dumps(to_bot_framework(packet), ensure_ascii=False) + "\n")
        else:
            record = {
                "conversation_id": decision.conversation_id,
                "turn": decision.turn,
                "packet": packet.model_dump(mode="json"),
            }
            stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        written += 1
    return written
