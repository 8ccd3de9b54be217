"""Train a head again on a runtime model's frozen encoder: the context head, or the
emotion head.

The context head (:class:`~escalate.affect.train.network.ContextHead`, 0.25 M weights)
reads the encoder's embeddings of a message and of the messages before it. When only
the head's training data changes, the encoder need not be trained again: the shipped
int8 encoder embeds every training text once, and the head, starting from its shipped
weights, is trained on those embeddings in seconds on a CPU. The new ``context.onnx``
replaces the old one in a copy of the model folder, and the three context heads are
calibrated again on the dev sets (:func:`~escalate.affect.train.evaluate.recalibrate`).

The examples are :func:`~escalate.affect.train.examples.training_examples` with a
context-head target, and a share of the GoEmotions and TweetEval rows (requests' negatives
that carry no other context-head target).

The emotion head of the encoder graph was trained with the encoder, on fp32 features
and among many other tasks; :func:`refit_emotion_head` trains a linear head over the
int8 encoder's embeddings of the GoEmotions training texts alone, to convergence, and
writes it as ``emotions.onnx`` (whose logits the runtime uses in place of the encoder
graph's), then calibrates the emotions again and chooses their thresholds on GoEmotions
dev. The encoder graph, and so every other head, stays as it was.

Examples
--------
>>> from escalate.affect.train.head import refit_context_head  # doctest: +SKIP
>>> refit_context_head(Path("models/affect"), Path("../shared/data"), Path("runs/head"))  # doctest: +SKIP
"""

from __future__ import annotations

import json
import random
import shutil
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from escalate.affect.base import CONTEXT_HEADS
from escalate.affect.data import read_goemotions
from escalate.affect.onnx import OnnxAffectModel
from escalate.affect.train.evaluate import recalibrate
from escalate.affect.train.examples import Example, training_examples
from escalate.affect.train.export import export_context_graph, export_emotion_graph
from escalate.affect.train.fit import Losses, add_context_losses, example_targets
from escalate.affect.train.network import ContextHead, SplitContextHead

__all__ = [
    "EmotionHeadConfig",
    "HeadConfig",
    "context_head_examples",
    "fit_emotion_head",
    "load_context_head",
    "refit_context_head",
    "refit_emotion_head",
]


@dataclass(frozen=True)
class HeadConfig:
    """How the head is trained: passes over the examples, learning rate, batch size,
    the share of the GoEmotions and TweetEval rows kept, the seed, and which heads learn
    from their targets while the others keep their outputs."""

    epochs: float = 2.0
    lr: float = 1e-3
    batch_size: int = 256
    message_rows: float = 0.12
    seed: int = 13
    #: The heads trained on their targets; the others are held to what the head gave
    #: before (squared logit drift, weighed by ``hold``).
    heads: tuple[str, ...] = ("distress",)
    hold: float = 1.0
    #: Whether the trained heads learn in the network they share with the others.
    #: ``False``: each trained head gets a network of its own (a copy of the shared one,
    #: :class:`~escalate.affect.train.network.SplitContextHead`), and the other heads
    #: keep their outputs, and their calibration, exactly.
    trunk: bool = True


def context_head_examples(
    data_dir: Path, seed: int = 13, message_rows: float = 0.12
) -> list[Example]:
    """The training examples that carry a context-head target, and ``message_rows`` of
    the GoEmotions and TweetEval rows (a seeded sample)."""
    examples, _ = training_examples(data_dir, seed=seed)
    rng = random.Random(seed)
    out = []
    for example in examples:
        if example.source in ("goemotions", "tweeteval"):
            if rng.random() < message_rows:
                out.append(example)
        elif any(getattr(example, head) is not None for head in CONTEXT_HEADS):
            out.append(example)
    return out


def load_context_head(path: Path, dim: int | None = None) -> ContextHead | SplitContextHead:
    """The context head of a context graph: one network, or one split into branches;
    ``dim``, the size of the embeddings it reads, is inferred when not given."""
    import onnx
    from onnx import numpy_helper

    weights = {
        init.name.removeprefix("head."): torch.tensor(numpy_helper.to_array(init).copy())
        for init in onnx.load(str(path)).graph.initializer
    }

    if dim is None:  # the hidden layer reads 5 * dim + 2 features
        first = weights.get("inner.weight", weights.get("base.inner.weight"))
        if first is None:
            raise ValueError(f"{path} holds no context head")
        dim = (int(first.shape[1]) - 2) // 5

    def plain(prefix: str, outputs: int) -> ContextHead:
        # a tensor equal to the base's is stored once, under the base's name
        names = ("inner.weight", "inner.bias", "out.weight", "out.bias")
        state = {n: weights[prefix + n if prefix + n in weights else "base." + n] for n in names}
        head = ContextHead(dim, int(state["inner.weight"].shape[0]), outputs)
        head.load_state_dict(state)
        return head

    if "inner.weight" in weights:
        return plain("", len(CONTEXT_HEADS))
    names = sorted({k.split(".")[1] for k in weights if k.startswith("branches.")})
    return SplitContextHead(
        plain("base.", len(CONTEXT_HEADS)), {n: plain(f"branches.{n}.", 1) for n in names}
    )


