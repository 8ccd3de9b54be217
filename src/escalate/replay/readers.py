"""Reading stored conversations.

The interchange format is JSON Lines: one conversation per line (see the README). CSV
with one turn per row is read too, and either may be gzip-compressed. A reader streams
the input, so an archive of any size never sits in memory, and reports each bad record
with its line number and the offending field, then carries on.

:func:`open_conversations` is the one entry point: it recognises gzip by the ``.gz``
extension or by its magic bytes, and the format by the extension (``.jsonl``,
``.ndjson``, ``.json``; ``.csv``, ``.tsv``) or, failing that, by the first non-blank
byte (``{`` is JSON Lines, anything else CSV).

CSV: one turn per row
---------------------
Column names are configurable (:class:`CsvOptions`); the defaults are
``conversation_id``, ``role``, ``text``, ``timestamp``, ``intent``, ``event``,
``customer_id``, ``channel``, ``domain``, ``label`` and ``label_turn``. The rows of one
conversation must be contiguous and in turn order. A conversation whose rows reappear
after another conversation has started is rejected as a whole, with the line of the
stray row, and its first block is kept (the reader remembers the ids it has seen, a few
bytes each). Empty cells are absent values. ``customer_id``, ``channel``, ``domain``,
``label`` (``true``/``false``, ``1``/``0``, ``yes``/``no``) and ``label_turn`` (a
0-based index into the conversation's turns) are read from the first row of a
conversation that has them.
The :class:`Record` of a CSV conversation carries the line of its first row.
"""

from __future__ import annotations

import codecs
import contextlib
import csv
import gzip
import io
import json
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal, cast

from pydantic import ValidationError

from escalate.errors import InputError
from escalate.models import Conversation

__all__ = [
    "CsvOptions",
    "Format",
    "Inputs",
    "Record",
    "expand_inputs",
    "iter_csv",
    "iter_jsonl",
    "open_conversations",
    "read_jsonl",
    "sniff_binary",
    "validation_message",
]

Format = Literal["jsonl", "csv"]
_GZIP_MAGIC = b"\x1f\x8b"
_JSONL_SUFFIXES = {".jsonl", ".ndjson", ".json"}
_CSV_SUFFIXES = {".csv", ".tsv"}
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}

#: What an undecodable byte becomes when CSV text is decoded with ``surrogateescape``.
_SURROGATE = re.compile("[\udc80-\udcff]")

