from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from escalate.cli import app
from escalate.policy import shipped_policies

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "conversations.jsonl"
runner = CliRunner()


def test_check_accepts_every_shipped_policy() -> None:
    names = sorted(shipped_policies())
    assert {"default", "retail", "financial_services", "dialogue_only"} <= set(names)
    result = runner.invoke(app, ["check", *names])
    assert result.exit_code == 0, result.output
    assert result.output.count("✓") == len(names)


def test_check_rejects_a_broken_policy_with_file_and_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "version: 1\n"
        "rules:\n"
        "  - id: stuck\n"
        "    when: dialogue.consecutive_fallback >= 2\n"
        "    then: {action: hand_off}\n"
    )
    result = runner.invoke(app, ["check", str(bad)])
    assert result.exit_code == 2
    assert f"{bad}:4: rules -> 0 -> when" in result.output
    assert "did you mean 'dialogue.consecutive_fallbacks'" in result.output
    assert f"{bad}:5: rules -> 0 -> then -> action" in result.output


def test_check_no_affect_rejects_affect_policies() -> None:
    assert runner.invoke(app, ["check", "--no-affect", "dialogue_only"]).exit_code == 0
    result = runner.invoke(app, ["check", "--no-affect", "default"])
    assert result.exit_code == 2 and "affect" in result.output


def decisions(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def test_decide_prints_one_line_per_user_turn() -> None:
    result = runner.invoke(
        app, ["decide", str(EXAMPLES), "--policy", "dialogue_only", "--no-affect"]
    )
    assert result.exit_code == 0, result.output
    rows = decisions(result.stdout)
    conversations = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    user_turns = [
        (c["id"], i) for c in conversations for i, t in enumerate(c["turns"]) if t["role"] == "user"
    ]
    assert [(r["conversation_id"], r["turn"]) for r in rows] == user_turns
    assert set(rows[0]) == {
        "conversation_id",
        "turn",
        "role",
        "action",
        "rule",
        "reasons",
        "queue",
        "priority",
        "guard",
    }
    by_id = {(r["conversation_id"], r["turn"]): r for r in rows}
    assert by_id[("asks-for-agent", 2)]["action"] == "handoff"
    assert by_id[("bot-stuck", 4)]["action"] != "continue"
    assert by_id[("intent-only-phone", 7)]["action"] == "handoff"
    assert all(r["action"] == "continue" for r in rows if r["conversation_id"] == "order-status-ok")


def test_decide_with_the_shipped_defaults() -> None:
    result = runner.invoke(app, ["decide", str(EXAMPLES)])
    assert result.exit_code == 0, result.output
    rows = decisions(result.stdout)
    escalated = {r["conversation_id"] for r in rows if r["action"] != "continue"}
    assert {"asks-for-agent", "bot-stuck", "angry-refund", "worried-customer"} <= escalated
    assert not {"order-status-ok", "password-reset-ok", "opening-hours"} & escalated


def test_decide_reports_bad_records_and_processes_the_rest() -> None:
    good = json.dumps({"id": "ok", "turns": [{"role": "user", "text": "a human please"}]})
    data = b"\n".join(
        [
            good.encode(),
            b"{oops",
            json.dumps({"id": "r", "turns": [{"role": "robot", "text": "x"}]}).encode(),
            json.dumps({"id": "e", "turns": [{"role": "user"}]}).encode(),
            json.dumps(
                {"id": "big", "turns": [{"role": "user", "text": "x" * 1_048_576}]}
            ).encode(),
            b'{"id": "b", "turns": [{"role": "user", "text": "\xff\xfe"}]}',
            good.replace('"ok"', '"ok2"').encode(),
        ]
    )
    result = runner.invoke(
        app, ["decide", "-", "--policy", "dialogue_only", "--no-affect"], input=data
    )
    assert result.exit_code == 1
    assert [r["conversation_id"] for r in decisions(result.stdout)] == ["ok", "ok2"]
    err = result.stderr
    for expected in ("line 2: not valid JSON", "line 3: turns.0.role", "line 4: turns.0", "line 5: turns.0.text",
                     "line 6: not valid UTF-8"):  # fmt: skip
        assert expected in err
    assert "2 conversation(s) decided, 5 rejected" in err


def test_decide_with_a_missing_file_or_bad_policy_exits_2(tmp_path: Path) -> None:
    assert (
        runner.invoke(
            app, ["decide", str(tmp_path / "nope.jsonl"), "--no-affect", "-p", "dialogue_only"]
        ).exit_code
        == 2
    )
    result = runner.invoke(
        app, ["decide", str(EXAMPLES), "--policy", str(tmp_path / "missing.yaml")]
    )
    assert result.exit_code == 2


def test_signals_lists_the_catalogue() -> None:
    result = runner.invoke(app, ["signals", "--json"])
    assert result.exit_code == 0
    names = {row["name"] for row in json.loads(result.stdout)}
    assert {
        "dialogue.consecutive_fallbacks",
        "human_request",
        "trajectory.negative.streak",
    } <= names


def test_decide_packets_prints_a_packet_per_handoff() -> None:
    args = ["decide", str(EXAMPLES), "--policy", "dialogue_only", "--no-affect", "--packets"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    packets = [row for row in lines if "packet" in row]
    handoffs = [row for row in lines if row.get("action") == "handoff"]
    assert [(p["conversation_id"], p["turn"]) for p in packets] == [
        (h["conversation_id"], h["turn"]) for h in handoffs
    ]
    packet = packets[0]["packet"]
    assert packet["conversation_id"] == packets[0]["conversation_id"]
    assert packet["transcript"] and packet["opener"]
    markdown = runner.invoke(app, [*args, "--packet-format", "markdown"])
    assert markdown.exit_code == 0 and "asks-for-agent" in markdown.stdout