def _split(
    head: ContextHead | SplitContextHead, heads: Sequence[str], dim: int
) -> SplitContextHead:
    """``head`` with a branch of its own for each of ``heads``: a copy of its network
    giving that column (an existing branch is kept), the rest frozen."""
    if isinstance(head, SplitContextHead):
        base, branches = head.base, dict(head.branches.items())
    else:
        base, branches = head, {}
    for name in heads:
        if name in branches:
            continue
        k = CONTEXT_HEADS.index(name)
        branch = ContextHead(dim, base.inner.out_features, 1)
        branch.inner.load_state_dict(base.inner.state_dict())
        with torch.no_grad():
            branch.out.weight.copy_(base.out.weight[k : k + 1])
            branch.out.bias.copy_(base.out.bias[k : k + 1])
        branches[name] = branch
    split = SplitContextHead(base, branches)  # type: ignore[arg-type]
    split.requires_grad_(False)
    for name in heads:
        split.branches[name].requires_grad_(True)
    return split


def _train(
    head: ContextHead | SplitContextHead,
    examples: Sequence[Example],
    embeddings: torch.Tensor,
    row: dict[str, int],
    config: HeadConfig,
    log: Callable[[str], None],
) -> None:
    n, missing = len(examples), len(row)
    padded = torch.cat([embeddings, torch.zeros(1, embeddings.shape[1])])
    message = torch.tensor([row[e.text] for e in examples])
    bot = torch.tensor([row[e.bot] if e.bot else missing for e in examples])
    user = torch.tensor([row[e.user] if e.user else missing for e in examples])
    built = example_targets(examples)
    targets, mask = built["context"], built["context_mask"]
    losses = Losses()
    held = [k for k, name in enumerate(CONTEXT_HEADS) if name not in config.heads]
    trained = [p for p in head.parameters() if p.requires_grad]
    optimiser = torch.optim.AdamW(trained, lr=config.lr, weight_decay=0.01)
    rng = np.random.default_rng(config.seed)
    steps = max(1, int(config.epochs * n / config.batch_size))
    context = torch.stack([padded[bot], padded[user]], dim=1)
    present = torch.stack([bot != missing, user != missing], dim=1).float()
    with torch.no_grad():  # what the head gave before: the heads not trained keep it
        head.eval()
        before = head(padded[message], context, present)
    head.train()
    for step in range(steps):
        idx = torch.from_numpy(rng.integers(0, n, config.batch_size))
        logits = head(padded[message[idx]], context[idx], present[idx])
        total = torch.zeros(())
        if held:
            drift = (logits[:, held] - before[idx][:, held]) ** 2
            total = total + config.hold * drift.mean()
        total = add_context_losses(
            total, logits, targets[idx], mask[idx], losses, heads=config.heads
        )
        optimiser.zero_grad()
        total.backward()  # type: ignore[no-untyped-call]
        optimiser.step()
        if step % 200 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps}: loss {float(total.detach()):.4f}")
    head.eval()


