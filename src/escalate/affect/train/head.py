"""Train the context head again on a runtime model's frozen encoder.

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
from escalate.affect.onnx import OnnxAffectModel
from escalate.affect.train.evaluate import recalibrate
from escalate.affect.train.examples import Example, training_examples
from escalate.affect.train.export import export_context_graph
from escalate.affect.train.fit import Losses, add_context_losses, example_targets
from escalate.affect.train.network import ContextHead

__all__ = ["HeadConfig", "context_head_examples", "refit_context_head"]


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


def _load_head(path: Path, dim: int) -> ContextHead:
    import onnx
    from onnx import numpy_helper

    weights = {
        init.name.removeprefix("head."): torch.tensor(numpy_helper.to_array(init).copy())
        for init in onnx.load(str(path)).graph.initializer
    }
    hidden = int(weights["inner.weight"].shape[0])
    head = ContextHead(dim, hidden, len(CONTEXT_HEADS))
    head.load_state_dict(weights)
    return head


def _train(
    head: ContextHead,
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
    optimiser = torch.optim.AdamW(head.parameters(), lr=config.lr, weight_decay=0.01)
    rng = np.random.default_rng(config.seed)
    steps = max(1, int(config.epochs * n / config.batch_size))
    context = torch.stack([padded[bot], padded[user]], dim=1)
    present = torch.stack([bot != missing, user != missing], dim=1).float()
    held = [k for k, name in enumerate(CONTEXT_HEADS) if name not in config.heads]
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
    torch.manual_seed(config.seed)
    examples = context_head_examples(data_dir, config.seed, config.message_rows)
    texts = sorted({t for e in examples for t in (e.text, e.bot, e.user) if t})
    log(f"{len(examples):,} examples, {len(texts):,} texts to embed")
    encoder = OnnxAffectModel(model_dir, cache_size=0, batch_size=32)
    embeddings = torch.from_numpy(encoder.embed(texts))
    dim = int(embeddings.shape[1])
    head = _load_head(model_dir / "context.onnx", dim)
    _train(head, examples, embeddings, {t: i for i, t in enumerate(texts)}, config, log)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(model_dir, out_dir)
    export_context_graph(head, out_dir / "context.onnx", dim)
    path = out_dir / "config.json"
    settings = json.loads(path.read_text(encoding="utf-8"))
    settings.setdefault("training", {})["context_head"] = asdict(config)
    path.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
    # every head's logits moved (the held ones a little): all three are calibrated again
    return recalibrate(out_dir, data_dir, heads=CONTEXT_HEADS)
