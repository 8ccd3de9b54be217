"""Rasa tracker-store dumps: trackers, or event rows, as conversations.

Rasa keeps a conversation as a *tracker*: ``{"sender_id", "events": [...]}`` (what the
Redis, Mongo and SQL tracker stores hold and what ``GET /conversations/{id}/tracker``
returns). A dump is read as JSON Lines of trackers, or one JSON document (a tracker, or
an array of them); rows of single events that carry their ``sender_id`` (an event-broker
export, or the SQL store's ``events`` table with the event as JSON in ``data``) are
grouped by sender, in order, and come out at the end of the file.

Events become turns:

* ``user`` → a user turn: its text (a ``/intent`` button payload is an intent, not text),
  ``parse_data.intent`` name and confidence, and timestamp;
* ``bot`` → a bot turn with ``metadata.utter_action`` as its intent; it is a fallback
  (``event: fallback``) when it follows a fallback action (``action_default_fallback``,
  ``action_two_stage_fallback``, ``action_default_ask_rephrase``) or utters
  ``utter_default`` or ``utter_ask_rephrase``; a fallback action with no utterance after
  it is a bare fallback turn;
* ``pause`` (Rasa's ``ConversationPaused``, how a human handoff stops the bot) or a
  handoff action (``action_handoff``, ``action_human_handoff``, ``action_handoff_to_human``)
  is the **takeover**: the conversation is labelled ``escalate: true`` at the turn before
  it, and bot messages while paused are the agent's. A conversation with no takeover is
  labelled ``escalate: false``.
* ``session_started`` starts a new conversation (ids ``sender_id``, then ``sender_id#2``...).

Everything else (slots, ``action_listen``, forms, featurisation) carries no turn.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from escalate.errors import InputError
from escalate.integrations.importers._base import (
    ImportRecord,
    Source,
    as_object,
    build_conversation,
    clip_text,
    input_error,
    iter_json_items,
    located,
    parse_time,
)
from escalate.models import Conversation, Turn

__all__ = [
    "FALLBACK_ACTIONS",
    "FALLBACK_UTTERANCES",
    "HANDOFF_ACTIONS",
    "RasaTurns",
    "read_rasa",
    "sessions",
    "tracker_conversations",
    "turns_from_events",
]

FALLBACK_ACTIONS = frozenset(
    {"action_default_fallback", "action_two_stage_fallback", "action_default_ask_rephrase"}
)
FALLBACK_UTTERANCES = frozenset({"utter_default", "utter_ask_rephrase"})
HANDOFF_ACTIONS = frozenset({"action_handoff", "action_human_handoff", "action_handoff_to_human"})
_SKIPPED_ACTIONS = frozenset({"action_listen", "action_session_start"})


@dataclass
class RasaTurns:
    """The turns of one Rasa session and where a person took over.

    ``takeover`` indexes the first turn after the takeover (``len(turns)`` when it came
    last); ``events`` counts the events read, so a caller can continue from there.

    Examples
    --------
    >>> t = turns_from_events([{"event": "user", "text": "hi"}, {"event": "pause"}])
    >>> [turn.role for turn in t.turns], t.takeover
    (['user'], 1)
    """

    turns: list[Turn] = field(default_factory=list)
    takeover: int | None = None
    channel: str | None = None
    events: int = 0


def _intent(event: Mapping[str, Any]) -> tuple[str | None, float | None]:
    parse = event.get("parse_data")
    intent = parse.get("intent") if isinstance(parse, Mapping) else None
    if not isinstance(intent, Mapping):
        return None, None
    name = intent.get("name")
    confidence = intent.get("confidence")
    if isinstance(confidence, int | float) and not isinstance(confidence, bool):
        confidence = min(max(float(confidence), 0.0), 1.0)
    else:
        confidence = None
    return (str(name) if name else None), confidence


def turns_from_events(events: Iterable[Any]) -> RasaTurns:
    """Map one session's Rasa events (JSON objects) to turns, in order.

    Raises
    ------
    ValueError
        An event that is not an object, or a turn that is not valid (the message names
        the event's index and field).

    Examples
    --------
    >>> events = [
    ...     {"event": "user", "text": "where is my parcel", "timestamp": 1714816800,
    ...      "parse_data": {"intent": {"name": "nlu_fallback", "confidence": 0.31}}},
    ...     {"event": "action", "name": "action_default_fallback"},
    ...     {"event": "bot", "text": "Sorry, I didn't get that.",
    ...      "metadata": {"utter_action": "utter_default"}},
    ... ]
    >>> [(t.role, t.intent, t.event) for t in turns_from_events(events).turns]
    [('user', 'nlu_fallback', None), ('bot', 'utter_default', 'fallback')]
    """
    out = RasaTurns()
    pending_fallback: str | None = None
    paused = False

    def flush_fallback() -> None:
        nonlocal pending_fallback
        if pending_fallback is not None:
            out.turns.append(Turn(role="bot", event="fallback", intent=pending_fallback))
            pending_fallback = None

    for index, raw in enumerate(events):
        out.events += 1
        try:
            event = as_object(raw, "an event")
            kind = event.get("event")
            stamp = parse_time(event.get("timestamp"))
            if kind == "user":
                flush_fallback()
                text = event.get("text")
                text = text if isinstance(text, str) else None
                intent, confidence = _intent(event)
                if text and text.startswith("/"):
                    intent, text = intent or text[1:].split("{", 1)[0] or None, None
                text = clip_text(text)
                if text is None and intent is None:
                    continue
                channel = event.get("input_channel")
                if out.channel is None and isinstance(channel, str) and channel:
                    out.channel = channel[:50]
                out.turns.append(
                    Turn(role="user", text=text, intent=intent, confidence=confidence,
                         timestamp=stamp)
                )  # fmt: skip
            elif kind == "bot":
                metadata = event.get("metadata")
                utter = metadata.get("utter_action") if isinstance(metadata, Mapping) else None
                utter = str(utter) if utter else None
                text = event.get("text")
                text = clip_text(text if isinstance(text, str) else None)
                fallback = pending_fallback is not None or utter in FALLBACK_UTTERANCES
                pending_fallback = None
                if text is None and utter is None and not fallback:
                    continue
                out.turns.append(
                    Turn(
                        role="agent" if paused else "bot",
                        text=text,
                        intent=utter,
                        event="fallback" if fallback and not paused else None,
                        timestamp=stamp,
                    )
                )
            elif kind == "action":
                name = str(event.get("name") or "")
                if name in FALLBACK_ACTIONS:
                    flush_fallback()
                    pending_fallback = name
                elif name in HANDOFF_ACTIONS:
                    flush_fallback()
                    if out.takeover is None:
                        out.takeover = len(out.turns)
                elif name not in _SKIPPED_ACTIONS:
                    flush_fallback()
            elif kind == "pause":
                flush_fallback()
                paused = True
                if out.takeover is None:
                    out.takeover = len(out.turns)
            elif kind == "resume":
                paused = False
        except (ValueError, TypeError, InputError) as exc:
            raise located(f"events.{index}", exc) from None
    flush_fallback()
    return out


def sessions(events: Sequence[Any]) -> Iterator[tuple[int, list[Any]]]:
    """Split a tracker's events at ``session_started``: ``(first event index, events)``.

    Examples
    --------
    >>> [start for start, _ in sessions([{"event": "user"}, {"event": "session_started"}])]
    [0, 1]
    """
    start, current = 0, list[Any]()
    for index, event in enumerate(events):
        if isinstance(event, Mapping) and event.get("event") == "session_started" and current:
            yield start, current
            start, current = index, []
        current.append(event)
    if current:
        yield start, current


def tracker_conversations(
    tracker: Mapping[str, Any], *, labelled: bool = True
) -> Iterator[Conversation]:
    """The conversations of one tracker, one per session that has a message.

    Raises
    ------
    ValueError
        The tracker has no ``sender_id`` or ``events``, or an event is not valid.

    Examples
    --------
    >>> tracker = {"sender_id": "u42", "events": [
    ...     {"event": "user", "text": "I want to talk to a person"},
    ...     {"event": "action", "name": "action_handoff"},
    ...     {"event": "pause"}]}
    >>> [(c.id, c.customer_id, c.label.escalate, c.label.turn) for c in tracker_conversations(tracker)]
    [('u42', 'u42', True, 0)]
    """
    sender = tracker.get("sender_id")
    events = tracker.get("events")
    if not isinstance(sender, str | int) or sender == "":
        raise ValueError("sender_id: a tracker needs a sender id")
    if not isinstance(events, list):
        raise ValueError("events: a tracker needs a list of events")
    sender = str(sender)
    number = 0
    for start, session in sessions(events):
        try:
            mapped = turns_from_events(session)
        except ValueError as exc:
            where, _, message = str(exc).partition(": ")
            index = int(where.split(".")[1]) + start
            rest = ".".join(where.split(".")[2:])
            raise ValueError(f"events.{index}{'.' + rest if rest else ''}: {message}") from None
        if not mapped.turns:
            continue
        number += 1
        yield build_conversation(
            sender if number == 1 else f"{sender}#{number}",
            mapped.turns,
            takeover=mapped.takeover,
            labelled=labelled,
            customer_id=sender,
            channel=mapped.channel,
            metadata={"source": "rasa", "sender_id": sender},
        )


def _event_row(row: Mapping[str, Any]) -> tuple[str, Any] | None:
    """``(sender, event)`` for a row holding one event, else ``None``."""
    sender = row.get("sender_id")
    if sender is None or "events" in row:
        return None
    if "event" in row:
        return str(sender), row
    data = row.get("data")
    if isinstance(data, str):
        import json

        try:
            event = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ValueError(f"data: not valid JSON: {exc.msg}") from None
        return str(sender), event
    return None


def read_rasa(source: Source, *, labelled: bool = True) -> Iterator[ImportRecord]:
    """Stream the conversations of a Rasa tracker-store dump (see the module's notes).

    Examples
    --------
    >>> import io, json
    >>> dump = io.BytesIO(json.dumps({"sender_id": "u1", "events": [
    ...     {"event": "user", "text": "hello", "timestamp": 1714816800}]}).encode())
    >>> [(r.position, r.conversation.id, r.conversation.label.escalate) for r in read_rasa(dump)]
    [('line 1', 'u1', False)]
    """
    grouped: OrderedDict[str, tuple[str, list[Any]]] = OrderedDict()
    for position, item in iter_json_items(source, list_keys=("trackers", "events")):
        try:
            row = as_object(item, "a tracker or an event")
            event = _event_row(row)
            if event is not None:
                sender, payload = event
                grouped.setdefault(sender, (position, []))[1].append(payload)
                continue
            for conversation in tracker_conversations(row, labelled=labelled):
                yield ImportRecord(position, conversation=conversation)
        except (ValueError, TypeError, InputError) as exc:
            yield ImportRecord(position, error=input_error(exc))
    for sender, (position, events) in grouped.items():
        try:
            for conversation in tracker_conversations(
                {"sender_id": sender, "events": events}, labelled=labelled
            ):
                yield ImportRecord(
                    f"events of {sender!r} from {position}", conversation=conversation
                )
        except (ValueError, TypeError, InputError) as exc:
            yield ImportRecord(f"events of {sender!r} from {position}", error=input_error(exc))
