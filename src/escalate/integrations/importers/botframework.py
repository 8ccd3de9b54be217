"""Bot Framework ``.transcript`` files (the Emulator's and the transcript stores' format).

A transcript is a JSON array of Bot Framework activities. Each file is read whole (one
transcript is one conversation, or a few: activities are grouped by ``conversation.id``);
a folder is read file by file, in name order.

Activities become turns:

* a ``message`` from ``role: user`` → a user turn; from the bot → a bot turn (a card
  without text gives its title or text); ``timestamp`` is kept;
* a ``trace`` of a recognizer (LUIS, CLU: ``value.recognizerResult.intents``, or
  ``value.luisResult.topScoringIntent``) gives the user turn before it its top intent and
  score; when that intent is ``None`` (the recognizer found nothing), the bot's next
  message is a fallback (``event: fallback``); so is the bot's next message after a
  QnA Maker trace with no answer;
* a ``handoff.initiate`` event (Bot Framework's handoff protocol) is the **takeover**:
  the conversation is labelled ``escalate: true`` at the turn before it, and later
  messages not from the user are the agent's. With no handoff, ``escalate: false``.

Typing, conversation updates and other events carry no turn.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from escalate.errors import InputError
from escalate.integrations.importers._base import (
    ImportRecord,
    Source,
    as_object,
    build_conversation,
    clip_text,
    input_error,
    located,
    parse_time,
)
from escalate.models import Conversation, Turn

__all__ = ["HANDOFF_EVENT", "TranscriptTurns", "read_transcripts", "turns_from_activities"]

HANDOFF_EVENT = "handoff.initiate"
_NO_INTENT = "none"


@dataclass
class TranscriptTurns:
    """The turns of one Bot Framework conversation, and where a person took over.

    Examples
    --------
    >>> t = turns_from_activities([{"type": "message", "from": {"role": "user"}, "text": "hi"}])
    >>> t.turns[0].role, t.takeover
    ('user', None)
    """

    turns: list[Turn] = field(default_factory=list)
    takeover: int | None = None
    customer_id: str | None = None
    channel: str | None = None


def _top_intent(value: Any) -> tuple[str, float | None] | None:
    if not isinstance(value, Mapping):
        return None
    result = value.get("recognizerResult")
    intents = result.get("intents") if isinstance(result, Mapping) else None
    if isinstance(intents, Mapping) and intents:
        scored = [
            (name, float(v.get("score", 0.0)))
            for name, v in intents.items()
            if isinstance(v, Mapping) and isinstance(v.get("score", 0.0), int | float)
        ]
        if scored:
            name, score = max(scored, key=lambda pair: pair[1])
            return name, min(max(score, 0.0), 1.0)
    luis = value.get("luisResult")
    top = luis.get("topScoringIntent") if isinstance(luis, Mapping) else None
    if isinstance(top, Mapping) and top.get("intent"):
        given = top.get("score")
        return str(top["intent"]), (
            min(max(float(given), 0.0), 1.0) if isinstance(given, int | float) else None
        )
    return None


def _card_text(activity: Mapping[str, Any]) -> str | None:
    for attachment in activity.get("attachments") or []:
        content = attachment.get("content") if isinstance(attachment, Mapping) else None
        if isinstance(content, Mapping):
            for key in ("text", "title", "subtitle", "speak"):
                value = content.get(key)
                if isinstance(value, str) and value.strip():
                    return value
    return None


def turns_from_activities(activities: Iterable[Any]) -> TranscriptTurns:
    """Map one conversation's activities (JSON objects) to turns, in order.

    Raises
    ------
    ValueError
        An activity that is not an object or gives an invalid turn; the message names
        the activity's index and field.

    Examples
    --------
    >>> activities = [
    ...     {"type": "message", "from": {"id": "u1", "role": "user"}, "text": "cancel my order",
    ...      "timestamp": "2026-05-04T10:00:00Z"},
    ...     {"type": "trace", "name": "LuisRecognizer", "value": {"recognizerResult": {
    ...         "intents": {"None": {"score": 0.82}, "Cancel": {"score": 0.1}}}}},
    ...     {"type": "message", "from": {"role": "bot"}, "text": "Sorry, I didn't get that."},
    ...     {"type": "event", "name": "handoff.initiate", "from": {"role": "bot"}},
    ...     {"type": "message", "from": {"role": "bot"}, "text": "Hi, Sam from support here."}]
    >>> t = turns_from_activities(activities)
    >>> [(x.role, x.intent, x.event) for x in t.turns], t.takeover
    ([('user', 'None', None), ('bot', None, 'fallback'), ('agent', None, None)], 2)
    """
    out = TranscriptTurns()
    fallback_next = False
    for index, raw in enumerate(activities):
        try:
            activity = as_object(raw, "an activity")
            kind = activity.get("type")
            sender = activity.get("from")
            sender = sender if isinstance(sender, Mapping) else {}
            role = sender.get("role")
            channel = activity.get("channelId")
            if out.channel is None and isinstance(channel, str) and channel:
                out.channel = channel[:50]
            if kind == "message":
                stamp = parse_time(activity.get("timestamp"))
                text = activity.get("text")
                text = clip_text(text if isinstance(text, str) else None)
                if role == "user":
                    if out.customer_id is None and sender.get("id"):
                        out.customer_id = str(sender["id"])[:200]
                    if text is not None:
                        out.turns.append(Turn(role="user", text=text, timestamp=stamp))
                    continue
                text = text or clip_text(_card_text(activity))
                if text is None:
                    continue
                after = out.takeover is not None
                out.turns.append(
                    Turn(
                        role="agent" if after else "bot",
                        text=text,
                        event="fallback" if fallback_next and not after else None,
                        timestamp=stamp,
                    )
                )
                fallback_next = False
            elif kind == "trace":
                value = activity.get("value")
                top = _top_intent(value)
                if top is not None:
                    name, score = top
                    users = [i for i, t in enumerate(out.turns) if t.role == "user"]
                    if users:
                        last = out.turns[users[-1]]
                        out.turns[users[-1]] = last.model_copy(
                            update={"intent": name[:200], "confidence": score}
                        )
                    fallback_next = name.lower() == _NO_INTENT
                elif isinstance(value, Mapping) and value.get("queryResults") == []:
                    fallback_next = True
            elif kind == "event" and activity.get("name") == HANDOFF_EVENT and out.takeover is None:
                out.takeover = len(out.turns)
        except (ValueError, TypeError, InputError) as exc:
            raise located(f"activities.{index}", exc) from None
    return out


def _conversation_id(activity: Any) -> str:
    if isinstance(activity, Mapping):
        conversation = activity.get("conversation")
        if isinstance(conversation, Mapping) and conversation.get("id"):
            return str(conversation["id"])
    return ""


def _files(source: Source) -> Iterator[tuple[str, Any]]:
    if isinstance(source, str | Path) and Path(source).is_dir():
        paths = sorted(p for p in Path(source).iterdir() if p.suffix == ".transcript")
        for path in paths:
            yield from _files(path)
        return
    name = str(source) if isinstance(source, str | Path) else "transcript"
    try:
        raw = Path(source).read_bytes() if isinstance(source, str | Path) else source.read()
        yield Path(name).name, json.loads(raw)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        yield Path(name).name, InputError(f"not a readable JSON transcript: {exc}")


def read_transcripts(source: Source, *, labelled: bool = True) -> Iterator[ImportRecord]:
    """The conversations of a ``.transcript`` file, a folder of them, or a stream.

    Examples
    --------
    >>> import io, json
    >>> activities = [{"type": "message", "from": {"id": "u1", "role": "user"},
    ...                "conversation": {"id": "conv-1"}, "channelId": "emulator", "text": "hi"}]
    >>> [r] = read_transcripts(io.BytesIO(json.dumps(activities).encode()))
    >>> r.conversation.id, r.conversation.channel, r.conversation.customer_id
    ('conv-1', 'emulator', 'u1')
    """
    for name, content in _files(source):
        if isinstance(content, InputError):
            yield ImportRecord(name, error=content)
            continue
        if not isinstance(content, list):
            yield ImportRecord(
                name, error=InputError(f"a transcript is a JSON array of activities, got "
                                       f"{type(content).__name__}")
            )  # fmt: skip
            continue
        groups: OrderedDict[str, list[Any]] = OrderedDict()
        for activity in content:
            groups.setdefault(_conversation_id(activity) or Path(name).stem, []).append(activity)
        for conversation_id, activities in groups.items():
            position = f"{name}, conversation {conversation_id!r}"
            try:
                mapped = turns_from_activities(activities)
                yield ImportRecord(position, conversation=_conversation(
                    conversation_id, mapped, labelled
                ))  # fmt: skip
            except (ValueError, TypeError, InputError) as exc:
                yield ImportRecord(position, error=input_error(exc))


def _conversation(conversation_id: str, mapped: TranscriptTurns, labelled: bool) -> Conversation:
    return build_conversation(
        conversation_id,
        mapped.turns,
        takeover=mapped.takeover,
        labelled=labelled,
        customer_id=mapped.customer_id,
        channel=mapped.channel,
        metadata={"source": "botframework"},
    )
