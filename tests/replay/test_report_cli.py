import json
from pathlib import Path

from tests.replay.conversations import corpus
from typer.testing import CliRunner

from escalate.cli import app
from escalate.replay.metrics import compute_metrics
from escalate.replay.report import write_json, write_report
from escalate.replay.runner import Runner, collect
from escalate.replay.sweep import sweep

cli = CliRunner()


def data_file(tmp_path: Path) -> Path:
    path = tmp_path / "chats.jsonl"
    lines = [c.model_dump_json(exclude_defaults=True) for c in corpus()]
    lines.insert(2, "{broken")
    path.write_text("\n".join(lines) + "\n")
    return path


def test_report_files_and_json_keys(tmp_path: Path) -> None:
    runner = Runner("dialogue_only", affect=None, workers=1, keep_signals=True)
    results, _ = collect(runner.run(corpus()))
    metrics = compute_metrics(results)
    threshold, points = sweep(runner.policy, results, "corrected")
    page = write_report(metrics, tmp_path / "rep", sweep=("corrected", threshold, points))
    html = page.read_text()
    assert html.count("data:image/png;base64,") == 4
    assert "Sweep: corrected" in html and "<script" not in html
    for name in ("rules", "timing", "confusion", "sweep"):
        assert (tmp_path / "rep" / f"{name}.png").read_bytes().startswith(b"\x89PNG")
    out = write_json({"a": float("inf"), "b": [1.0]}, tmp_path / "m.json")
    assert json.loads(out.read_text()) == {"a": None, "b": [1.0]}


def test_cli_replay_writes_json_and_report(tmp_path: Path) -> None:
    data = data_file(tmp_path)
    result = cli.invoke(
        app,
        [
            "replay",
            str(data),
            "--policy",
            "dialogue_only",
            "--no-affect",
            "--json",
            str(tmp_path / "m.json"),
            "--report",
            str(tmp_path / "r"),
            "--workers",
            "1",
            "--human-cost",
            "4",
            "--missed-cost",
            "10",
        ],
    )
    assert result.exit_code == 1, result.output  # one rejected record
    assert "line 3" in result.output
    metrics = json.loads((tmp_path / "m.json").read_text())
    for key in (
        "conversations",
        "turns",
        "escalated",
        "escalation_rate",
        "deflection_rate",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "gt_i",
        "gt_ii",
        "gt_iii",
    ):
        assert key in metrics
    assert metrics["conversations"] == len(corpus()) and metrics["rejected"] == 1
    assert metrics["costs"]["human_per_handoff"] == 4.0
    assert (tmp_path / "r" / "index.html").is_file()


def test_cli_replay_prints_json_on_stdout_and_reads_csv(tmp_path: Path) -> None:
    path = tmp_path / "c.csv"
    path.write_text("chat,who,msg\nc1,user,get me a real person\nc2,user,hi\n")
    result = cli.invoke(
        app,
        [
            "replay",
            str(path),
            "-p",
            "dialogue_only",
            "--no-affect",
            "--workers",
            "1",
            "--column",
            "conversation_id=chat",
            "--column",
            "role=who",
            "--column",
            "text=msg",
        ],
    )
    assert result.exit_code == 0, result.output
    start = result.stdout.index("{")
    end = result.stdout.rindex("}") + 1
    metrics = json.loads(result.stdout[start:end])
    assert metrics["conversations"] == 2 and metrics["escalated"] == 1


def test_cli_compare_and_sweep(tmp_path: Path) -> None:
    data = data_file(tmp_path)
    result = cli.invoke(
        app,
        [
            "compare",
            "dialogue_only",
            "baseline_keyword",
            str(data),
            "--no-affect",
            "--workers",
            "1",
            "--json",
            str(tmp_path / "c.json"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "changed" in result.output
    payload = json.loads((tmp_path / "c.json").read_text())
    assert payload["changed"] >= 2 and "deltas" in payload
    result = cli.invoke(
        app,
        [
            "sweep",
            "dialogue_only",
            str(data),
            "--rule",
            "corrected",
            "--values",
            "2",
            "--values",
            "3",
            "--no-affect",
            "--workers",
            "1",
            "--json",
            str(tmp_path / "s.json"),
            "--plot",
            str(tmp_path / "s.png"),
        ],
    )
    assert result.exit_code == 0, result.output
    sweep_json = json.loads((tmp_path / "s.json").read_text())
    assert [p["value"] for p in sweep_json["points"]] == [2.0, 3.0]
    assert (tmp_path / "s.png").read_bytes().startswith(b"\x89PNG")
    bad = cli.invoke(
        app,
        ["sweep", "dialogue_only", str(data), "--rule", "looping", "--no-affect", "--workers", "1"],
    )
    assert bad.exit_code == 2 and "thresholds" in bad.output


def test_cli_errors(tmp_path: Path) -> None:
    missing = cli.invoke(app, ["replay", str(tmp_path / "none.jsonl"), "--no-affect"])
    assert missing.exit_code == 2
    bad_policy = cli.invoke(app, ["replay", str(data_file(tmp_path)), "-p", "nope", "--no-affect"])
    assert bad_policy.exit_code == 2 and "shipped policy" in bad_policy.output


def test_report_of_a_scored_policy_shows_calibration(tmp_path: Path) -> None:
    policy = tmp_path / "scored.yaml"
    policy.write_text(
        "version: 1\n"
        "scores:\n"
        "  escalation: {bias: -2, weights: {dialogue.fallbacks: 1.5}}\n"
        "rules:\n"
        "  - id: learned\n"
        "    when: score.escalation >= 0.5\n"
        "    then: {action: handoff}\n"
    )
    data = tmp_path / "labelled.jsonl"
    rows = []
    for i in range(12):
        failing = i % 3 == 0
        turns = [{"role": "user", "text": f"question {i}"}]
        turns += [{"role": "bot", "event": "fallback"}] * (2 if failing else 0)
        turns += [{"role": "user", "text": "and now?"}]
        rows.append(json.dumps({"id": f"c{i}", "turns": turns, "label": {"escalate": failing}}))
    data.write_text("\n".join(rows) + "\n")
    out = tmp_path / "report"
    result = cli.invoke(
        app,
        ["replay", str(data), "--policy", str(policy), "--no-affect", "--workers", "1",
         "--json", str(tmp_path / "m.json"), "--report", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    page = (out / "index.html").read_text()
    assert "<h2>Calibration</h2>" in page and "score.escalation: ECE" in page
    assert (out / "reliability.png").stat().st_size > 1000


def test_cli_replay_batches_the_model_on_request(tmp_path: Path) -> None:
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"id": "c1", "turns": [{"role": "user", "text": "get me a real person now"}]}\n'
        '{"id": "c2", "turns": [{"role": "user", "text": "thanks, that solved it"}]}\n'
    )
    args = ["replay", str(path), "--workers", "1"]
    batched = cli.invoke(app, [*args, "--affect-batch", "16"])
    assert batched.exit_code == 0, batched.output
    metrics = json.loads(batched.stdout[batched.stdout.index("{") : batched.stdout.rindex("}") + 1])
    assert metrics["conversations"] == 2 and metrics["escalated"] == 1
    refused = cli.invoke(app, [*args, "--affect-batch", "0"])
    assert refused.exit_code == 2
    assert "--affect-batch" in refused.output
