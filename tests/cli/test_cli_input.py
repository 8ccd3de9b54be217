"""``decide`` and ``replay`` read input alike; bad input gives a few clear lines, never a
traceback; the small conveniences (``--version``, ``decide --history``)."""

from __future__ import annotations

import gzip
import json
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from escalate.cli import app
from escalate.models import ContactRecord
from escalate.stores.sql import SQLHistoryStore

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "conversations.jsonl"
runner = CliRunner()
QUICK = ["--policy", "dialogue_only", "--no-affect"]


def decisions(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.startswith("{")]


def no_traceback(result: object) -> None:
    exception = getattr(result, "exception", None)
    assert exception is None or isinstance(exception, SystemExit), repr(exception)
    assert "Traceback" not in getattr(result, "output", "")


@pytest.mark.parametrize("packing", ["gzip", "csv", "csv.gz"])
def test_decide_reads_what_replay_reads(tmp_path: Path, packing: str) -> None:
    plain = runner.invoke(app, ["decide", str(EXAMPLES), *QUICK])
    assert plain.exit_code == 0
    conversations = [json.loads(line) for line in EXAMPLES.read_text().splitlines()]
    if packing == "gzip":
        path = tmp_path / "chats.jsonl.gz"
        path.write_bytes(gzip.compress(EXAMPLES.read_bytes()))
    else:
        rows = ["conversation_id,role,text,intent,event,timestamp"]
        for c in conversations:
            for t in c["turns"]:
                text = (t.get("text") or "").replace('"', '""')
                rows.append(
                    f'{c["id"]},{t["role"]},"{text}",{t.get("intent") or ""},'
                    f"{t.get('event') or ''},{t.get('timestamp') or ''}"
                )
        data = ("\n".join(rows) + "\n").encode()
        path = tmp_path / f"chats.{packing}"
        path.write_bytes(gzip.compress(data) if packing.endswith(".gz") else data)
    result = runner.invoke(app, ["decide", str(path), *QUICK])
    assert result.exit_code == 0, result.output
    assert decisions(result.stdout) == decisions(plain.stdout)


def test_decide_still_reads_standard_input() -> None:
    data = EXAMPLES.read_bytes()
    for args in (["decide", *QUICK], ["decide", "-", *QUICK]):
        result = runner.invoke(app, args, input=data)
        assert result.exit_code == 0
        assert len({r["conversation_id"] for r in decisions(result.stdout)}) == 8
    packed = runner.invoke(app, ["decide", *QUICK], input=gzip.compress(data))
    assert packed.exit_code == 0 and len(decisions(packed.stdout)) == 22


@pytest.mark.parametrize("command", ["decide", "replay"])
def test_binary_input_is_one_error_not_one_per_line(tmp_path: Path, command: str) -> None:
    path = tmp_path / "photo.jsonl"
    path.write_bytes(bytes(range(256)) * 4_096)  # 1 MB of binary
    result = runner.invoke(app, [command, str(path), *QUICK])
    assert result.exit_code == 2
    no_traceback(result)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert str(path) in lines[0] and "binary data, not text" in lines[0]


@pytest.mark.parametrize("command", ["decide", "replay"])
def test_repeated_errors_are_capped_with_a_count(tmp_path: Path, command: str) -> None:
    good = json.dumps({"id": "ok", "turns": [{"role": "user", "text": "hello"}]})
    role = json.dumps({"id": "r", "turns": [{"role": "robot", "text": "x"}]})
    path = tmp_path / "chats.jsonl"
    path.write_text("\n".join([good, *["{oops"] * 4_023, *[role] * 12, good]) + "\n")
    result = runner.invoke(
        app, [command, str(path), *QUICK, *(["-w", "1"] * (command == "replay"))]
    )
    assert result.exit_code == 1  # records were rejected
    err = result.stderr
    assert err.count("not valid JSON") == 10 + 1  # ten shown, then the summary
    assert "... and 4,013 more errors like this (not valid JSON)" in err
    assert err.count("turns.0.role") == 10
    assert "... and 2 more errors like this (turns.*.role: Input should be" in err
    if command == "decide":
        assert "2 conversation(s) decided, 4,035 rejected" in err
        assert len(decisions(result.stdout)) == 2
    else:
        metrics = json.loads(result.stdout)
        assert (metrics["conversations"], metrics["rejected"]) == (2, 4_035)


