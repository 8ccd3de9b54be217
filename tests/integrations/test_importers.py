"""Importers: documented samples of each format to conversations, JSON Lines and replay."""

from __future__ import annotations

import io
import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner

from escalate.cli import app
from escalate.errors import InputError
from escalate.integrations.importers import FORMATS, read, write_jsonl
from escalate.integrations.importers._base import build_conversation, parse_time
from escalate.models import Conversation, Turn
from escalate.replay.metrics import compute_metrics
from escalate.replay.readers import read_jsonl
from escalate.replay.runner import Runner, collect

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "importers"
cli = CliRunner()


def imported(fmt: str, name: str) -> tuple[dict[str, Conversation], list[str]]:
    records = list(read(fmt, FIXTURES / name))
    good = {r.conversation.id: r.conversation for r in records if r.conversation is not None}
    return good, [str(r) for r in records if r.error is not None]


def shape(conversation: Conversation) -> list[tuple[str, str | None, str | None]]:
    return [(t.role, t.intent, t.event) for t in conversation.turns]


def test_rasa_trackers_map_intents_fallbacks_sessions_and_the_handoff() -> None:
    found, errors = imported("rasa", "rasa_trackers.jsonl")
    assert list(found) == ["rasa-stuck", "rasa-fine", "rasa-fine#2"]
    stuck = found["rasa-stuck"]
    assert shape(stuck) == [
        ("user", "nlu_fallback", None),
        ("bot", "utter_default", "fallback"),
        ("user", "nlu_fallback", None),
        ("bot", "utter_default", "fallback"),
        ("user", "request_human", None),  # a /request_human button payload: an intent, no text
        ("bot", "utter_handoff", None),
        ("agent", None, None),  # while paused, the person's messages
    ]
    assert stuck.turns[0].confidence == pytest.approx(0.31)
    assert stuck.turns[0].timestamp == datetime(2026, 5, 4, 10, 0, 5, tzinfo=UTC)
    assert stuck.turns[4].text is None
    assert stuck.label is not None and (stuck.label.escalate, stuck.label.turn) == (True, 4)
    assert (stuck.customer_id, stuck.channel) == ("rasa-stuck", "rest")
    fine, again = found["rasa-fine"], found["rasa-fine#2"]
    assert fine.label is not None and fine.label.escalate is False
    assert again.customer_id == "rasa-fine" and again.turns[0].intent == "change_address"
    assert errors == [
        "line 3: not valid JSON: Expecting property name enclosed in double quotes at column 2",
        "line 4: events.1.timestamp: must be Unix seconds or an ISO 8601 date and time, got "
        "'yesterday'",
    ]


def test_rasa_event_rows_are_grouped_by_sender() -> None:
    found, errors = imported("rasa", "rasa_events.jsonl")
    assert errors == []
    assert shape(found["rasa-broker"]) == [
        ("user", "billing", None),
        ("bot", "utter_ask_invoice", None),
    ]
    sql = found["rasa-sql"]  # the SQL store's rows, the event as JSON in "data"
    assert sql.label is not None and (sql.label.escalate, sql.label.turn) == (True, 0)


def test_bot_framework_transcripts_map_recognizer_traces_and_handoff_initiate() -> None:
    found, errors = imported("botframework", "transcripts")
    luis = found["bf-luis"]
    assert shape(luis) == [
        ("user", "None", None),
        ("bot", None, "fallback"),  # the recognizer found no intent: the bot fell back
        ("user", "None", None),
        ("bot", None, "fallback"),
        ("user", "Escalate", None),
        ("bot", None, None),
        ("agent", None, None),  # after handoff.initiate
    ]
    assert luis.turns[4].confidence == pytest.approx(0.91)
    assert luis.label is not None and (luis.label.escalate, luis.label.turn) == (True, 5)
    assert (luis.customer_id, luis.channel) == ("user-7f2", "emulator")
    hours = found["bf-hours"]
    assert hours.turns[1].text == "We close at 8pm today."  # a hero card's text
    assert hours.label is not None and hours.label.escalate is False
    assert len(errors) == 1 and errors[0].startswith("truncated.transcript: not a readable JSON")


def test_langchain_message_lists_in_every_documented_form() -> None:
    found, errors = imported("langchain", "langchain_messages.jsonl")
    refund = found["lc-refund"]
    assert [t.role for t in refund.turns] == ["user", "bot", "user", "agent"]
    assert refund.label is not None and (refund.label.escalate, refund.label.turn) == (True, 2)
    assert refund.customer_id == "cust-31"
    snapshot = found["lc-snapshot"]  # a LangGraph state snapshot, messages_to_dict form
    assert snapshot.turns[1].text == "Yes, we ship to Ireland in 3 to 5 days."
    assert snapshot.turns[0].timestamp == datetime(2026, 5, 4, 11, tzinfo=UTC)
    assert [t.text for t in found["line-3"].turns] == ["hello", "Hi! How can I help?"]  # dumpd
    assert len(errors) == 1 and errors[0].startswith("line 4: messages.1: not a message")