#: A line longer than this is rejected without being parsed.
MAX_LINE_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Record:
    """One record of input: a conversation, or the error that stopped it.

    ``line`` is the 1-based line of the record (for CSV, of the conversation's first
    row); exactly one of ``conversation`` and ``error`` is set.

    Examples
    --------
    >>> import io
    >>> [r] = iter_jsonl(io.BytesIO(b'{"id": "c1", "turns": [{"role": "user", "text": "hi"}]}'))
    >>> r.line, r.conversation.id, r.error
    (1, 'c1', None)
    """

    line: int
    conversation: Conversation | None = None
    error: InputError | None = None
    source: str | None = None


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
        return Record(line, error=_too_long(len(raw), line))
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
    except ValueError as exc:  # a number of more than 4,300 digits
        return Record(line, error=InputError(f"not valid JSON: {exc}", line=line))
    except RecursionError:
        return Record(
            line, error=InputError("not valid JSON: arrays or objects nested too deeply", line=line)
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


def _bounded_lines(stream: IO[bytes], limit: int) -> Iterator[tuple[bytes, int]]:
    """``(line, size)`` for each line of ``stream``, in constant memory: a line longer than
    ``limit`` bytes is read past in pieces and comes as ``(b"", size)``."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line, len(line)
            continue
        size = len(line)
        while line and not line.endswith(b"\n"):
            line = stream.readline(limit + 1)
            size += len(line)
        yield b"", size


class _LineTooLong(InputError):
    """A line longer than :data:`MAX_LINE_BYTES`."""


def _too_long(size: int, line: int) -> InputError:
    return _LineTooLong(f"line is {size:,} bytes, at most {MAX_LINE_BYTES:,} allowed", line=line)


def iter_jsonl(stream: IO[bytes]) -> Iterator[Record]:
    """Stream conversations from a binary JSON Lines stream; blank lines are skipped.

    A line longer than :data:`MAX_LINE_BYTES` is reported without being held in memory.
    """
    for number, (raw, size) in enumerate(_bounded_lines(stream, MAX_LINE_BYTES), start=1):
        if size > MAX_LINE_BYTES:
            yield Record(number, error=_too_long(size, number))
            continue
        stripped = raw.strip()
        if stripped:
            yield _parse_line(stripped, number)


def read_jsonl(path: str | Path) -> Iterator[Record]:
    """Stream conversations from a JSON Lines file."""
    with open(path, "rb") as stream:
        yield from iter_jsonl(stream)


# ---------------------------------------------------------------------------------------
# CSV, one turn per row
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CsvOptions:
    """Column names and dialect of a CSV file with one turn per row.

    Set a column to ``None`` when the file has no such column. ``delimiter=None``
    picks ``\\t`` for ``.tsv`` files and ``,`` otherwise.

    Examples
    --------
    >>> import io
    >>> data = b"chat,who,msg\\nc1,user,hello\\nc1,bot,hi there\\n"
    >>> options = CsvOptions(conversation_id="chat", role="who", text="msg")
    >>> [r.conversation.id for r in iter_csv(io.BytesIO(data), options)]
    ['c1']
    """

    conversation_id: str = "conversation_id"
    role: str = "role"
    text: str | None = "text"
    timestamp: str | None = "timestamp"
    intent: str | None = "intent"
    event: str | None = "event"
    customer_id: str | None = "customer_id"
    label: str | None = "label"
    label_turn: str | None = "label_turn"
    channel: str | None = "channel"
    domain: str | None = "domain"
    delimiter: str | None = None

    @classmethod
    def from_kwargs(cls, **options: Any) -> CsvOptions:
        """Options from keyword arguments, accepting ``<name>_column`` spellings too."""
        known = set(cls.__dataclass_fields__)
        clean: dict[str, Any] = {}
        for key, value in options.items():
            name = key.removesuffix("_column") if key not in known else key
            if name not in known:
                raise TypeError(
                    f"unknown CSV option {key!r}; expected one of {', '.join(sorted(known))}"
                )
            clean[name] = value
        return cls(**clean)


def _cell(row: dict[str, str | None], column: str | None) -> str | None:
    if column is None:
        return None
    value = row.get(column)
    if value is None:
        return None
    value = value.strip()
    return value or None


class _CsvConversation:
    __slots__ = (
        "channel",
        "customer_id",
        "domain",
        "id",
        "label",
        "label_turn",
        "line",
        "problem",
        "turns",
    )

    def __init__(self, conversation_id: str, line: int) -> None:
        self.id = conversation_id
        self.line = line
        self.turns: list[dict[str, Any]] = []
        self.customer_id: str | None = None
        self.channel: str | None = None
        self.domain: str | None = None
        self.label: str | None = None
        self.label_turn: str | None = None
        self.problem: InputError | None = None

    def add(self, row: dict[str, str | None], options: CsvOptions, line: int) -> None:
        turn: dict[str, Any] = {"role": _cell(row, options.role)}
        for key in ("text", "timestamp", "intent", "event"):
            value = _cell(row, getattr(options, key))
            if value is not None:
                turn[key] = value
        self.turns.append(turn)
        if self.customer_id is None:
            self.customer_id = _cell(row, options.customer_id)
        if self.channel is None:
            self.channel = _cell(row, options.channel)
        if self.domain is None:
            self.domain = _cell(row, options.domain)
        if self.label is None:
            self.label = _cell(row, options.label)
        if self.label_turn is None:
            self.label_turn = _cell(row, options.label_turn)

    def record(self) -> Record:
        if self.problem is not None:
            return Record(self.line, error=self.problem)
        data: dict[str, Any] = {"id": self.id, "turns": self.turns}
        if self.customer_id is not None:
            data["customer_id"] = self.customer_id
        if self.channel is not None:
            data["channel"] = self.channel
        if self.domain is not None:
            data["domain"] = self.domain
        if self.label is not None or self.label_turn is not None:
            label: dict[str, Any] = {}
            if self.label is not None:
                flag = self.label.lower()
                if flag in _TRUE:
                    label["escalate"] = True
                elif flag in _FALSE:
                    label["escalate"] = False
                else:
                    return Record(
                        self.line,
                        error=InputError(
                            f"expected true/false, 1/0 or yes/no; got {self.label!r} "
                            f"(conversation {self.id!r})",
                            line=self.line,
                            field="label",
                        ),
                    )
            else:
                label["escalate"] = True
            if self.label_turn is not None:
                try:
                    label["turn"] = int(self.label_turn)
                except ValueError:
                    return Record(
                        self.line,
                        error=InputError(
                            f"expected a whole number; got {self.label_turn!r} "
                            f"(conversation {self.id!r})",
                            line=self.line,
                            field="label.turn",
                        ),
                    )
            data["label"] = label
        try:
            return Record(self.line, conversation=Conversation.model_validate(data))
        except ValidationError as exc:
            field, message = validation_message(exc)
            return Record(
                self.line,
                error=InputError(
                    f"{message} (conversation {self.id!r})", line=self.line, field=field or None
                ),
            )


class _Skip(_CsvConversation):
    """The stray block of a non-contiguous conversation: consumed and dropped."""


#: A carriage return that ends a line by itself (not followed by a line feed).
_LONE_CR = re.compile(r"(?<=\r)(?!\n)")


def _text_lines(stream: IO[bytes]) -> Iterator[str]:
    """Decode a byte stream into lines ending in ``\\n``, ``\\r\\n`` or a lone ``\\r`` (as
    ``open(..., newline="")`` would, which is what the csv module expects); an
    undecodable byte becomes a lone surrogate (U+DC80 to U+DCFF), which
    :func:`_undecodable` finds so that its row is reported.

    Raises
    ------
    InputError
        A line is longer than :data:`MAX_LINE_BYTES` (reading stops there).
    """
    decoder = codecs.getincrementaldecoder("utf-8-sig")(errors="surrogateescape")
    for number, (raw, size) in enumerate(_bounded_lines(stream, MAX_LINE_BYTES), start=1):
        if size > MAX_LINE_BYTES:
            raise _too_long(size, number)
        text = decoder.decode(raw)
        if "\r" in text:
            yield from (piece for piece in _LONE_CR.split(text) if piece)
        else:
            yield text
    tail = decoder.decode(b"", final=True)
    if tail:
        yield tail


def _undecodable(row: dict[str, str | None], line: int) -> InputError | None:
    """The error of the first cell holding bytes that were not UTF-8, if any."""
    for column, value in row.items():
        values = value if isinstance(value, list) else [value]  # extra cells: a list
        for cell in values:
            found = _SURROGATE.search(cell) if isinstance(cell, str) else None
            if found is not None:
                byte = ord(found.group()) - 0xDC00
                return InputError(
                    f"not valid UTF-8 (byte 0x{byte:02x} at character {found.start()})",
                    line=line,
                    field=column if isinstance(column, str) else None,
                )
    return None


def iter_csv(
    stream: IO[bytes], options: CsvOptions | None = None, *, delimiter: str = ","
) -> Iterator[Record]:
    """Stream conversations from a binary CSV stream with one turn per row.

    Memory holds one conversation at a time (plus the ids seen, to detect rows of one
    conversation that are not contiguous). A row that cannot belong to a conversation
    (no conversation id) is reported on its own line; a bad turn rejects its whole
    conversation, reported at the conversation's first line with the turn's index.

    Raises
    ------
    InputError
        The header lacks the conversation-id or role column.
    """
    options = options or CsvOptions()
    reader = csv.DictReader(_text_lines(stream), delimiter=options.delimiter or delimiter)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise InputError(f"not a valid CSV header: {exc}", line=1) from None
    if header is None or not any(name.strip() for name in header):
        return  # an empty (or blank) input
    missing = [c for c in (options.conversation_id, options.role) if c not in header]
    if missing:
        raise InputError(
            f"the CSV header lacks the column(s) {', '.join(repr(c) for c in missing)}; "
            f"found {', '.join(repr(c) for c in header)}",
            line=1,
        )
    seen: set[str] = set()
    current: _CsvConversation | None = None
    last = reader.line_num
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except _LineTooLong as exc:  # reading stops here; what came before is kept
            if current is not None and not isinstance(current, _Skip):
                yield current.record()
            yield Record(exc.line or last + 1, error=exc)
            return
        except csv.Error as exc:
            line, last = last + 1, reader.line_num
            yield Record(line, error=InputError(f"not valid CSV: {exc}", line=line))
            continue
        line, last = last + 1, reader.line_num
        if not any((v or "").strip() for v in row.values() if isinstance(v, str)):
            continue
        conversation_id = _cell(row, options.conversation_id)
        if conversation_id is None:
            yield Record(
                line,
                error=InputError(
                    "the conversation id is empty", line=line, field=options.conversation_id
                ),
            )
            continue
        undecodable = _undecodable(row, line)
        if undecodable is not None and _SURROGATE.search(conversation_id):
            # No conversation to charge it to: the one before ends here, in file order.
            if current is not None and not isinstance(current, _Skip):
                yield current.record()
            current = None
            yield Record(line, error=undecodable)
            continue
        if current is None or conversation_id != current.id:
            if current is not None and not isinstance(current, _Skip):
                yield current.record()
            if conversation_id in seen:
                yield Record(
                    line,
                    error=InputError(
                        f"rows of conversation {conversation_id!r} are not contiguous: it "
                        "already appeared earlier in the file; these rows are skipped",
                        line=line,
                        field=options.conversation_id,
                    ),
                )
                current = _Skip(conversation_id, line)
                continue
            seen.add(conversation_id)
            current = _CsvConversation(conversation_id, line)
        if isinstance(current, _Skip):
            continue
        current.add(row, options, line)
        if undecodable is not None and current.problem is None:
            current.problem = undecodable  # the whole conversation is rejected
    if current is not None and not isinstance(current, _Skip):
        yield current.record()


# ---------------------------------------------------------------------------------------
# One entry point
# ---------------------------------------------------------------------------------------


def _strip_gz(path: Path) -> tuple[Path, bool]:
    if path.suffix.lower() == ".gz":
        return path.with_suffix(""), True
    return path, False


def _guess_format(name: Path, head: bytes) -> Format:
    suffix = name.suffix.lower()
    if suffix in _JSONL_SUFFIXES:
        return "jsonl"
    if suffix in _CSV_SUFFIXES:
        return "csv"
    first = head.lstrip(b"\xef\xbb\xbf \t\r\n")[:1]
    return "jsonl" if first == b"{" else "csv"


#: Bytes read ahead to tell text from binary data.
SNIFF_BYTES = 8192
#: Formats people mistake for conversations, by their first bytes.
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"PK\x03\x04", "a zip archive (only gzip compression is read; unzip it first)"),
    (b"BZh", "a bzip2 archive (only gzip compression is read; decompress it first)"),
    (b"\xfd7zXZ\x00", "an xz archive (only gzip compression is read; decompress it first)"),
    (b"\x28\xb5\x2f\xfd", "a zstd archive (only gzip compression is read; decompress it first)"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive (unpack it first)"),
    (b"PAR1", "a Parquet file (convert it to JSON Lines or CSV)"),
    (b"SQLite format 3\x00", "a SQLite database (export it to JSON Lines or CSV)"),
    (b"\xff\xfe", "UTF-16 text (a byte-order mark FF FE); save it as UTF-8"),
    (b"\xfe\xff", "UTF-16 text (a byte-order mark FE FF); save it as UTF-8"),
)
#: Share of NUL or undecodable bytes in the first :data:`SNIFF_BYTES` from which input is
#: binary (random bytes have about half; text with a few damaged lines far less).
_BINARY_SHARE = 0.3


def sniff_binary(head: bytes) -> str | None:
    """What ``head`` (the first bytes of an input, after decompression) is when it is not
    text: a known binary format, or (from 32 bytes on) at least 30 % NUL bytes or bytes
    that are not UTF-8.

    ``None`` for text, including text with a few bad bytes or lines: those are reported
    on the lines that hold them, and every other line is still read.

    Examples
    --------
    >>> sniff_binary(b'{"id": "c1"}') is None
    True
    >>> sniff_binary(b"PK\\x03\\x04 rest of a zip")
    'a zip archive (only gzip compression is read; unzip it first)'
    >>> sniff_binary(b"abc" + bytes(61))
    'binary data, not text (61 of the first 64 bytes are NUL or not UTF-8; the first NUL at offset 3)'
    """
    for magic, what in _MAGIC:
        if head.startswith(magic):
            return what
    nul = head.find(b"\x00")
    decoder = codecs.getincrementaldecoder("utf-8")(errors="surrogateescape")
    text = decoder.decode(head, final=False)  # a character cut at the end is not an error
    bad = len(_SURROGATE.findall(text)) + head.count(b"\x00")
    if len(head) >= 32 and bad >= _BINARY_SHARE * len(head):
        what = f"{bad:,} of the first {len(head):,} bytes are NUL or not UTF-8"
        if nul >= 0:
            what += f"; the first NUL at offset {nul}"
        return f"binary data, not text ({what})"
    return None


class _GzipChunks(io.RawIOBase):
    """A gzip stream read one decompressed chunk at a time.

    ``GzipFile.read(n)`` fills ``n`` bytes with several reads and, when the stream ends
    early, drops what those reads had decompressed; reading chunk by chunk hands over
    every byte that can be decompressed before the damage, so no complete line is lost.
    """

    def __init__(self, packed: gzip.GzipFile) -> None:
        self._packed = packed

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        chunk = self._packed.read1(len(buffer))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def open_conversations(
    path: str | Path | IO[bytes], format: Format | None = None, **csv_options: Any
) -> Iterator[Record]:
    """Stream every conversation of a JSON Lines or CSV file, gzip-compressed or not.

    Parameters
    ----------
    path:
        The file, or a binary stream already open (standard input, say: ``sys.stdin.buffer``),
        which is read but not closed.
    format:
        ``"jsonl"`` or ``"csv"``; guessed from the extension (after ``.gz``) or the
        first non-blank byte when ``None``.
    **csv_options:
        :class:`CsvOptions` fields (``conversation_id="chat_id"``, ``text="message"``,
        ``delimiter=";"``...), also accepted as ``<field>_column=...``.

    Yields
    ------
    Record
        In file order; bad records carry an :class:`~escalate.errors.InputError` with
        their line number, and the rest of the file is still read. A gzip stream that is
        cut short or corrupt ends with one error record at the line where reading stopped,
        after every record read before it.

    Raises
    ------
    InputError
        The file cannot be opened, is not gzip although named ``.gz``, is binary (a zip
        archive, UTF-16 text, NUL bytes...: one error naming the file and what was
        found, never one per "line"), or a CSV header lacks a required column.

    Examples
    --------
    >>> import gzip, tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> path = folder / "chats.csv.gz"
    >>> _ = path.write_bytes(gzip.compress(b"conversation_id,role,text\\nc1,user,hi\\n"))
    >>> [r.conversation.id for r in open_conversations(path)]
    ['c1']
    """
    if format not in (None, "jsonl", "csv"):
        raise ValueError(f"format must be 'jsonl', 'csv' or None, got {format!r}")
    options = CsvOptions.from_kwargs(**csv_options)
    if isinstance(path, str | Path):
        given = Path(path)
        label = str(given)
        try:
            raw: IO[bytes] = open(given, "rb", buffering=8 * SNIFF_BYTES)  # noqa: SIM115
        except OSError as exc:
            raise InputError(f"cannot read {given}: {exc.strerror or exc}") from None
        closing: contextlib.AbstractContextManager[Any] = raw
    else:
        label = str(getattr(path, "name", None) or "<input>")
        given = Path(label if not label.startswith("<") else "")
        raw, closing = path, contextlib.nullcontext()
    wrapper = None if hasattr(raw, "peek") else io.BufferedReader(cast(Any, raw))
    try:
        with closing:
            yield from _read(wrapper or raw, given, label, format, options)
    finally:
        if wrapper is not None:
            wrapper.detach()  # the caller's stream stays open


def _read(
    buffered: Any, given: Path, label: str, format: Format | None, options: CsvOptions
) -> Iterator[Record]:
    name, gz_suffix = _strip_gz(given)
    try:
        if buffered.peek(2)[:2] == _GZIP_MAGIC or gz_suffix:
            packed = gzip.GzipFile(fileobj=buffered, mode="rb")
            buffered = io.BufferedReader(_GzipChunks(packed), buffer_size=SNIFF_BYTES)
        head = buffered.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(f"cannot read {label}: {exc}") from None
    what = sniff_binary(head)
    if what is not None:
        raise InputError(f"cannot read {label}: {what}")
    kind = format or _guess_format(name, head)
    if kind == "jsonl":
        records = iter_jsonl(buffered)
    else:
        delimiter = "\t" if name.suffix.lower() == ".tsv" else ","
        records = iter_csv(buffered, options, delimiter=delimiter)
    line = 0
    try:
        for record in records:
            line = record.line
            yield record
    except (OSError, EOFError, zlib.error) as exc:  # a truncated or corrupt gzip stream
        line += 1
        yield Record(
            line,
            error=InputError(
                f"{label} cannot be read beyond this point ({exc}); "
                "the file is cut short or corrupt",
                line=line,
            ),
        )
    except _LineTooLong as exc:  # in CSV, where rows may span lines: reading stops there
        yield Record(exc.line or line + 1, error=exc)


# ---------------------------------------------------------------------------------------
# Sharded inputs: many files, globs and folders read as one stream
# ---------------------------------------------------------------------------------------

#: Names read from a folder: JSON Lines and CSV, gzip-compressed or not.
_INPUT_SUFFIXES = _JSONL_SUFFIXES | _CSV_SUFFIXES


def _readable_name(path: Path) -> bool:
    name, _ = _strip_gz(path)
    return name.suffix.lower() in _INPUT_SUFFIXES


def expand_inputs(inputs: str | Path | Iterable[str | Path]) -> list[Path]:
    """The files named by ``inputs``: files, glob patterns and folders, in a stable order.

    A folder stands for every ``.jsonl``, ``.ndjson``, ``.json``, ``.csv`` and ``.tsv``
    file under it (``.gz`` too), recursively, sorted by path; a pattern (``*``, ``?``,
    ``[``) for the files it matches, sorted; a file for itself. Each file is listed once,
    at its first mention.

    Raises
    ------
    InputError
        A name matches nothing, or a folder holds no conversations file.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> for name in ("b.jsonl", "a.csv.gz", "notes.txt"):
    ...     _ = (folder / name).write_bytes(b"")
    >>> [p.name for p in expand_inputs(folder)]
    ['a.csv.gz', 'b.jsonl']
    """
    items = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    found: list[Path] = []
    seen: set[Path] = set()
    for item in items:
        path = Path(item)
        text = str(item)
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and _readable_name(p))
            if not matches:
                raise InputError(f"cannot read {text}: the folder holds no .jsonl or .csv file")
        elif path.is_file():
            matches = [path]
        elif any(ch in text for ch in "*?["):
            anchor = Path(path.anchor) if path.is_absolute() else Path()
            pattern = str(path.relative_to(anchor)) if path.is_absolute() else text
            matches = sorted(p for p in anchor.glob(pattern) if p.is_file())
            if not matches:
                raise InputError(f"cannot read {text}: the pattern matches no file")
        else:
            raise InputError(f"cannot read {text}: no such file or folder")
        for match in matches:
            key = match.resolve()
            if key not in seen:
                seen.add(key)
                found.append(match)
    return found


class _Counting(io.RawIOBase):
    """A file read through, counting the bytes read (compressed bytes, for gzip)."""

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self._raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class Inputs:
    """Conversations of many files read as one stream, file after file.

    Parameters
    ----------
    inputs:
        Files, glob patterns and folders (see :func:`expand_inputs`).
    format:
        ``"jsonl"`` or ``"csv"`` for every file; guessed per file when ``None``.
    **csv_options:
        As for :func:`open_conversations`.

    Iterating yields every :class:`Record` of every file, each with its ``source`` (the
    file) and its line within that file; an unreadable file (binary, not gzip although
    named so) raises :class:`~escalate.errors.InputError` when reading reaches it.
    ``total_bytes`` is the size of the input on disk and ``bytes_read`` how much of it
    has been read so far, so that progress can be shown against a known total.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> folder = pathlib.Path(tempfile.mkdtemp())
    >>> line = '{{"id": "{}", "turns": [{{"role": "user", "text": "hi"}}]}}\\n'
    >>> _ = (folder / "1.jsonl").write_text(line.format("a") + line.format("b"))
    >>> _ = (folder / "2.jsonl").write_text(line.format("c"))
    >>> source = Inputs(folder)
    >>> [(r.conversation.id, r.line, pathlib.Path(r.source).name) for r in source]
    [('a', 1, '1.jsonl'), ('b', 2, '1.jsonl'), ('c', 1, '2.jsonl')]
    >>> source.bytes_read == source.total_bytes
    True
    """

    def __init__(
        self,
        inputs: str | Path | Iterable[str | Path],
        format: Format | None = None,
        **csv_options: Any,
    ) -> None:
        self.files = expand_inputs(inputs)
        self.format = format
        self.csv_options = csv_options
        CsvOptions.from_kwargs(**csv_options)  # fail now on a bad option
        self.total_bytes = sum(p.stat().st_size for p in self.files)
        self._done = 0
        self._current: _Counting | None = None

    @property
    def bytes_read(self) -> int:
        """Bytes of the input read so far."""
        return self._done + (self._current.count if self._current is not None else 0)

    def fingerprint(self) -> list[dict[str, Any]]:
        """Each file's path, size and modification time (what a resumed run checks)."""
        return [
            {"path": str(p.resolve()), "size": p.stat().st_size, "mtime": p.stat().st_mtime_ns}
            for p in self.files
        ]

    def __iter__(self) -> Iterator[Record]:
        self._done = 0
        for path in self.files:
            source = str(path)
            try:
                raw = open(path, "rb")  # noqa: SIM115
            except OSError as exc:
                raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
            with raw:
                counting = _Counting(raw)
                self._current = counting
                stream = io.BufferedReader(counting, buffer_size=8 * SNIFF_BYTES)
                try:
                    for record in _read(stream, path, source, self.format, _options(self)):
                        yield Record(record.line, record.conversation, record.error, source)
                finally:
                    self._current = None
                    self._done += path.stat().st_size


def _options(inputs: Inputs) -> CsvOptions:
    return CsvOptions.from_kwargs(**inputs.csv_options)
