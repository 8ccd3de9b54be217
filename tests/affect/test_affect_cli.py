"""``escalate classify``, ``export`` and ``refit-head`` against a small app that registers
only them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from escalate.affect import EMOTION_LABELS
from escalate.cli.affect import classify, export, refit_head

app = typer.Typer()
app.command()(classify)
app.command()(export)
app.command("refit-head")(refit_head)
app.command("noop")(lambda: None)  # two commands keep ``classify`` addressable by name

runner = CliRunner()


def _records(output: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in output.splitlines() if line.strip()]


def test_plain_text_from_stdin() -> None:
    result = runner.invoke(app, ["classify"], input="I hate waiting\nget me a real person\n")
    assert result.exit_code == 0, result.output
    records = _records(result.stdout)
    assert [r["text"] for r in records] == ["I hate waiting", "get me a real person"]
    for r in records:
        assert set(r) == {"text", "sentiment", "emotions", "emotion_labels", "human_request",
                          "dissatisfaction", "distress"}  # fmt: skip
        assert set(r["sentiment"]) == {"negative", "neutral", "positive"}  # type: ignore[arg-type]
        assert list(r["emotions"]) == list(EMOTION_LABELS)  # type: ignore[arg-type]
    assert records[1]["human_request"] > 0.5  # type: ignore[operator]


def test_jsonl_file_with_a_bad_line(tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(
        b'{"text": "thanks a lot, great help"}\n'
        b'{"text": broken\n'
        b'{"id": 3}\n'
        b"\xff\xfe not utf-8\n"
        b'{"text": "where is my refund?", "id": 5}\n'
    )
    result = runner.invoke(app, ["classify", str(path)])
    assert result.exit_code == 1
    records = _records(result.stdout)
    assert [r["text"] for r in records] == ["thanks a lot, great help", "where is my refund?"]
    assert "line 2" in result.stderr and "invalid JSON" in result.stderr
    assert "line 3" in result.stderr and "text" in result.stderr
    assert "line 4" in result.stderr and "UTF-8" in result.stderr


def test_dash_reads_stdin_and_blank_lines_are_skipped() -> None:
    result = runner.invoke(app, ["classify", "-"], input="\nhello there\n\n")
    assert result.exit_code == 0
    assert [r["text"] for r in _records(result.stdout)] == ["hello there"]


@pytest.mark.parametrize("batch", ["1", "2"])
def test_many_lines_keep_their_order(batch: str) -> None:
    lines = [f"message number {i}" for i in range(7)]
    result = runner.invoke(app, ["classify", "--batch-size", batch], input="\n".join(lines))
    assert result.exit_code == 0
    assert [r["text"] for r in _records(result.stdout)] == lines


def test_missing_model_folder_is_reported(tmp_path: Path) -> None:
    result = runner.invoke(app, ["classify", "--model", str(tmp_path / "none")], input="hi\n")
    assert result.exit_code == 2
    assert "not found" in result.stderr


def test_train_without_the_extra_names_the_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from escalate.cli.affect import train
    from escalate.errors import MissingExtraError

    monkeypatch.delitem(sys.modules, "escalate.affect.train", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)  # makes ``import torch`` fail
    with pytest.raises(MissingExtraError, match=r"escalate\[train\]"):
        train(data=Path("nowhere"))


def test_export_without_the_extra_names_the_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import sys

    for name in ("fp32/model.safetensors", "config.json", "tokenizer.json", "split.json"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("{}")

    from escalate.cli.affect import export
    from escalate.errors import MissingExtraError

    monkeypatch.delitem(sys.modules, "escalate.affect.train", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"escalate\[train\]"):
        export(run=tmp_path)


def test_refit_head_refuses_a_folder_that_is_not_a_model_and_an_unknown_head(
    tmp_path: Path,
) -> None:
    result = runner.invoke(app, ["refit-head", str(tmp_path), "--out", str(tmp_path / "o")])
    assert result.exit_code == 2 and "lacks model.onnx" in result.stderr
    result = runner.invoke(
        app, ["refit-head", str(tmp_path), "--out", str(tmp_path / "o"), "--head", "joy"]
    )
    assert result.exit_code == 2 and "--head must be among" in result.stderr
    result = runner.invoke(
        app,
        ["refit-head", str(tmp_path), "--out", str(tmp_path / "o"),
         "--head", "emotions", "--head", "distress"],
    )  # fmt: skip
    assert result.exit_code == 2 and "emotion head alone" in result.stderr
    assert not (tmp_path / "o").exists()


def test_refit_head_without_the_extra_names_the_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import shutil
    import sys

    from escalate._resources import shipped_dir
    from escalate.cli.affect import refit_head
    from escalate.errors import MissingExtraError

    data = tmp_path / "data"
    for name in ("goemotions", "bitext"):
        (data / name).mkdir(parents=True)
    model = shutil.copytree(shipped_dir("models") / "affect", tmp_path / "model")
    monkeypatch.delitem(sys.modules, "escalate.affect.train.head", raising=False)
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(MissingExtraError, match=r"escalate\[train\]"):
        refit_head(model=model, out=tmp_path / "out", data=data)


def test_export_refuses_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    result = runner.invoke(app, ["export", str(tmp_path)])
    assert result.exit_code == 2
    assert "fp32/model.safetensors" in result.stderr
