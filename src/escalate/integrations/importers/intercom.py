"""Intercom conversations (the REST API's conversation model, with its conversation parts).

A record is one conversation as ``GET /conversations/{id}`` returns it: the opening
message in ``source`` and the rest in ``conversation_parts.conversation_parts``. Records
come as JSON Lines, or as one JSON document (a conversation, an array of them, or an
object with them under ``conversations``).

Parts become turns, by their author's ``type``: ``user``, ``lead`` or ``contact`` → user;
``bot`` (Fin, custom bots) → bot; ``admin`` (a teammate) → agent. Bodies are HTML and
become plain text; ``created_at`` (Unix seconds) is the timestamp. Internal ``note``\\ s
and state changes (``open``, ``close``, ``snoozed``...) carry no turn.

The **takeover** is the first of: an assignment part (``assignment``,
``default_assignment``, ``away_mode_assignment``...) whose ``assigned_to`` is a teammate
or a team, a teammate's comment, or ``ai_agent.resolution_state: routed_to_team``. The
conversation is labelled ``escalate: true`` at the turn before it, else
``escalate: false``. Intercom does not mark bot fallbacks or intents.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from html.parser import HTMLParser
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
from escalate.models import Conversation, Role, Turn

__all__ = ["html_text", "intercom_conversation", "read_intercom"]

_ROLES: dict[str, Role] = {"user": "user", "lead": "user", "contact": "user", "bot": "bot",
                           "admin": "agent"}  # fmt: skip
_BLOCKS = {"p", "br", "div", "li", "ul", "ol", "h1", "h2", "h3", "blockquote", "pre"}


class _Text(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_text(body: str) -> str:
    """The text of an HTML message body, one line per paragraph.

    Examples
    --------
    >>> html_text("<p>Hi, my parcel <b>never</b> came.</p><p>Order 4481&#8209;2231</p>")
    'Hi, my parcel never came.\\nOrder 4481‑2231'
    """
    parser = _Text()
    parser.feed(body)
    parser.close()
    lines = [" ".join(line.split()) for line in "".join(parser.parts).splitlines()]
    return "\n".join(line for line in lines if line)


def _assigned_to_person(part: Mapping[str, Any]) -> bool:
    if "assignment" not in str(part.get("part_type") or ""):
        return False
    target = part.get("assigned_to")
    return isinstance(target, Mapping) and target.get("type") in ("admin", "team")


def intercom_conversation(record: Mapping[str, Any], *, labelled: bool = True) -> Conversation:
    """One Intercom conversation object as a conversation.

    Raises
    ------
    ValueError
        No ``id``, parts that are not a list, or a part that gives an invalid turn (the
        message names the part).

    Examples
    --------
    >>> c = intercom_conversation({"type": "conversation", "id": "1295", "created_at": 1714816800,
    ...     "source": {"body": "<p>Where is my refund?</p>", "author": {"type": "user", "id": "u7"}},
    ...     "conversation_parts": {"conversation_parts": [
    ...         {"part_type": "comment", "body": "<p>Refunds take 5 days.</p>",
    ...          "created_at": 1714816805, "author": {"type": "bot"}},
    ...         {"part_type": "assignment", "created_at": 1714816900, "body": None,
    ...          "assigned_to": {"type": "team", "id": "814"}, "author": {"type": "bot"}},
    ...         {"part_type": "comment", "body": "<p>Hi, Ana here.</p>",
    ...          "created_at": 1714817000, "author": {"type": "admin", "id": "a1"}}]}})
    >>> [t.role for t in c.turns], c.customer_id, c.label.turn
    (['user', 'bot', 'agent'], 'u7', 1)
    """
    conversation_id = record.get("id")
    if conversation_id in (None, ""):
        raise ValueError("id: an Intercom conversation needs an id")
    source = record.get("source")
    source = source if isinstance(source, Mapping) else {}
    container = record.get("conversation_parts")
    parts = container.get("conversation_parts") if isinstance(container, Mapping) else container
    if parts is None:
        parts = []
    if not isinstance(parts, list):
        raise ValueError("conversation_parts: expected a list of conversation parts")
    opening = {"part_type": "comment", "created_at": record.get("created_at"), **source}
    turns: list[Turn] = []
    takeover: int | None = None
    customer: str | None = None
    for index, raw in enumerate([opening, *parts]):
        where = "source" if index == 0 else f"conversation_parts.{index - 1}"
        try:
            part = as_object(raw, "a conversation part")
            author = part.get("author")
            author = author if isinstance(author, Mapping) else {}
            role = _ROLES.get(str(author.get("type")))
            if takeover is None and _assigned_to_person(part):
                takeover = len(turns)
            if part.get("part_type") not in ("comment", "conversation", None) or role is None:
                continue
            body = part.get("body")
            text = clip_text(html_text(body) if isinstance(body, str) else None)
            if text is None:
                continue
            if role == "agent" and takeover is None:
                takeover = len(turns)
            if role == "user" and customer is None and author.get("id"):
                customer = str(author["id"])[:200]
            turns.append(
                Turn(
                    role=role, text=text, timestamp=parse_time(part.get("created_at"), "created_at")
                )
            )
        except (ValueError, TypeError, InputError) as exc:
            raise located(where, exc) from None
    agent = record.get("ai_agent")
    routed = isinstance(agent, Mapping) and agent.get("resolution_state") == "routed_to_team"
    if takeover is None and routed:
        takeover = len(turns)
    contacts = record.get("contacts")
    listed = contacts.get("contacts") if isinstance(contacts, Mapping) else None
    if (
        isinstance(listed, list)
        and listed
        and isinstance(listed[0], Mapping)
        and listed[0].get("id")
    ):
        customer = str(listed[0]["id"])[:200]
    channel = source.get("type")
    return build_conversation(
        str(conversation_id),
        turns,
        takeover=takeover,
        labelled=labelled,
        customer_id=customer,
        channel=str(channel)[:50] if channel and channel != "conversation" else None,
        metadata={"source": "intercom"},
    )


def read_intercom(source: Source, *, labelled: bool = True) -> Iterator[ImportRecord]:
    """Stream the conversations of an Intercom export (see the module's notes).

    Examples
    --------
    >>> import io, json
    >>> export = io.BytesIO(json.dumps({"id": "7", "source": {
    ...     "body": "<p>hello</p>", "author": {"type": "lead", "id": "l1"}}}).encode())
    >>> [(r.conversation.id, r.conversation.label.escalate) for r in read_intercom(export)]
    [('7', False)]
    """
    for position, item in iter_json_items(source, list_keys=("conversations",)):
        try:
            record = as_object(item, "an Intercom conversation")
            yield ImportRecord(
                position, conversation=intercom_conversation(record, labelled=labelled)
            )
        except (ValueError, TypeError, InputError) as exc:
            yield ImportRecord(position, error=input_error(exc))
