"""How to quantize the affect model: every candidate runtime graph beside the fp32 one.

Builds each candidate from a training run's fp32 ONNX graph (``model_fp32.onnx``) with the
same code the export uses (``escalate.affect.train.build_runtime``), and scores it on the
dev splits only (GoEmotions dev, Bitext dev), so the choice never sees a test split:

- accuracy: GoEmotions dev macro-F1 over the 28 emotions (the run's thresholds),
  sentiment accuracy, Bitext dev human-request recall and F1, each as a difference from
  the fp32 graph;
- closeness: mean absolute difference of the probabilities from the fp32 graph's,
  human-request decisions flipped, mean cosine of the embeddings to the fp32 ones;
- cost: batch-1 latency p50 on one thread and the size on disk.

The export takes the candidate named by ``escalate.affect.train.QUANTIZATION`` (marked
with ``*``). Usage::

    python benchmarks/quantization.py --run runs/affect --data ../shared/data [--write]

``--write`` puts the table into ``benchmarks/RESULTS.md`` under
``## Affect model: quantization``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from _results import replace_section  # noqa: E402

from affect import f1, macro_f1_multilabel  # noqa: E402
from escalate.affect.base import EMOTION_LABELS  # noqa: E402
from escalate.affect.data import (  # noqa: E402
    BITEXT_HUMAN_INTENT,
    bitext_split,
    default_data_dir,
    read_bitext,
    read_goemotions,
)
from escalate.affect.onnx import OnnxAffectModel  # noqa: E402

HEADING = "## Affect model: quantization"
MATMUL_GATHER = ["MatMul", "Gather"]
#: A fused graph carries the attention weights in Attention nodes and the word embeddings
#: in an EmbedLayerNormalization node; without those two it stays over 60 MB.
FUSED_OPS = ["MatMul", "Gather", "Attention", "EmbedLayerNormalization"]

CANDIDATES: dict[str, dict[str, Any]] = {
    "unfused, per-tensor": {"fused": False, "op_types": MATMUL_GATHER, "per_channel": False},
    "unfused, per-channel": {"fused": False, "op_types": MATMUL_GATHER, "per_channel": True},
    "unfused, per-channel, layer 0 fp32": {
        "fused": False,
        "op_types": MATMUL_GATHER,
        "per_channel": True,
        "keep_fp32": ["/layer.0/"],
    },
    "unfused, per-channel, layer-0 attention fp32": {
        "fused": False,
        "op_types": MATMUL_GATHER,
        "per_channel": True,
        "keep_fp32": ["/layer.0/attention/"],
    },
    "unfused, per-channel, layer-0 feed-forward fp32": {
        "fused": False,
        "op_types": MATMUL_GATHER,
        "per_channel": True,
        "keep_fp32": ["/layer.0/intermediate/", "/layer.0/output/"],
    },
    "unfused, per-channel, layer-5 feed-forward fp32": {
        "fused": False,
        "op_types": MATMUL_GATHER,
        "per_channel": True,
        "keep_fp32": ["/layer.5/intermediate/", "/layer.5/output/"],
    },
    "fused, attention and embeddings fp32, per-tensor": {
        "fused": True,
        "op_types": MATMUL_GATHER,
        "per_channel": False,
    },
    "fused, per-tensor": {"fused": True, "op_types": FUSED_OPS, "per_channel": False},
    "fused, per-channel": {"fused": True, "op_types": FUSED_OPS, "per_channel": True},
}


class DevSets:
    def __init__(self, data: Path, seed: int) -> None:
        rows = read_goemotions(data, "dev")
        self.ge_texts = [r.text for r in rows]
        self.ge_y = np.zeros((len(rows), len(EMOTION_LABELS)), dtype=bool)
        for i, r in enumerate(rows):
            self.ge_y[i, list(r.emotions)] = True
        self.sentiment = [(i, r.sentiment) for i, r in enumerate(rows) if r.sentiment]
        dev = bitext_split(read_bitext(data), seed=seed)["dev"]
        self.bt_texts = [r.text for r in dev]
        self.bt_y = np.array([r.intent == BITEXT_HUMAN_INTENT for r in dev])


def score(folder: Path, dev: DevSets) -> dict[str, Any]:
    model = OnnxAffectModel(folder, threads=1, cache_size=0)
    sent, emo, human = model.predict_arrays(dev.ge_texts)
    _, _, bt_human = model.predict_arrays(dev.bt_texts)
    macro = macro_f1_multilabel(emo, dev.ge_y, model.emotion_thresholds)
    labels = model.sentiment_labels
    sent_acc = float(np.mean([labels[int(np.argmax(sent[i]))] == g for i, g in dev.sentiment]))
    flagged = bt_human >= model.human_request_threshold
    tp, fp, fn = (float(np.sum(flagged & dev.bt_y)), float(np.sum(flagged & ~dev.bt_y)),
                  float(np.sum(~flagged & dev.bt_y)))  # fmt: skip
    times = []
    for text in dev.ge_texts[:600]:
        start = time.perf_counter()
        model.predict_one(text)
        times.append(time.perf_counter() - start)
    return {
        "macro_f1": macro,
        "sent_acc": sent_acc,
        "hr_recall": tp / (tp + fn) if tp + fn else 0.0,
        "hr_f1": f1(tp, fp, fn),
        "sent": sent,
        "emo": emo,
        "human": np.concatenate([human, bt_human]),
        "threshold": model.human_request_threshold,
        "embedding": model.embed(dev.bt_texts) if model.has_embeddings else None,
        "p50_ms": statistics.median(times[100:]) * 1000,
        "size_mb": (folder / "model.onnx").stat().st_size / 1e6,
    }


def pts(x: float) -> str:
    return f"{100 * x:+.1f}"


def render(results: dict[str, dict[str, Any]], chosen: str | None, command: str) -> str:
    base = results["fp32 (no quantization)"]
    lines = [
        HEADING,
        "",
        f"`{command}` — candidate runtime graphs of the affect model on the dev splits "
        "(GoEmotions dev, Bitext dev); accuracy columns are percentage points against the "
        "fp32 graph; |Δp| is the mean absolute difference of the probabilities from the "
        "fp32 graph's; flips counts human-request decisions that change; latency is one "
        "text per call on one thread. `*` marks the graph `escalate train` ships. The "
        "emotion thresholds were chosen on GoEmotions dev with the fp32 model's "
        "probabilities, so dev macro-F1 favours the fp32 graph; |Δp| and the embedding "
        "cosine are the unbiased measures of closeness.",
        "",
        "| graph | macro-F1 | sentiment acc. | HR recall | HR F1 | |Δp| sentiment | "
        "|Δp| emotions | |Δp| HR | HR flips | embedding cosine | p50 (ms) | size (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        cos = (
            f"{float(np.mean(np.sum(r['embedding'] * base['embedding'], axis=1))):.4f}"
            if r["embedding"] is not None and base["embedding"] is not None
            else "–"
        )
        t = r["threshold"]
        flips = int(np.sum((r["human"] >= t) != (base["human"] >= t)))
        if name == "fp32 (no quantization)":
            acc = [f"{100 * r[k]:.1f}" for k in ("macro_f1", "sent_acc", "hr_recall", "hr_f1")]
        else:
            acc = [pts(r[k] - base[k]) for k in ("macro_f1", "sent_acc", "hr_recall", "hr_f1")]
        mark = " *" if name == chosen else ""
        lines.append(
            f"| {name}{mark} | "
            + " | ".join(acc)
            + f" | {np.abs(r['sent'] - base['sent']).mean():.4f}"
            f" | {np.abs(r['emo'] - base['emo']).mean():.4f}"
            f" | {np.abs(r['human'] - base['human']).mean():.4f}"
            f" | {flips} | {cos} | {r['p50_ms']:.2f} | {r['size_mb']:.1f} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    from escalate.affect.train import QUANTIZATION, build_runtime

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", type=Path, default=ROOT / "runs" / "affect")
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--only", nargs="*", default=None, help="candidate names to build")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args(argv)
    fp32 = args.run / "model_fp32.onnx"
    if not fp32.is_file():
        parser.error(f"{args.run} has no model_fp32.onnx; train or export a run first")
    config = json.loads((args.run / "config.json").read_text(encoding="utf-8"))
    seed = int(config.get("training", {}).get("seed", 13))
    dev = DevSets(args.data or default_data_dir(), seed)
    candidates = {"fp32 (no quantization)": None, **CANDIDATES}
    chosen = next((n for n, s in CANDIDATES.items() if s == QUANTIZATION), None)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name, settings in candidates.items():
            if args.only and settings is not None and name not in args.only:
                continue
            folder = Path(tmp) / f"c{len(results)}"
            folder.mkdir()
            for f in ("tokenizer.json", "config.json"):
                shutil.copy(args.run / f, folder / f)
            if settings is None:
                shutil.copy(fp32, folder / "model.onnx")
            else:
                build_runtime(fp32, folder / "model.onnx", settings)
            results[name] = score(folder, dev)
            print(f"{name}: done", file=sys.stderr, flush=True)
    command = "python benchmarks/quantization.py " + " ".join(
        argv if argv is not None else sys.argv[1:]
    )
    text = render(results, chosen, command.strip())
    print(text)
    if args.write:
        replace_section(HEADING, text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
