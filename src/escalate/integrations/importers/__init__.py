"""Importers: other frameworks' and helpdesks' logs as escalate conversations.

Each reader streams :class:`ImportRecord`\\ s (a conversation, or an error naming its
position and field) from a file, a folder or a binary stream; :func:`write_jsonl` writes
the conversations as the JSON Lines that ``escalate replay`` reads. Agent takeovers
become labels (``escalate: true`` at the turn before a person took over).

| format | reader | source |
|---|---|---|
| ``rasa`` | :func:`~escalate.integrations.importers.rasa.read_rasa` | Rasa tracker-store dumps: trackers, or event rows |
| ``botframework`` | :func:`~escalate.integrations.importers.botframework.read_transcripts` | Bot Framework ``.transcript`` files |
| ``langchain`` | :func:`~escalate.integrations.importers.langchain.read_messages` | LangChain / LangGraph message lists (the ``langgraph`` extra) |
| ``intercom`` | :func:`~escalate.integrations.importers.intercom.read_intercom` | Intercom conversations with their parts |

Examples
--------
>>> import io, json
>>> from escalate.integrations.importers import read, write_jsonl
>>> dump = io.BytesIO(json.dumps({"sender_id": "u1", "events": [
...     {"event": "user", "text": "get me a person"}, {"event": "pause"}]}).encode())
>>> out = io.StringIO()
>>> write_jsonl(read("rasa", dump), out)
(1, [])
>>> json.loads(out.getvalue())["label"]
{'escalate': True, 'turn': 0}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Literal, TextIO

from escalate.errors import InputError
from escalate.integrations.importers._base import ImportRecord, Source, build_conversation
from escalate.integrations.importers.botframework import read_transcripts
from escalate.integrations.importers.intercom import read_intercom
from escalate.integrations.importers.rasa import read_rasa

__all__ = [
    "FORMATS",
    "ImportFormat",
    "ImportRecord",
    "build_conversation",
    "read",
    "write_jsonl",
]

ImportFormat = Literal["rasa", "botframework", "langchain", "intercom"]


def _read_langchain(source: Source, *, labelled: bool = True) -> Iterator[ImportRecord]:
    from escalate.integrations.importers.langchain import read_messages

    return read_messages(source, labelled=labelled)


#: Each format's reader.
FORMATS: dict[str, Callable[..., Iterator[ImportRecord]]] = {
    "rasa": read_rasa,
    "botframework": read_transcripts,
    "langchain": _read_langchain,
    "intercom": read_intercom,
}


def read(fmt: str, source: Source, *, labelled: bool = True) -> Iterator[ImportRecord]:
    """Stream the records of ``source`` in the format ``fmt`` (one of :data:`FORMATS`).

    ``labelled=False`` leaves the label out (a source whose takeovers are not recorded).

    Raises
    ------
    InputError
        An unknown format (``field`` is ``format``).
    """
    reader = FORMATS.get(fmt)
    if reader is None:
        raise InputError(f"unknown format {fmt!r}; one of: {', '.join(FORMATS)}", field="format")
    return reader(source, labelled=labelled)


def write_jsonl(records: Iterable[ImportRecord], out: TextIO) -> tuple[int, list[ImportRecord]]:
    """Write each record's conversation as one JSON line; returns how many were written
    and the records that could not be imported (in order, each with its position)."""
    written = 0
    rejected: list[ImportRecord] = []
    for record in records:
        if record.conversation is None:
            rejected.append(record)
            continue
        out.write(record.conversation.model_dump_json(exclude_defaults=True) + "\n")
        written += 1
    return written, rejected