def test_decide_history_preloads_earlier_contacts(tmp_path: Path) -> None:
    policy = tmp_path / "returning.yaml"
    policy.write_text(
        "version: 1\n"
        "rules:\n"
        "  - id: returning\n"
        "    when: history.contacts_7d >= 2\n"
        "    then: {action: offer_human}\n"
    )
    db = tmp_path / "history.db"
    store = SQLHistoryStore(f"sqlite:///{db}")
    for day in (1, 2):
        store.record(
            ContactRecord(
                customer_id="u9",
                conversation_id=f"old-{day}",
                started_at=datetime(2026, 5, day, 9, tzinfo=UTC),
                outcome="abandoned",
            )
        )
    store.close()
    chat = {
        "id": "new",
        "customer_id": "u9",
        "turns": [{"role": "user", "text": "me again", "timestamp": "2026-05-03T09:00:00Z"}],
    }
    line = json.dumps(chat) + "\n"
    args = ["decide", "--policy", str(policy), "--no-affect"]
    without = runner.invoke(app, args, input=line)
    assert [d["action"] for d in decisions(without.stdout)] == ["continue"]
    with_history = runner.invoke(app, [*args, "--history", f"sqlite:///{db}"], input=line)
    assert with_history.exit_code == 0, with_history.output
    assert [(d["action"], d["rule"]) for d in decisions(with_history.stdout)] == [
        ("offer_human", "returning")
    ]
    # read, never written: the decided conversation is not recorded
    assert SQLHistoryStore(f"sqlite:///{db}").get("new") is None
    bad = runner.invoke(app, [*args, "--history", "mongodb://x"], input=line)
    assert bad.exit_code == 2 and "history: must start with" in bad.stderr
    no_traceback(bad)


def test_version() -> None:
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"escalate {version('escalate')}"


def _fake_run(folder: Path) -> Path:
    for name in ("fp32/model.safetensors", "config.json", "tokenizer.json", "split.json"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("{}")
    return folder


def test_export_without_data_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With the training extra installed and no dataset where --data defaults to."""
    calls: list[object] = []
    fake = types.ModuleType("escalate.affect.train")
    fake.export_run = lambda run, data=None: calls.append((run, data))  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "escalate.affect.train", fake)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("ESCALATE_DATA", raising=False)
    run = _fake_run(tmp_path / "run")
    result = runner.invoke(app, ["export", str(run)])
    assert result.exit_code == 2
    no_traceback(result)
    assert "does not hold the bitext/ folder" in result.stderr and "--data" in result.stderr
    assert calls == []


def test_a_missing_extra_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "escalate.affect.train", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes ``import torch`` fail
    result = runner.invoke(app, ["export", str(_fake_run(tmp_path / "run"))])
    assert result.exit_code == 2
    no_traceback(result)
    assert result.stderr.strip() == (
        "error: training needs the 'train' extra: pip install 'escalate[train]'"
    )


def test_expected_user_errors_never_print_a_traceback(tmp_path: Path) -> None:
    binary = tmp_path / "blob.bin"
    binary.write_bytes(b"\x00\xff" * 5_000)
    zipped = tmp_path / "chats.jsonl.gz"
    zipped.write_bytes(b"not gzip at all")
    folder = tmp_path / "folder"
    folder.mkdir()
    data = str(EXAMPLES)
    cases = [
        ["decide", str(binary), *QUICK],
        ["decide", str(zipped), *QUICK],
        ["decide", str(folder), *QUICK],
        ["decide", data, "--policy", "dialogue_only", "--no-affect", "--format", "xml"],
        ["decide", data, "--no-affect"],  # the default policy needs the model
        ["replay", str(binary), *QUICK],
        ["replay", str(zipped), *QUICK],
        ["compare", "dialogue_only", "baseline_never", str(binary), "--no-affect"],
        ["sweep", "dialogue_only", str(binary), "--rule", "x", "--no-affect"],
        ["tune", str(binary), "--policy", "dialogue_only", "--no-affect"],
        ["classify", str(binary)],
        ["check", str(binary)],
        ["replay", data, *QUICK, "--json", str(binary / "out.json")],
    ]
    for args in cases:
        result = runner.invoke(app, args)
        no_traceback(result)
        assert result.exit_code == 2, (args, result.output)
        assert result.stderr.strip(), args
