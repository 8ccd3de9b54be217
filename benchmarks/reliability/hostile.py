"""Hostile input: generated files, policies and turn sequences, and what must hold for each.

Each :class:`Target` pairs a hypothesis strategy with a check. The checks allow exactly
one kind of failure, escalate's own errors (``InputError``, ``PolicyError``), and
demand that nothing valid is lost:

``jsonl``, ``gzip``
    JSON Lines (plain, or gzip-compressed) mixing valid conversations with hostile lines:
    random bytes, damaged JSON, JSON of the wrong shape, unknown roles, over-long texts,
    numbers of thousands of digits, arrays nested thousands deep, escaped lone
    surrogates, bytes that are not UTF-8, blank lines and CRLF. Every valid conversation
    comes back equal to what was written, at its line; every other line is one error.
``csv``
    The same with one turn per row, hostile rows among the conversations (unknown roles,
    empty ids, missing or extra cells, bad labels, bytes that are not UTF-8).
``truncated-gzip``
    A gzip stream cut at a random byte: every conversation whose line was complete in
    what can still be decompressed comes back, then at most one error.
``invalid-utf8``
    Valid lines with bytes that are not UTF-8 put in at random places: exactly the clean
    lines come back.
``binary``
    Arbitrary bytes: one ``InputError`` when the start is not text, else records that
    are each a conversation or an error.
``policy``
    Shipped policies with random damage, random YAML documents over the policy's own
    keys, and arbitrary text: a ``Policy`` or a ``PolicyError``; a policy that loads
    evaluates any signal values without raising.
``observe``
    Sequences of valid and hostile turns (unknown roles, wrong types, no content,
    over-long texts, odd timestamps, extra fields) through ``Session.observe``: each
    turn is decided or refused with ``InputError``; the saved state holds exactly the
    decided turns, in order; the conversation's contact reaches the history store.
    Customer ids stay within what the history holds (1 to 200 characters); longer ones
    are a known gap of ``Engine.session`` (``tests/reliability/test_engine_gaps.py``).

The CI tests run each target with a few hundred examples; ``python -m
benchmarks.reliability hostile`` with 10,000 or more.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import yaml
from benchmarks.reliability.workload import POLICY
from hypothesis import HealthCheck, given, settings
from hypothesis import seed as hypothesis_seed
from hypothesis import strategies as st

from escalate import Engine, Turn, parse_policy
from escalate.errors import InputError, PolicyError
from escalate.models import ACTION_STRENGTH, MAX_TEXT_CHARS, Conversation
from escalate.policy import shipped_policies
from escalate.replay.readers import SNIFF_BYTES, open_conversations, sniff_binary
from escalate.stores.history import MemoryHistoryStore
from escalate.stores.session import MemorySessionStore

__all__ = ["TARGETS", "Target", "TargetResult", "run_target"]

# ---------------------------------------------------------------------------------------
# Valid conversations
# ---------------------------------------------------------------------------------------

ROLES = ["user", "bot", "agent", "system"]
#: Text a conversation may hold: any character but lone surrogates (not Unicode text).
_CHARS = st.characters(exclude_categories=("Cs",))
_TEXT = st.text(_CHARS, min_size=1, max_size=40).filter(lambda t: bool(t.strip()))
_WORD = st.text(_CHARS, min_size=1, max_size=16)
_WHEN = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2099, 12, 31), timezones=st.just(UTC)
)
_JSON_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**53), 2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    _WORD,
)


@st.composite
def turn_dicts(draw: st.DrawFn) -> dict[str, Any]:
    """A valid turn, as the JSON object a file or a backend would give."""
    role, content, extras = draw(_TURN_SHAPE)
    turn: dict[str, Any] = {"role": role}
    if "text" in content:
        turn["text"] = draw(_TEXT)
    if "intent" in content:
        turn["intent"] = draw(_WORD)
    if content == "event":
        turn["event"] = draw(st.sampled_from(["fallback", "no_match", "no_input"]))
    if extras & 1:
        turn["timestamp"] = draw(_WHEN).isoformat()
    if extras & 2:
        turn["confidence"] = draw(st.floats(0, 1))
    if extras & 4:
        turn["metadata"] = draw(st.dictionaries(_WORD, _JSON_SCALAR, max_size=3))
    return turn


#: Role, which of text/intent/event, and which optional fields (a bit each).
_TURN_SHAPE = st.tuples(
    st.sampled_from(ROLES),
    st.sampled_from(["text", "text", "intent", "event", "text+intent"]),
    st.integers(0, 7),
)


@st.composite
def conversation_dicts(draw: st.DrawFn, cid: str) -> dict[str, Any]:
    turns = draw(st.lists(turn_dicts(), min_size=1, max_size=4))
    data: dict[str, Any] = {"id": cid, "turns": turns}
    customer, label = draw(st.tuples(st.none() | _WORD, st.sampled_from([None, False, True])))
    if customer is not None:
        data["customer_id"] = customer
    if label is not None:
        data["label"] = {"escalate": label}
        if label and draw(st.booleans()):
            data["label"]["turn"] = draw(st.integers(0, len(turns) - 1))
    return data


# ---------------------------------------------------------------------------------------
# JSON Lines with hostile lines
# ---------------------------------------------------------------------------------------

_VALID_LINE = json.dumps({"id": "x", "turns": [{"role": "user", "text": "hi"}]})


def _mutate(line: bytes, position: int, byte: int, kind: str) -> bytes:
    position %= max(1, len(line))
    if kind == "delete":
        return line[:position] + line[position + 1 :]
    if kind == "insert":
        return line[:position] + bytes([byte]) + line[position:]
    return line[:position] + bytes([byte]) + line[position + 1 :]


def _no_newline(data: bytes) -> bytes:
    return data.replace(b"\n", b" ").replace(b"\r", b" ")


_HOSTILE_LINES: st.SearchStrategy[bytes] = st.one_of(
    st.binary(min_size=1, max_size=40).map(lambda b: _no_newline(b).replace(b"\x00", b"?")),
    st.builds(
        _mutate,
        st.just(_VALID_LINE.encode()),
        st.integers(0, 200),
        st.integers(1, 255).filter(lambda b: b not in (10, 13)),
        st.sampled_from(["delete", "insert", "replace"]),
    ).map(_no_newline),
    st.recursive(
        _JSON_SCALAR, lambda c: st.lists(c, max_size=3) | st.dictionaries(_WORD, c, max_size=3)
    ).map(lambda v: json.dumps(v).encode()),
    st.sampled_from(
        [
            b'{"id": "r", "turns": [{"role": "robot", "text": "x"}]}',
            b'{"id": "e", "turns": [{"role": "user"}]}',
            b'{"id": "", "turns": [{"role": "user", "text": "x"}]}',
            b'{"id": "n", "turns": []}',
            b'{"id": "s", "turns": [{"role": "user", "text": "\\ud800"}]}',
            b'{"id": "t", "turns": [{"role": "user", "text": "x", "timestamp": "yesterday"}]}',
            b'{"id": "l", "turns": [{"role": "user", "text": "x"}], "label": {"escalate": true, "turn": 5}}',
            b'{"id": "c", "turns": [{"role": "user", "text": "x", "confidence": 1e999}]}',
            b'{"id": "u", "turns": [{"role": "user", "text": "caf\xe9"}]}',
            b'{"id": "x", "turns": [{"role": "user", "text": "x"}], "extra": 1}',
            b"[" * 50_000,
            b'{"n": ' + b"9" * 5_000 + b"}",
            json.dumps(
                {"id": "big", "turns": [{"role": "user", "text": "x" * (MAX_TEXT_CHARS + 1)}]}
            ).encode(),
            b"null",
            b'"just a string"',
            b"\xef\xbb\xbf{}",
        ]
    ),
)


@st.composite
def jsonl_files(draw: st.DrawFn) -> tuple[bytes, dict[int, dict[str, Any]]]:
    """A JSON Lines file and its valid conversations by line number."""
    count = draw(st.integers(0, 10))
    lines: list[bytes] = []
    valid: dict[int, dict[str, Any]] = {}
    newline = draw(st.sampled_from([b"\n", b"\r\n"]))
    for i in range(count):
        kind = draw(st.sampled_from(["valid", "valid", "hostile", "blank"]))
        if kind == "valid":
            data = draw(conversation_dicts(f"v{i}"))
            lines.append(json.dumps(data, ensure_ascii=draw(st.booleans())).encode())
            valid[len(lines)] = data
        elif kind == "hostile":
            lines.append(draw(_HOSTILE_LINES))
        else:
            lines.append(draw(st.sampled_from([b"", b"  ", b"\t"])))
    trailing = draw(st.booleans())
    return newline.join(lines) + (newline if trailing and lines else b""), valid


def _expect_kept(records: list[Any], valid: dict[int, dict[str, Any]]) -> None:
    """Every record is a conversation or an error; every valid line came back, equal."""
    assert all((r.conversation is None) != (r.error is None) for r in records)
    found = {r.line: r.conversation for r in records if r.conversation is not None}
    for line, data in valid.items():
        assert found.get(line) == Conversation.model_validate(data), f"line {line} lost"
    errors = [r for r in records if r.error is not None]
    assert all(isinstance(r.error, InputError) for r in errors)
    assert not {r.line for r in errors} & set(valid)


def _read(data: bytes, **options: Any) -> list[Any] | None:
    """The records, or ``None`` when the input was refused as binary (and must be)."""
    try:
        records = list(open_conversations(io.BytesIO(data), **options))
    except InputError as exc:
        gzip_magic = data[:2] == b"\x1f\x8b"  # read as gzip, and it is not
        assert gzip_magic or sniff_binary(data[:SNIFF_BYTES]) is not None, f"refused: {exc}"
        return None
    return records


def check_jsonl(case: tuple[bytes, dict[int, dict[str, Any]]]) -> None:
    data, valid = case
    records = _read(data, format="jsonl")
    if records is not None:
        _expect_kept(records, valid)


def check_gzip(case: tuple[bytes, dict[int, dict[str, Any]]]) -> None:
    data, valid = case
    packed = io.BytesIO(gzip.compress(data, mtime=0))
    packed.name = "chats.jsonl.gz"  # type: ignore[attr-defined]
    try:
        records = list(open_conversations(packed))
    except InputError as exc:
        assert sniff_binary(data[:SNIFF_BYTES]) is not None, f"refused text: {exc}"
        return
    _expect_kept(records, valid)


# ---------------------------------------------------------------------------------------
# Truncated gzip and bytes that are not UTF-8
# ---------------------------------------------------------------------------------------


@st.composite
def truncated_gzips(draw: st.DrawFn) -> tuple[bytes, list[dict[str, Any]]]:
    conversations = [draw(conversation_dicts(f"v{i}")) for i in range(draw(st.integers(1, 8)))]
    whole = gzip.compress(b"".join(json.dumps(c).encode() + b"\n" for c in conversations))
    cut = draw(st.integers(0, len(whole)))
    return whole[:cut], conversations


def check_truncated_gzip(case: tuple[bytes, list[dict[str, Any]]]) -> None:
    data, conversations = case
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        readable = decompressor.decompress(data)
    except zlib.error:
        readable = b""
    complete = readable.count(b"\n")  # the lines that can still be read whole
    stream = io.BytesIO(data)
    stream.name = "chats.jsonl.gz"  # type: ignore[attr-defined]
    try:
        records = list(open_conversations(stream))
    except InputError:
        assert complete == 0, "refused although whole lines could be read"
        return
    kept = [r.conversation for r in records if r.conversation is not None]
    assert kept[:complete] == [Conversation.model_validate(c) for c in conversations[:complete]]
    errors = [r for r in records if r.error is not None]
    assert len(errors) <= 1
    if errors:
        assert records[-1].error is not None and "cut short or corrupt" in str(records[-1].error)


@st.composite
def invalid_utf8_files(draw: st.DrawFn) -> tuple[bytes, dict[int, dict[str, Any]]]:
    lines: list[bytes] = []
    clean: dict[int, dict[str, Any]] = {}
    for i in range(draw(st.integers(1, 8))):
        data = draw(conversation_dicts(f"v{i}"))
        line = json.dumps(data).encode()
        if draw(st.booleans()):
            bad = draw(st.sampled_from([b"\xff", b"\xc3", b"\xe2\x82", b"\xed\xa0\x80", b"\x80"]))
            at = draw(st.integers(0, len(line)))
            line = line[:at] + bad + line[at:]
        else:
            clean[len(lines) + 1] = data
        lines.append(line)
    return b"\n".join(lines) + b"\n", clean


def check_invalid_utf8(case: tuple[bytes, dict[int, dict[str, Any]]]) -> None:
    data, clean = case
    records = _read(data, format="jsonl")
    if records is None:
        return
    _expect_kept(records, clean)
    assert {r.line for r in records if r.conversation is not None} == set(clean)


def check_binary(data: bytes) -> None:
    try:
        records = list(open_conversations(io.BytesIO(data)))
    except InputError:
        return
    assert all((r.conversation is None) != (r.error is None) for r in records)


# ---------------------------------------------------------------------------------------
# CSV, one turn per row
# ---------------------------------------------------------------------------------------

_CSV_CHARS = st.characters(exclude_categories=("Cs",), exclude_characters="\x00")
_CSV_TEXT = st.text(_CSV_CHARS, min_size=1, max_size=40).map(str.strip).filter(bool)
CSV_COLUMNS = ["conversation_id", "role", "text", "intent", "timestamp", "customer_id", "label"]


@st.composite
def csv_conversations(draw: st.DrawFn, cid: str) -> tuple[list[list[str]], dict[str, Any]]:
    """The rows of a valid conversation and the conversation they must read as."""
    rows: list[list[str]] = []
    turns: list[dict[str, Any]] = []
    customer = draw(st.none() | _CSV_TEXT)
    label = draw(st.none() | st.booleans())
    for k in range(draw(st.integers(1, 4))):
        turn: dict[str, Any] = {"role": draw(st.sampled_from(ROLES)), "text": draw(_CSV_TEXT)}
        when = draw(st.none() | _WHEN)
        if when is not None:
            turn["timestamp"] = when.isoformat()
        intent = draw(st.none() | _CSV_TEXT)
        if intent is not None:
            turn["intent"] = intent
        turns.append(turn)
        first = k == 0
        rows.append(
            [
                cid,
                turn["role"],
                turn["text"],
                intent or "",
                turn.get("timestamp", ""),
                (customer or "") if first else "",
                ("true" if label else "false") if first and label is not None else "",
            ]
        )
    data: dict[str, Any] = {"id": cid, "turns": turns}
    if customer is not None:
        data["customer_id"] = customer
    if label is not None:
        data["label"] = {"escalate": label}
    return rows, data


_HOSTILE_ROWS = st.one_of(
    st.lists(_CSV_TEXT, min_size=0, max_size=9),  # any cells, any number of them
    st.tuples(st.sampled_from(["robot", "", "USER", "customer"]), _CSV_TEXT).map(
        lambda r: ["{id}", r[0], r[1], "", "", "", ""]
    ),
    st.just(["", "user", "no conversation id", "", "", "", ""]),
    st.just(["{id}", "user", "hi", "", "not a time", "", ""]),
    st.just(["{id}", "user", "hi", "", "", "", "maybe"]),
    st.just(["{id}", "user", "caf\udce9", "", "", "", ""]),  # a byte that is not UTF-8
)


@st.composite
def csv_files(draw: st.DrawFn) -> tuple[bytes, dict[str, dict[str, Any]]]:
    out = io.StringIO()
    # RFC 4180 rows: a field holding a line break (even a lone CR) is quoted
    quoting = draw(st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL]))
    writer = csv.writer(out, lineterminator="\r\n", quoting=quoting)
    writer.writerow(CSV_COLUMNS)
    valid: dict[str, dict[str, Any]] = {}
    for i in range(draw(st.integers(0, 10))):
        if draw(st.booleans()):
            rows, data = draw(csv_conversations(f"v{i}"))
            writer.writerows(rows)
            valid[data["id"]] = data
        else:
            for _ in range(draw(st.integers(1, 3))):
                row = draw(_HOSTILE_ROWS)
                writer.writerow([cell.replace("{id}", f"h{i}") for cell in row])
    return out.getvalue().encode("utf-8", "surrogateescape"), valid


def check_csv(case: tuple[bytes, dict[str, dict[str, Any]]]) -> None:
    data, valid = case
    records = _read(data, format="csv")
    if records is None:
        return
    assert all((r.conversation is None) != (r.error is None) for r in records)
    found = {r.conversation.id: r.conversation for r in records if r.conversation is not None}
    for cid, expected in valid.items():
        assert found.get(cid) == Conversation.model_validate(expected), f"{cid} lost"


# ---------------------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------------------

_POLICY_TEXTS = [path.read_text(encoding="utf-8") for path in shipped_policies().values()]
_YAML_TOKENS = [
    ":", "-", "{", "}", "[", "]", "'", '"', "\t", "&a", "*a", "!!python/object:os.system",
    "<<: *a", "~", "null", "1e999", "-.inf", ".nan", "0x10", "yes", "no", "%", "@", "`",
    "\n  ", "\n-", "when: ", "then: {action: handoff}", "id: x", "rules:", "guards:",
    "9" * 500, "(" * 300, "not " * 300, "\ufeff", "\x85", "\u2028",
]  # fmt: skip
_POLICY_KEYS = [
    "version", "name", "rules", "id", "when", "then", "action", "queue", "priority", "guards",
    "cooldown_turns", "single_handoff", "business_hours", "explicit_request", "on_error",
    "scores", "weights", "bias", "log1p", "clip", "fill", "packet", "openers", "text",
    "dialogue", "trajectory", "costs", "description", "timezone", "open", "days", "outside",
]  # fmt: skip
_POLICY_SCALARS = st.one_of(
    _JSON_SCALAR,
    st.sampled_from(
        [
            "handoff", "continue", "offer_human", "high", "dialogue.user_turns >= 2",
            "human_request > 0.5", "score.x >= 1", "Europe/London", "08:00-20:00", "mon",
            "unknown.signal", "1 / 0 > 1", "min()", "",
        ]
    ),
)  # fmt: skip


@st.composite
def damaged_policies(draw: st.DrawFn) -> str:
    text = draw(st.sampled_from(_POLICY_TEXTS))
    lines = text.splitlines()
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["delete", "duplicate", "token", "char", "indent", "cut"]))
        at = draw(st.integers(0, max(0, len(lines) - 1)))
        if not lines:
            break
        if kind == "delete":
            del lines[at]
        elif kind == "duplicate":
            lines.insert(at, lines[at])
        elif kind == "token":
            column = draw(st.integers(0, len(lines[at])))
            token = draw(st.sampled_from(_YAML_TOKENS))
            lines[at] = lines[at][:column] + token + lines[at][column:]
        elif kind == "char":
            column = draw(st.integers(0, max(0, len(lines[at]) - 1)))
            lines[at] = lines[at][:column] + draw(_CHARS) + lines[at][column + 1 :]
        elif kind == "indent":
            lines[at] = " " * draw(st.integers(0, 6)) + lines[at].lstrip()
        else:
            lines = lines[:at]
    return "\n".join(lines)


_yaml_trees = st.recursive(
    _POLICY_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.sampled_from(_POLICY_KEYS) | _WORD, children, max_size=5),
    ),
    max_leaves=25,
)

POLICY_TEXTS = st.one_of(
    damaged_policies(),
    _yaml_trees.map(lambda tree: yaml.safe_dump(tree, allow_unicode=True)),
    st.text(max_size=300),
)

_SIGNAL_VALUES = st.one_of(
    st.none(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-(10**6), 10**6).map(float),
)


@st.composite
def policy_cases(draw: st.DrawFn) -> tuple[str, dict[str, float | None]]:
    values = draw(st.dictionaries(st.sampled_from(_SIGNAL_NAMES), _SIGNAL_VALUES))
    return draw(POLICY_TEXTS), values


def _signal_names() -> list[str]:
    from escalate.signals.catalog import CATALOG

    return sorted(CATALOG)


_SIGNAL_NAMES = _signal_names()


def check_policy(case: tuple[str, dict[str, float | None]]) -> None:
    text, values = case
    try:
        policy = parse_policy(text, source="fuzz.yaml")
    except PolicyError as exc:
        assert exc.problems and all(str(p) for p in exc.problems)
        return
    every = {name: values.get(name) for name in policy.signal_names} | values
    match = policy.evaluate(every)
    assert match is None or match.action in ACTION_STRENGTH
    policy.match_explicit_request(every)
    for value in policy.margins(every).values():
        assert value is None or not math.isnan(value)


# ---------------------------------------------------------------------------------------
# Turn sequences through observe
# ---------------------------------------------------------------------------------------


_HOSTILE_TURNS = st.one_of(
    st.builds(lambda r, t: {"role": r, "text": t}, st.sampled_from(["robot", "", "USER"]), _TEXT),
    st.just({"role": "user"}),
    st.just({"role": "user", "text": "   "}),
    st.just({"role": "user", "text": "x" * (MAX_TEXT_CHARS + 1)}),
    st.just({"role": "user", "text": 5}),
    st.just({"role": None, "text": "hi"}),
    st.just({"role": "user", "text": "hi", "metadata": "not a mapping"}),
    st.just({"role": "user", "text": "hi", "confidence": 2.0}),
    st.just({"role": "user", "text": "hi", "timestamp": "not a date"}),
    st.sampled_from(
        [
            {"role": "user", "text": "hi", "timestamp": stamp}
            for stamp in (
                "0001-01-01T00:00:00+14:00",
                "9999-12-31T23:59:59-12:00",
                "0001-01-01T00:00:00Z",
                "9999-12-31T23:59:59Z",
            )
        ]
    ),
    st.just({"role": "user", "text": "hi", "unexpected": True}),
    st.just({"role": "user", "text": "hi \ud800"}),
    st.just([1, 2, 3]),
    st.just(None),
)


@dataclass
class _ObserveEngine:
    """One engine shared by the examples (each on a conversation of its own)."""

    engine: Engine
    count: int = 0


_OBSERVE: dict[str, _ObserveEngine] = {}


def observe_engine(affect: Any = None) -> _ObserveEngine:
    key = "model" if affect is not None else "none"
    if key not in _OBSERVE:
        policy = parse_policy(POLICY, affect=affect is not None)
        engine = Engine(
            policy, affect=affect, sessions=MemorySessionStore(), history=MemoryHistoryStore()
        )
        _OBSERVE[key] = _ObserveEngine(engine)
    return _OBSERVE[key]


OBSERVE_CASES = st.tuples(
    st.lists(st.one_of(turn_dicts(), turn_dicts(), _HOSTILE_TURNS), min_size=1, max_size=8),
    st.none() | st.text(_CHARS, min_size=1, max_size=200),
)


def make_check_observe(affect: Any = None) -> Callable[[Any], None]:
    def check_observe(case: tuple[list[Any], str | None]) -> None:
        inputs, customer = case
        shared = observe_engine(affect)
        shared.count += 1
        engine = shared.engine
        cid = f"fuzz-{shared.count}"
        session = engine.session(cid, customer_id=customer)
        kept: list[Turn] = []
        for raw in inputs:
            try:
                decision = session.observe(raw)
            except InputError as exc:
                assert str(exc)
                continue
            kept.append(Turn.model_validate(raw))
            assert decision.conversation_id == cid and decision.turn == len(kept) - 1
            assert decision.action in ACTION_STRENGTH
            assert decision.guard != "on_error", decision.reasons
        state = session.state()
        assert [t for t in (state.turns if state else ())] == kept
        session.end()
        assert engine.flush_history() == 0, "a contact stays queued"
        history = engine.history
        assert history is not None
        if customer is not None and kept:
            assert history.get(cid) is not None, "the contact was not recorded"

    return check_observe


# ---------------------------------------------------------------------------------------
# Targets and the runner
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    strategy: st.SearchStrategy[Any]
    check: Callable[[Any], None]


TARGETS: dict[str, Target] = {
    "jsonl": Target(jsonl_files(), check_jsonl),
    "csv": Target(csv_files(), check_csv),
    "gzip": Target(jsonl_files(), check_gzip),
    "truncated-gzip": Target(truncated_gzips(), check_truncated_gzip),
    "invalid-utf8": Target(invalid_utf8_files(), check_invalid_utf8),
    "binary": Target(st.binary(max_size=20_000), check_binary),
    "policy": Target(policy_cases(), check_policy),
    "observe": Target(OBSERVE_CASES, make_check_observe()),
}


@dataclass
class TargetResult:
    name: str
    cases: int
    crashes: int
    seconds: float
    failure: str | None = None


def run_target(
    name: str, examples: int, *, seed: int | None = 0, check: Callable[[Any], None] | None = None
) -> TargetResult:
    """Run one target for ``examples`` generated cases; a failing check is one crash,
    reported with hypothesis's smallest failing example."""
    target = TARGETS[name]
    body = check or target.check
    cases = 0

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(target.strategy)
    def prop(case: Any) -> None:
        nonlocal cases
        cases += 1
        body(case)

    runner = hypothesis_seed(seed)(prop) if seed is not None else prop
    started = time.perf_counter()
    failure = None
    try:
        runner()
    except Exception as exc:
        notes = "\n".join(getattr(exc, "__notes__", []))
        failure = f"{type(exc).__name__}: {exc}\n{notes}".strip()
    return TargetResult(
        name, cases, int(failure is not None), time.perf_counter() - started, failure
    )
