"""The policy's ``packet:`` section: defaults, and problems reported with file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from escalate.errors import PolicyError
from escalate.policy import load_policy, parse_policy
from escalate.policy.schema import OPENER_SLOTS, PacketConfig, template_slots

HEAD = """\
version: 1
rules:
  - id: stuck
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: handoff}
"""


def test_default_packet_section() -> None:
    packet = load_policy("default").packet
    assert packet == PacketConfig()
    assert not packet.redact and packet.openers == []


def test_a_valid_section() -> None:
    policy = parse_policy(
        HEAD
        + """\
packet:
  redact: true
  redact_types: [email, phone, person_name]
  max_transcript_turns: 20
  summary_sentences: 1
  openers:
    - when_rule: [stuck, explicit_request]
      when_emotion: frustration
      min_score: 0.7
      text: "Sorry about {issue}; I'm on it."
""",
        affect=False,
    )
    assert policy.packet.redact and policy.packet.redact_types == ["email", "phone", "person_name"]
    (opener,) = policy.packet.openers
    assert opener.when_rule == ["stuck", "explicit_request"]
    assert opener.when_emotion == "frustration"


def test_problems_have_file_line_and_suggestions(tmp_path: Path) -> None:
    path = tmp_path / "team.yaml"
    path.write_text(
        HEAD
        + """\
packet:
  redact: maybe
  opners: []
  max_transcript_turns: 0
  openers:
    - when_rule: stuk
      when_emotion: angr
      text: "Sorry about {isue}, I'll fix it."
    - when_reason: [bot-stuck]
      text: "Hello {0}"
  redact_types: [email, passport]
""",
        encoding="utf-8",
    )
    with pytest.raises(PolicyError) as info:
        load_policy(path, affect=False)
    found = {(p.line, " -> ".join(map(str, p.path))): p.message for p in info.value.problems}
    assert all(p.source == str(path) for p in info.value.problems)
    assert "true or false" in found[(7, "packet -> redact")]
    assert found[(8, "packet -> opners")] == "unknown key (did you mean 'openers'?)"
    assert ">= 1" in found[(9, "packet -> max_transcript_turns")]
    assert "did you mean 'stuck'" in found[(11, "packet -> openers -> 0 -> when_rule")]
    assert "did you mean 'anger'" in found[(12, "packet -> openers -> 0 -> when_emotion")]
    assert found[(13, "packet -> openers -> 0 -> text")].startswith(
        "unknown placeholder '{isue}' in the template (did you mean '{issue}'?)"
    )
    assert "did you mean 'bot_stuck'" in found[(14, "packet -> openers -> 1 -> when_reason -> 0")]
    assert "(a name, no format); got {0}" in found[(15, "packet -> openers -> 1 -> text")]
    assert "passport" in found[(16, "packet -> redact_types -> 1")]
    text = str(info.value)
    assert f"{path}:13: packet -> openers -> 0 -> text" in text


def test_template_slots() -> None:
    assert template_slots("About {issue}, {contact_ordinal} time; {{literal}}") == [
        "issue",
        "contact_ordinal",
    ]
    for bad in ("{issue!r}", "{issue:>10}", "{}", "{a.b}", "{x[0]}"):
        with pytest.raises(ValueError):
            template_slots(bad)
    assert {"issue", "contact_ordinal", "order_id"} <= set(OPENER_SLOTS)
