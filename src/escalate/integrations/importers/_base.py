"""What every importer shares: records with their position, JSON input, labels from takeovers."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from pydantic import ValidationError

from escalate.errors import InputError
from escalate.models import MAX_TEXT_CHARS, Conversation, Turn
from escalate.replay.readers import validation_message

__all__ = [
    "ImportRecord",
    "Source",
    "build_conversation",
    "iter_json_items",
    "parse_time",
]

#: Where an importer reads from: a path, or an open binary stream.
Source = str | Path | IO[bytes]


@dataclass(frozen=True, slots=True)
class ImportRecord:
    """One imported conversation, or why a record of the source could not be imported.

    ``position`` says where in the source the record is (``"line 12"``, ``"item 3"``,
    ``"chat.transcript, activity 4"``); exactly one of ``conversation`` and ``error``
    is set.

    Examples
    --------
    >>> record = ImportRecord("line 2", error=InputError("not valid JSON"))
    >>> record.ok, str(record)
    (False, 'line 2: not valid JSON')
    """

    position: str
    conversation: Conversation | None = None
    error: InputError | None = None

    @property
    def ok(self) -> bool:
        """True when the record became a conversation."""
        return self.conversation is not None

    def __str__(self) -> str:
        if self.error is not None:
            return f"{self.position}: {self.error}"
        assert self.conversation is not None
        return f"{self.position}: conversation {self.conversation.id!r}"


def parse_time(value: Any, field: str = "timestamp") -> datetime | None:
    """A timestamp from a Unix time (seconds) or an ISO 8601 string; naive means UTC.

    A value that is neither raises a ``ValueError`` whose message starts with ``field``.

    Examples
    --------
    >>> parse_time(1714816800.5).isoformat()
    '2024-05-04T10:00:00.500000+00:00'
    >>> parse_time("2024-05-04T10:00:00Z").isoformat()
    '2024-05-04T10:00:00+00:00'
    >>> parse_time(None) is None
    True
    """
    if value is None or value == "":
        return None
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), UTC)
        if isinstance(value, str):
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except (ValueError, OverflowError, OSError):
        pass
    raise ValueError(
        f"{field}: must be Unix seconds or an ISO 8601 date and time, got {value!r}"[:300]
    )


def clip_text(text: str | None) -> str | None:
    """The text, or ``None`` when blank. Longer than a turn allows is an error, not cut."""
    if text is None or not text.strip():
        return None
    if len(text) > MAX_TEXT_CHARS:
        raise ValueError(f"a message is {len(text):,} characters, at most {MAX_TEXT_CHARS:,}")
    return text


def build_conversation(
    conversation_id: str,
    turns: Sequence[Turn],
    *,
    takeover: int | None,
    labelled: bool = True,
    customer_id: str | None = None,
    channel: str | None = None,
    metadata: Mapping[str, Any] | None = None,
) -> Conversation:
    """A conversation with its label from a takeover.

    ``takeover`` is the index in ``turns`` of the first turn after a person took over (or
    ``len(turns)`` when the takeover came last; ``None`` when no person ever did). The
    label is then ``escalate: true`` at the last turn before the takeover; with no
    takeover, ``escalate: false``; with ``labelled=False``, no label.

    Raises
    ------
    ValueError
        No turn, or a field out of range; the message names the field.

    Examples
    --------
    >>> turns = [Turn(role="user", text="hi"), Turn(role="bot", event="fallback"),
    ...          Turn(role="agent", text="Sam here, how can I help?")]
    >>> build_conversation("c1", turns, takeover=2).label
    Label(escalate=True, turn=1)
    >>> build_conversation("c2", turns[:2], takeover=None).label
    Label(escalate=False, turn=None)
    """
    if not turns:
        raise ValueError("turns: no message to import")
    label: dict[str, Any] | None = None
    if labelled:
        if takeover is None:
            label = {"escalate": False}
        else:
            label = {"escalate": True, "turn": takeover - 1 if takeover > 0 else None}
    data: dict[str, Any] = {
        "id": conversation_id,
        "turns": list(turns),
        "label": label,
        "metadata": dict(metadata or {}),
    }
    if customer_id:
        data["customer_id"] = customer_id
    if channel:
        data["channel"] = channel
    try:
        return Conversation.model_validate(data)
    except ValidationError as exc:
        field, message = validation_message(exc)
        raise ValueError(f"{field}: {message}") from None


def input_error(exc: Exception) -> InputError:
    """An importer's failure as an :class:`InputError` that names the field when it can."""
    if isinstance(exc, InputError):
        return exc
    if isinstance(exc, ValidationError):
        field, message = validation_message(exc)
        return InputError(message, field=field or None)
    text = str(exc) or type(exc).__name__
    field, sep, rest = text.partition(": ")
    if sep and field and " " not in field:
        return InputError(rest, field=field)
    return InputError(text)


