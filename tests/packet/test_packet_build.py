"""Packets from the example conversations: schema-valid, and rendered for agents and Bot Framework."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import pytest

import escalate
from escalate.engine.state import SessionState
from escalate.models import ContactRecord, HandoffPacket, Reason, Turn
from escalate.packet import (
    PacketConfig,
    build_packet,
    packet_json_schema,
    to_bot_framework,
    to_json,
    to_markdown,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "handoff_packet.schema.json"
EXAMPLES = ROOT / "examples" / "conversations.jsonl"
WHEN = datetime(2026, 5, 4, 10, tzinfo=UTC)


def example_states() -> list[tuple[SessionState, escalate.Decision]]:
    """Every example conversation driven through the engine, with its last user decision."""
    engine = escalate.Engine.from_policy("dialogue_only", affect=None, history="memory://")
    out = []
    for record in escalate.read_jsonl(EXAMPLES):
        conversation = record.conversation
        assert conversation is not None
        session = engine.session(
            conversation.id, customer_id=conversation.customer_id, channel=conversation.channel
        )
        decisions = [session.observe(turn) for turn in conversation.turns]
        state = session.state()
        assert state is not None
        last = [d for d in decisions if d.escalates] or decisions[-1:]
        out.append((state, last[-1]))
    return out


STATES = example_states()


def packet_for(state: SessionState, decision: escalate.Decision, **kwargs: object) -> HandoffPacket:
    return build_packet(
        state,
        rule=decision.rule or "none",
        queue=decision.queue,
        priority=decision.priority,
        reasons=decision.reasons,
        signals=decision.signals or {},
        created_at=WHEN,
        **kwargs,  # type: ignore[arg-type]
    )


def test_the_committed_schema_is_up_to_date() -> None:
    committed = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert committed == packet_json_schema(), (
        "schemas/handoff_packet.schema.json is stale; regenerate it with "
        "python -c 'import json, escalate.packet as p; "
        "print(json.dumps(p.packet_json_schema(), indent=2, ensure_ascii=False))' "
        "> schemas/handoff_packet.schema.json"
    )
    jsonschema.Draft202012Validator.check_schema(committed)


@pytest.mark.parametrize("redact", [False, True])
@pytest.mark.parametrize(("state", "decision"), STATES, ids=[s.conversation_id for s, _ in STATES])
def test_every_example_packet_is_valid_against_the_schema(
    state: SessionState, decision: escalate.Decision, redact: bool
) -> None:
    packet = packet_for(state, decision, config=PacketConfig(redact=redact))
    validator = jsonschema.Draft202012Validator(packet_json_schema())
    validator.validate(json.loads(to_json(packet)))
    assert HandoffPacket.model_validate_json(to_json(packet)) == packet
    assert packet.opener
    assert packet.transcript == list(state.turns) or redact


def test_build_packet_is_pure() -> None:
    state, decision = STATES[1]
    assert packet_for(state, decision) == packet_for(state, decision)


def test_the_engine_packet_still_validates() -> None:
    engine = escalate.Engine.from_policy("dialogue_only", affect=None)
    decision = engine.session("c9").observe(Turn(role="user", text="get me a human"))
    assert decision.packet is not None
    jsonschema.validate(decision.packet.model_dump(mode="json"), packet_json_schema())


def rich_packet() -> HandoffPacket:
    state = SessionState(
        conversation_id="c42",
        customer_id="cust-9",
        turns=(
            Turn(role="user", text="Hi. My refund of £89.99 for order 4481-2231 never came.",
                 timestamp=WHEN),
            Turn(role="bot", text="Refunds take 5 to 10 working days.", intent="refund_policy"),
            Turn(role="user", text="It has been three weeks! Get me a person."),
            Turn(role="bot", event="fallback"),
        ),
        user_affect=(
            None,
            escalate.AffectScores(
                sentiment={"negative": 0.9, "neutral": 0.05, "positive": 0.05},
                emotions={"anger": 0.8, "annoyance": 0.6, "neutral": 0.1},
                human_request=0.95,
            ),
        ),
    )  # fmt: skip
    return build_packet(
        state,
        rule="asked-for-human",
        queue="billing",
        priority="high",
        reasons=[Reason(code="asked-for-human", signal="human_request", op=">=",
                        threshold=0.8, value=0.95)],
        signals={"human_request": 0.95},
        created_at=WHEN,
        history=[ContactRecord(customer_id="cust-9", conversation_id="c41",
                               started_at=datetime(2026, 5, 1, tzinfo=UTC),
                               outcome="abandoned", topic="refund_status")],
    )  # fmt: skip


def test_packet_content() -> None:
    packet = rich_packet()
    assert packet.issue == "My refund of £89.99 for order 4481-2231 never came."
    assert packet.latest_message is not None and packet.latest_message.turn == 2
    assert [(f.type, f.value, f.turn) for f in packet.facts] == [
        ("amount", "89.99 GBP", 0),
        ("order_id", "4481-2231", 0),
    ]
    assert [(a.turn, a.intent, a.fallback) for a in packet.bot_attempts] == [
        (1, "refund_policy", False),
        (3, None, True),
    ]
    assert [(a.turn, a.sentiment) for a in packet.affect] == [(0, None), (2, "negative")]
    assert packet.affect[1].emotions == {"anger": 0.8, "annoyance": 0.6}  # neutral left out
    assert packet.opener is not None and packet.opener.startswith(
        "I can see this is the second time you've contacted us about your refund of £89.99"
    )


def test_max_transcript_turns() -> None:
    state, decision = next((s, d) for s, d in STATES if s.conversation_id == "bot-stuck")
    packet = packet_for(state, decision, config=PacketConfig(max_transcript_turns=2))
    assert packet.transcript_omitted == len(state.turns) - 2
    assert packet.transcript == list(state.turns[-2:])
    assert "_5 earlier turn(s) omitted._" in to_markdown(packet)
    assert f"{len(state.turns) - 1}. **Customer**: This is useless." in to_markdown(packet)


def test_markdown_view() -> None:
    md = to_markdown(rich_packet())
    assert md.startswith("# Handoff: c42 — customer cust-9\n")
    for expected in (
        "queue **billing** · priority **high** · rule `asked-for-human`",
        "> **Suggested opener:** I can see this is the second time",
        "## Issue\n\nMy refund of £89.99 for order 4481-2231 never came.",
        "| order_id | 4481-2231 | 0 | 0.95 |",
        "- turn 1: `refund_policy`: “Refunds take 5 to 10 working days.”",
        "- turn 3: `fallback`",
        "- turn 2: negative (negative 90%); anger 80%, annoyance 60%",
        "## Earlier contacts (1)\n\n- 2026-05-01 via chat about refund_status: abandoned",
        "- asked-for-human: human_request=0.95 >= 0.8",
        "0. **Customer**: Hi. My refund",
        "3. **Bot**: — _(fallback)_",
    ):
        assert expected in md, expected


def test_bot_framework_handoff_initiate() -> None:
    packet = rich_packet()
    event = to_bot_framework(packet)
    assert event["type"] == "event" and event["name"] == "handoff.initiate"
    (attachment,) = event["attachments"]
    assert attachment["contentType"] == "application/json"
    activities = attachment["content"]["activities"]
    assert [a["from"]["role"] for a in activities] == ["user", "bot", "user", "bot"]
    assert activities[0]["text"].startswith("Hi. My refund")
    assert activities[0]["from"]["id"] == "cust-9"
    assert activities[3]["channelData"] == {"event": "fallback"}
    assert "transcript" not in event["value"]
    assert event["value"]["opener"] == packet.opener
    assert event["value"]["queue"] == "billing"
    json.dumps(event)  # plain JSON all the way down
