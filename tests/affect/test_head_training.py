"""Training a head again on frozen embeddings (needs the ``train`` extra: torch)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("onnx")

from escalate.affect.train.export import (  # noqa: E402
    export_context_graph,
    export_emotion_graph,
)
from escalate.affect.train.head import (  # noqa: E402
    EmotionHeadConfig,
    fit_emotion_head,
    load_context_head,
)
from escalate.affect.train.network import ContextHead, SplitContextHead  # noqa: E402


def _unit_rows(n: int, dim: int, seed: int) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def _labels(rows: np.ndarray) -> np.ndarray:
    # label 0: the first coordinate is positive; label 1: the second; label 2: both
    a, b = rows[:, 0] > 0, rows[:, 1] > 0
    return np.stack([a, b, a & b], axis=1).astype(np.float32)


def test_the_emotion_head_learns_labels_that_the_embeddings_separate() -> None:
    train, test = _unit_rows(2000, 16, 0), _unit_rows(500, 16, 1)
    config = EmotionHeadConfig(epochs=40, batch_size=64, seed=3)
    head = fit_emotion_head(train, _labels(train), config, log=lambda _: None)
    with torch.no_grad():  # the scale is folded into the weights: plain embeddings in
        predicted = head(torch.from_numpy(test)).numpy() > 0
    gold = _labels(test) > 0.5
    assert (predicted[:, :2] == gold[:, :2]).mean() > 0.95
    assert (predicted[:, 2] == gold[:, 2]).mean() > 0.85  # an AND is only nearly linear


def test_the_emotion_head_is_deterministic_for_a_seed() -> None:
    rows = _unit_rows(300, 8, 2)
    config = EmotionHeadConfig(epochs=3, seed=5)
    a = fit_emotion_head(rows, _labels(rows), config, log=lambda _: None)
    b = fit_emotion_head(rows, _labels(rows), config, log=lambda _: None)
    assert torch.equal(a.weight, b.weight) and torch.equal(a.bias, b.bias)


def test_mismatched_or_empty_inputs_are_refused() -> None:
    rows = _unit_rows(10, 4, 0)
    with pytest.raises(ValueError, match="10 embeddings for 9 targets"):
        fit_emotion_head(rows, _labels(rows)[:9], log=lambda _: None)
    with pytest.raises(ValueError, match="0 embeddings"):
        fit_emotion_head(rows[:0], _labels(rows)[:0], log=lambda _: None)


def test_the_exported_emotion_graph_gives_the_heads_logits(tmp_path: Path) -> None:
    import onnxruntime as ort

    torch.manual_seed(0)
    head = torch.nn.Linear(12, 28).eval()
    path = tmp_path / "emotions.onnx"
    export_emotion_graph(head, path)
    rows = _unit_rows(5, 12, 4)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (logits,) = session.run(["emotion_logits"], {"embedding": rows})
    with torch.no_grad():
        expected = head(torch.from_numpy(rows)).numpy()
    np.testing.assert_allclose(logits, expected, rtol=0, atol=1e-5)


def _context_inputs(n: int, dim: int) -> tuple[object, object, object]:
    message = torch.nn.functional.normalize(torch.randn(n, dim), dim=-1)
    context = torch.nn.functional.normalize(torch.randn(n, 2, dim), dim=-1)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0], [0.0, 0.0]] * (n // 3 + 1))[:n]
    return message, context, mask


def test_a_split_head_gives_the_other_columns_from_its_base_exactly() -> None:
    torch.manual_seed(0)
    base, branch = ContextHead(8, 6, 3).eval(), ContextHead(8, 4, 1).eval()
    split = SplitContextHead(base, {"distress": branch}).eval()
    inputs = _context_inputs(7, 8)
    with torch.no_grad():
        out, shared, own = split(*inputs), base(*inputs), branch(*inputs)
    assert torch.equal(out[:, :2], shared[:, :2])
    assert torch.equal(out[:, 2:], own)
    with pytest.raises(ValueError, match="branches must be among"):
        SplitContextHead(base, {"joy": branch})


@pytest.mark.parametrize("split", [False, True])
def test_a_context_graph_loads_back_as_the_head_it_was(tmp_path: Path, split: bool) -> None:
    torch.manual_seed(1)
    head: torch.nn.Module = ContextHead(8, 6, 3)
    if split:  # a branch equal in part to its base: the exporter stores that part once
        branch = ContextHead(8, 6, 1)
        branch.inner.load_state_dict(head.inner.state_dict())
        head = SplitContextHead(head, {"distress": branch})
    head.eval()
    export_context_graph(head, tmp_path / "context.onnx", 8)
    loaded = load_context_head(tmp_path / "context.onnx").eval()  # its size inferred
    assert isinstance(loaded, SplitContextHead) == split
    inputs = _context_inputs(5, 8)
    with torch.no_grad():
        assert torch.equal(loaded(*inputs), head(*inputs))


def test_the_shipped_head_trains_again_only_as_split(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from escalate._resources import shipped_dir
    from escalate.cli.affect import refit_head

    app = typer_app(refit_head)
    data = tmp_path / "data"
    for name in ("goemotions", "bitext"):
        (data / name).mkdir(parents=True)
    shipped = shipped_dir("models") / "affect"
    result = CliRunner().invoke(
        app, [str(shipped), "--out", str(tmp_path / "out"), "--data", str(data)]
    )
    assert result.exit_code == 2, result.output
    assert "network of its own" in result.output and "--no-trunk" in result.output
    assert not (tmp_path / "out").exists()


def typer_app(command: object) -> object:
    import typer

    app = typer.Typer()
    app.command()(command)  # type: ignore[arg-type]
    return app