def located(where: str, exc: Exception) -> ValueError:
    """``exc`` as a ``ValueError`` whose message starts with the field under ``where``.

    Examples
    --------
    >>> str(located("events.3", ValueError("timestamp: not a time")))
    'events.3.timestamp: not a time'
    """
    error = input_error(exc)
    field = f"{where}.{error.field}" if error.field else where
    return ValueError(f"{field}: {error.detail}")


def _open(source: Source) -> tuple[IO[bytes], bool]:
    if isinstance(source, str | Path):
        return open(source, "rb"), True
    return source, False


def iter_json_items(
    source: Source, *, list_keys: Sequence[str] = (), split_lines: bool = False
) -> Iterator[tuple[str, Any]]:
    """``(position, parsed JSON or the InputError)`` for each record of a JSON source.

    JSON Lines are streamed one record a line (blank lines skipped; with ``split_lines`` a
    line holding an array gives its items). A file that is one JSON document instead
    (pretty-printed) is read whole: an array gives its items, an object holding an array
    under one of ``list_keys`` gives that array's items, any other object is one record.

    Examples
    --------
    >>> import io
    >>> list(iter_json_items(io.BytesIO(b'{"a": 1}\\n\\n{"a": 2}\\n')))
    [('line 1', {'a': 1}), ('line 3', {'a': 2})]
    >>> list(iter_json_items(io.BytesIO(b'[{"a": 1},\\n {"a": 2}]')))
    [('item 1', {'a': 1}), ('item 2', {'a': 2})]
    """
    stream, owned = _open(source)
    try:
        lines = enumerate(stream, start=1)
        for number, first in lines:  # noqa: B007 (the line number is used below)
            if first.strip():
                break
        else:
            return
        try:
            json.loads(first)
        except (json.JSONDecodeError, UnicodeDecodeError):
            yield from _document(first + stream.read(), list_keys)
            return
        yield from _line(first, number, split_lines)
        for number, raw in lines:
            if raw.strip():
                yield from _line(raw, number, split_lines)
    finally:
        if owned:
            stream.close()


def _line(raw: bytes, number: int, split: bool) -> Iterator[tuple[str, Any]]:
    where = f"line {number}"
    try:
        value = json.loads(raw)
    except UnicodeDecodeError as exc:
        yield where, InputError(f"not valid UTF-8 (at byte offset {exc.start})")
        return
    except json.JSONDecodeError as exc:
        yield where, InputError(f"not valid JSON: {exc.msg} at column {exc.colno}")
        return
    if split and isinstance(value, list):
        for item, element in enumerate(value, start=1):
            yield f"{where}, item {item}", element
    else:
        yield where, value


def _document(raw: bytes, list_keys: Sequence[str]) -> Iterator[tuple[str, Any]]:
    try:
        data = json.loads(raw)
    except UnicodeDecodeError as exc:
        yield "document", InputError(f"not valid UTF-8 (at byte offset {exc.start})")
        return
    except json.JSONDecodeError as exc:
        yield (
            "document",
            InputError(f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"),
        )
        return
    if isinstance(data, dict):
        for key in list_keys:
            if isinstance(data.get(key), list):
                data = data[key]
                break
        else:
            yield "document", data
            return
    if not isinstance(data, list):
        yield "document", InputError(f"expected a JSON object or array, got {type(data).__name__}")
        return
    for number, item in enumerate(data, start=1):
        yield f"item {number}", item


def as_object(item: Any, what: str) -> Mapping[str, Any]:
    """``item`` when it is a JSON object, else a ``ValueError`` naming ``what``."""
    if isinstance(item, InputError):
        raise item
    if not isinstance(item, Mapping):
        raise ValueError(f"expected {what} (a JSON object), got {type(item).__name__}")
    return item
