"""LangChain / LangGraph message lists as conversations (needs the ``langgraph`` extra).

A record is one conversation: a JSON array of messages, or an object with the messages
under ``messages`` (or ``values.messages``, a LangGraph state snapshot) and optionally
``id`` (or ``thread_id``) and ``customer_id``. Records come as JSON Lines, or as one JSON
document (an array of records, or an object with them under ``conversations``). Each
message may be in any form LangChain reads: ``{"role": "user", "content": ...}``,
``{"type": "human", "content": ...}``, ``messages_to_dict``'s ``{"type", "data"}``, or
``dumpd``'s serialised constructor; ``langchain_core`` parses them.

Messages become turns: human → user, AI → bot (its text; a tool-call-only message has
none and is left out), and AI messages named as a human agent (``name: human_agent``, as
the LangGraph adapter writes them; see ``agent_names``) → agent. System and tool messages
are not part of the conversation. The **takeover** is the first agent message, or an AI
message calling a handoff tool (``transfer_to_human``, ``handoff_to_human``,
``escalate_to_human``; see ``handoff_tools``): the label is ``escalate: true`` at the turn
before it, else ``escalate: false``. A ``timestamp`` or ``created_at`` in a message's
``additional_kwargs`` or ``response_metadata`` is kept.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from escalate.errors import InputError, MissingExtraError
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
from escalate.models import Role, Turn

if TYPE_CHECKING:
    from langchain_core.messages import BaseMessage

__all__ = [
    "HANDOFF_TOOLS",
    "HUMAN_AGENT",
    "MessageTurns",
    "read_messages",
    "to_messages",
    "turns_from_messages",
]

#: The name the LangGraph adapter gives the messages of the human agent.
HUMAN_AGENT = "human_agent"
HANDOFF_TOOLS = frozenset({"transfer_to_human", "handoff_to_human", "escalate_to_human"})


def _langchain() -> Any:
    try:
        import langchain_core.messages as messages
    except ImportError:
        raise MissingExtraError("LangChain messages", "langgraph") from None
    return messages


@dataclass
class MessageTurns:
    """The turns of a message list, where a person took over, and how many messages
    were read (so a caller can continue from there).

    Examples
    --------
    >>> t = turns_from_messages(to_messages([{"role": "user", "content": "hi"}]))
    >>> [x.role for x in t.turns], t.takeover, t.messages
    (['user'], None, 1)
    """

    turns: list[Turn] = field(default_factory=list)
    takeover: int | None = None
    messages: int = 0
    #: For each turn, the index of the message it came from.
    sources: list[int] = field(default_factory=list)


def to_messages(items: Iterable[Any]) -> list[BaseMessage]:
    """LangChain messages from messages or any of their JSON forms (see the module).

    Raises
    ------
    ValueError
        An item LangChain cannot read as a message; the message names its index.

    Examples
    --------
    >>> [type(m).__name__ for m in to_messages([{"role": "user", "content": "hi"},
    ...                                          {"type": "ai", "data": {"content": "hello"}}])]
    ['HumanMessage', 'AIMessage']
    """
    lc = _langchain()
    out: list[BaseMessage] = []
    for index, item in enumerate(items):
        try:
            if isinstance(item, lc.BaseMessage):
                out.append(item)
            elif isinstance(item, Mapping) and item.get("lc") == 1:
                out.append(_load(item))
            elif isinstance(item, Mapping) and "data" in item and "type" in item:
                out.extend(lc.messages_from_dict([item]))
            else:
                out.extend(lc.convert_to_messages([item]))
        except Exception as exc:  # LangChain raises ValueError, KeyError, NotImplementedError...
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ValueError(
                f"messages.{index}: not a message LangChain can read: {reason}"
            ) from None
    return out


def _load(item: Mapping[str, Any]) -> BaseMessage:
    from langchain_core.load import load

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            message = load(dict(item), allowed_objects="messages")
        except TypeError:  # langchain-core before allowed_objects
            message = load(dict(item))
    if not isinstance(message, _langchain().BaseMessage):
        raise ValueError(f"a serialised {type(message).__name__}, not a message")
    loaded: BaseMessage = message
    return loaded


def _text(content: Any) -> str | None:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [
            block if isinstance(block, str) else block.get("text", "")
            for block in content
            if isinstance(block, str)
            or (isinstance(block, Mapping) and block.get("type") == "text")
        ]
        return "\n".join(p for p in parts if p) or None
    return None


def _stamp(message: BaseMessage) -> Any:
    for where in (message.additional_kwargs, message.response_metadata):
        for key in ("timestamp", "created_at"):
            if isinstance(where, Mapping) and where.get(key) not in (None, ""):
                return parse_time(where[key])
    return None


def turns_from_messages(
    messages: Sequence[BaseMessage],
    *,
    agent_names: Iterable[str] = (HUMAN_AGENT,),
    handoff_tools: Iterable[str] = HANDOFF_TOOLS,
) -> MessageTurns:
    """Map LangChain messages to turns (see the module for the rules).

    Raises
    ------
    ValueError
        A message gives an invalid turn (too long, a bad timestamp); the message names
        its index.

    Examples
    --------
    >>> from langchain_core.messages import AIMessage, HumanMessage
    >>> t = turns_from_messages([
    ...     HumanMessage("My order never came"),
    ...     AIMessage("", tool_calls=[{"name": "transfer_to_human", "args": {}, "id": "1"}]),
    ...     AIMessage("Hi, Sam here. Let me check.", name="human_agent")])
    >>> [x.role for x in t.turns], t.takeover
    (['user', 'agent'], 1)
    """
    lc = _langchain()
    agents = set(agent_names)
    tools = set(handoff_tools)
    out = MessageTurns()
    for index, message in enumerate(messages):
        out.messages += 1
        try:
            role: Role
            if isinstance(message, lc.HumanMessage):
                role = "user"
            elif isinstance(message, lc.AIMessage):
                role = "agent" if message.name in agents else "bot"
                calls = {call.get("name") for call in message.tool_calls}
                if out.takeover is None and (role == "agent" or calls & tools):
                    out.takeover = len(out.turns)
            else:
                continue  # system prompts and tool results are not the conversation
            text = clip_text(_text(message.content))
            if text is None:
                continue
            out.turns.append(Turn(role=role, text=text, timestamp=_stamp(message)))
            out.sources.append(index)
        except (ValueError, TypeError, InputError) as exc:
            raise located(f"messages.{index}", exc) from None
    return out


def read_messages(
    source: Source,
    *,
    labelled: bool = True,
    agent_names: Iterable[str] = (HUMAN_AGENT,),
    handoff_tools: Iterable[str] = HANDOFF_TOOLS,
) -> Iterator[ImportRecord]:
    """Stream the conversations of a file of message lists (see the module's notes).

    Records without an id are named after their position (``line-3``, ``item-2``).

    Examples
    --------
    >>> import io, json
    >>> lines = io.BytesIO(json.dumps({"id": "t1", "messages": [
    ...     {"role": "user", "content": "I need a person"},
    ...     {"role": "assistant", "content": "Connecting you.", "name": "human_agent"}]}).encode())
    >>> [(r.conversation.id, r.conversation.label.turn) for r in read_messages(lines)]
    [('t1', 0)]
    """
    agents, tools = tuple(agent_names), tuple(handoff_tools)
    for position, item in iter_json_items(source, list_keys=("conversations",)):
        try:
            if isinstance(item, InputError):
                raise item
            record: Mapping[str, Any] = {"messages": item} if isinstance(item, list) else (
                as_object(item, "a message list")
            )  # fmt: skip
            messages = record.get("messages")
            values = record.get("values")
            if messages is None and isinstance(values, Mapping):
                messages = values.get("messages")
            if not isinstance(messages, list):
                raise ValueError("messages: a record needs a list of messages")
            mapped = turns_from_messages(
                to_messages(messages), agent_names=agents, handoff_tools=tools
            )
            conversation_id = record.get("id") or record.get("thread_id")
            customer = record.get("customer_id")
            yield ImportRecord(
                position,
                conversation=build_conversation(
                    str(conversation_id) if conversation_id else position.replace(" ", "-"),
                    mapped.turns,
                    takeover=mapped.takeover,
                    labelled=labelled,
                    customer_id=str(customer) if customer else None,
                    metadata={"source": "langchain"},
                ),
            )
        except (ValueError, TypeError, InputError) as exc:
            yield ImportRecord(position, error=input_error(exc))
