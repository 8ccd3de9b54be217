"""Reading stored conversations.

The interchange format is JSON Lines: one conversation per line (see the README). A
reader streams the input, so an archive of any size never sits in memory, and reports
each bad record with its line number and the offending field, then carries on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from pydantic import ValidationError

from escalate.errors import InputError
from escalate.models import Conversation

__all__ = ["Record", "iter_jsonl", "read_jsonl", "validation_message"]

#: A line longer than this is rejected without being parsed.
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One line of input: a conversation, or the error that stopped it."""

    line: int
    conversation: Conversation | None = None
    error: InputError | None = None


def validation_message(exc: ValidationError) -> tuple[str, str]:
    """``(field, message)`` for a pydantic error, naming the first bad field and what it got."""
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = ".".join(str(p) for p in first["loc"])
    message = first["msg"]
    if first["type"] in ("string_too_long", "too_long"):
        got = first.get("input")
        size = len(got) if isinstance(got, str | list) else None
        if size is not None:
            message = f"{message}; got {size:,}"
    elif first["type"] == "literal_error":
        message = f"{message}; got {first.get('input')!r}"
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more problem{'s' if len(errors) > 2 else ''})"
    return field, message


def _parse_line(raw: bytes, line: int) -> Record:
    if len(raw) > MAX_LINE_BYTES:
        return Record(
            line,
            error=InputError(
                f"line is {len(raw):,} bytes, at most {MAX_LINE_BYTES:,} allowed", line=line
            ),
        )
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return Record(
            line, error=InputError(f"not valid UTF-8 (at byte offset {exc.start})", line=line)
        )
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return Record(
            line, error=InputError(f"not valid JSON: {exc.msg} at column {exc.colno}", line=line)
        )
    if not isinstance(data, dict):
        return Record(
            line, error=InputError(f"expected a JSON object, got {type(data).__name__}", line=line)
        )
    try:
        return Record(line, conversation=Conversation.model_validate(data))
    except ValidationError as exc:
        field, message = validation_message(exc)
        conversation_id = data.get("id")
        if isinstance(conversation_id, str):
            message = f"{message} (conversation {conversation_id!r})"
        return Record(line, error=InputError(message, line=line, field=field or None))


def iter_jsonl(stream: IO[bytes]) -> Iterator[Record]:
    """Stream conversations from a binary JSON Lines stream; blank lines are skipped."""
    for number, raw in enumerate(stream, start=1):
        stripped = raw.strip()
        if stripped:
            yield _parse_line(stripped, number)


def read_jsonl(path: str | Path) -> Iterator[Record]:
    """Stream conversations from a JSON Lines file."""
    with open(path, "rb") as stream:
        yield from iter_jsonl(stream)