def _copy_with(model_dir: Path, out_dir: Path, key: str, settings: dict[str, Any]) -> None:
    """``model_dir`` copied to ``out_dir`` (replacing it), with the head's training
    ``settings`` recorded under ``training.<key>`` of the copy's ``config.json``."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(model_dir, out_dir)
    path = out_dir / "config.json"
    config = json.loads(path.read_text(encoding="utf-8"))
    config.setdefault("training", {})[key] = settings
    path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def refit_context_head(
    model_dir: Path,
    data_dir: Path,
    out_dir: Path,
    config: HeadConfig | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """A copy of the runtime model at ``model_dir`` in ``out_dir`` with its context head
    trained again (see the module notes) and the three context heads calibrated again.
    Returns their new calibration."""
    config = config or HeadConfig()
    model_dir, data_dir, out_dir = Path(model_dir), Path(data_dir), Path(out_dir)
    shipped = load_context_head(model_dir / "context.onnx")  # checked before the long part
    if config.trunk and isinstance(shipped, SplitContextHead):
        raise ValueError(
            f"{model_dir / 'context.onnx'} gives {', '.join(shipped.branches)} from a network "
            "of its own: train it again with trunk=False (--no-trunk)"
        )
    torch.manual_seed(config.seed)
    examples = context_head_examples(data_dir, config.seed, config.message_rows)
    texts = sorted({t for e in examples for t in (e.text, e.bot, e.user) if t})
    log(f"{len(examples):,} examples, {len(texts):,} texts to embed")
    encoder = OnnxAffectModel(model_dir, cache_size=0, batch_size=32)
    embeddings = torch.from_numpy(encoder.embed(texts))
    dim = int(embeddings.shape[1])
    # loaded again here: building it draws from the seeded generator, as training does
    head: ContextHead | SplitContextHead = load_context_head(model_dir / "context.onnx", dim)
    if not config.trunk:
        head = _split(head, config.heads, dim)
    _train(head, examples, embeddings, {t: i for i, t in enumerate(texts)}, config, log)
    _copy_with(model_dir, out_dir, "context_head", asdict(config))
    export_context_graph(head, out_dir / "context.onnx", dim)
    # with the hidden layer trained, every head's logits moved (the held ones a little):
    # all three are calibrated again; without, only the trained heads'
    heads = CONTEXT_HEADS if config.trunk else config.heads
    return recalibrate(out_dir, data_dir, heads=heads, refresh=CONTEXT_HEADS)


@dataclass(frozen=True)
class EmotionHeadConfig:
    """How the emotion head is trained: passes over GoEmotions train, learning rate,
    weight decay, batch size, the factor the unit-length embeddings are multiplied by
    (so that the logits start in a useful range; it is folded into the exported
    weights), and the seed."""

    epochs: int = 30
    lr: float = 3e-3
    weight_decay: float = 1e-4
    batch_size: int = 256
    scale: float = 8.0
    seed: int = 13


def fit_emotion_head(
    embeddings: np.ndarray,
    targets: np.ndarray,
    config: EmotionHeadConfig | None = None,
    log: Callable[[str], None] = print,
) -> torch.nn.Linear:
    """A linear multi-label head over ``embeddings`` (n x dim) for ``targets`` (n x
    labels, 0/1), trained with binary cross-entropy; its weights read the embeddings
    as they are (the config's ``scale`` folded in)."""
    config = config or EmotionHeadConfig()
    if len(embeddings) != len(targets) or len(embeddings) == 0:
        raise ValueError(f"{len(embeddings)} embeddings for {len(targets)} targets")
    torch.manual_seed(config.seed)
    generator = torch.Generator().manual_seed(config.seed)
    x = torch.from_numpy(np.asarray(embeddings, dtype=np.float32)) * config.scale
    y = torch.from_numpy(np.asarray(targets, dtype=np.float32))
    head = torch.nn.Linear(x.shape[1], y.shape[1])
    optimiser = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    for epoch in range(config.epochs):
        total = 0.0
        order = torch.randperm(len(x), generator=generator)
        for batch in torch.split(order, config.batch_size):
            loss = torch.nn.functional.binary_cross_entropy_with_logits(head(x[batch]), y[batch])
            optimiser.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimiser.step()
            total += float(loss.detach()) * len(batch)
        if epoch % 5 == 0 or epoch == config.epochs - 1:
            log(f"epoch {epoch + 1}/{config.epochs}: loss {total / len(x):.4f}")
    with torch.no_grad():
        head.weight.mul_(config.scale)
    return head.eval()


def refit_emotion_head(
    model_dir: Path,
    data_dir: Path,
    out_dir: Path,
    config: EmotionHeadConfig | None = None,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """A copy of the runtime model at ``model_dir`` in ``out_dir`` with an emotion head
    trained on its frozen encoder's embeddings (``emotions.onnx``; see the module
    notes), the emotions calibrated again and their thresholds chosen again. Returns
    the new emotion calibration."""
    config = config or EmotionHeadConfig()
    model_dir, data_dir, out_dir = Path(model_dir), Path(data_dir), Path(out_dir)
    rows = read_goemotions(data_dir, "train")
    targets = np.array([row.emotion_target() for row in rows], dtype=np.float32)
    log(f"{len(rows):,} GoEmotions training texts to embed")
    encoder = OnnxAffectModel(model_dir, cache_size=0, batch_size=32)
    embeddings = encoder.embed([row.text for row in rows])
    head = fit_emotion_head(embeddings, targets, config, log)
    _copy_with(model_dir, out_dir, "emotion_head", asdict(config))
    export_emotion_graph(head, out_dir / "emotions.onnx")
    return recalibrate(out_dir, data_dir, heads=("emotions",), emotion_thresholds=True)