def test_intercom_parts_map_authors_html_and_the_assignment() -> None:
    found, errors = imported("intercom", "intercom_conversations.json")
    charged = found["215467"]
    assert [t.role for t in charged.turns] == ["user", "bot", "user", "bot", "user", "agent"]
    assert charged.turns[2].text == "No, both payments went through. I want my money back."
    assert charged.customer_id == "6630e1"
    assert charged.label is not None and (charged.label.escalate, charged.label.turn) == (True, 4)
    reset = found["215468"]
    assert reset.turns[1].text == "Go to Settings > Password and choose Reset."
    assert reset.label is not None and reset.label.escalate is False
    assert errors == [
        "item 3: conversation_parts.0.created_at: must be Unix seconds or an ISO 8601 date and "
        "time, got 'soon'"
    ]


@pytest.mark.parametrize(
    ("fmt", "name", "conversations", "escalated"),
    [
        ("rasa", "rasa_trackers.jsonl", 3, 1),
        ("botframework", "transcripts", 2, 1),
        ("langchain", "langchain_messages.jsonl", 3, 1),
        ("intercom", "intercom_conversations.json", 2, 1),
    ],
)
def test_round_trip_to_json_lines_and_replay(
    tmp_path: Path, fmt: str, name: str, conversations: int, escalated: int
) -> None:
    out = tmp_path / "out.jsonl"
    result = cli.invoke(app, ["import", fmt, str(FIXTURES / name), "-o", str(out)])
    assert result.exit_code == 1, result.output  # each sample has one bad record, reported
    assert "skipped:" in result.output and f"imported {conversations} conversation" in result.output
    records = list(read_jsonl(out))
    assert all(r.error is None for r in records) and len(records) == conversations
    direct = [r.conversation for r in read(fmt, FIXTURES / name) if r.conversation is not None]
    assert [r.conversation for r in records] == direct  # nothing lost in JSON Lines
    results, errors = collect(Runner("dialogue_only", affect=None, workers=1).run(records))
    assert errors == []
    metrics = compute_metrics(results)
    assert metrics["conversations"] == conversations and metrics["labelled"] == conversations
    assert sum(r.label is not None and r.label.escalate for r in results) == escalated
    assert metrics["confusion"]["tp"] + metrics["confusion"]["fn"] == escalated


def test_unknown_format_and_missing_source_are_refused(tmp_path: Path) -> None:
    assert cli.invoke(app, ["import", "zendesk", str(tmp_path)]).exit_code == 2
    missing = cli.invoke(app, ["import", "rasa", str(tmp_path / "nope.jsonl")])
    assert missing.exit_code == 2 and "no such file" in missing.output
    with pytest.raises(InputError) as caught:
        read("zendesk", io.BytesIO(b""))
    assert caught.value.field == "format"


def test_no_labels_leaves_labels_out() -> None:
    records = list(read("intercom", FIXTURES / "intercom_conversations.json", labelled=False))
    assert [r.conversation.label for r in records if r.conversation] == [None, None]


class EndlessDump(io.RawIOBase):
    """A dump that never ends: reading must stream, not load it whole."""

    def __init__(self) -> None:
        self.lines = (
            json.dumps({"sender_id": f"u{i}", "events": [{"event": "user", "text": "hi"}]}).encode()
            + b"\n"
            for i in itertools.count()
        )

    def readable(self) -> bool:
        return True

    def __iter__(self) -> Iterator[bytes]:
        return self.lines


def test_readers_stream() -> None:
    first = list(itertools.islice(read("rasa", EndlessDump()), 3))
    assert [r.conversation.id for r in first if r.conversation] == ["u0", "u1", "u2"]


def test_write_jsonl_keeps_order_and_reports_rejects() -> None:
    out = io.StringIO()
    written, rejected = write_jsonl(read("rasa", FIXTURES / "rasa_trackers.jsonl"), out)
    assert written == 3 and [r.position for r in rejected] == ["line 3", "line 4"]
    assert [json.loads(line)["id"] for line in out.getvalue().splitlines()] == [
        "rasa-stuck",
        "rasa-fine",
        "rasa-fine#2",
    ]


@given(
    roles=st.lists(st.sampled_from(["user", "bot", "agent"]), min_size=1, max_size=12),
    takeover=st.one_of(st.none(), st.integers(min_value=0, max_value=12)),
)
def test_a_takeover_labels_the_turn_before_it(roles: list[str], takeover: int | None) -> None:
    turns = [Turn(role=role, text=f"message {i}") for i, role in enumerate(roles)]  # type: ignore[arg-type]
    if takeover is not None:
        takeover = min(takeover, len(turns))
    label = build_conversation("c", turns, takeover=takeover).label
    assert label is not None
    assert label.escalate is (takeover is not None)
    if takeover:
        assert label.turn == takeover - 1 and label.turn < len(turns)
    else:
        assert label.turn is None


@given(st.floats(min_value=0, max_value=4e9, allow_nan=False))
def test_unix_and_iso_timestamps_agree(seconds: float) -> None:
    stamp = parse_time(seconds)
    assert stamp is not None and parse_time(stamp.isoformat()) == stamp


def test_the_command_names_every_format() -> None:
    from escalate.cli.importers import FORMAT_NAMES

    assert tuple(FORMATS) == FORMAT_NAMES
