"""Affect model benchmark: accuracy and speed of the int8 ONNX model, side by side.

Columns: the shipped int8 ONNX model, the same network in fp32 torch before quantization
(when a training run folder is given with ``--fp32``), VADER, and a keyword rule for human
requests. Accuracy is measured on test splits only for reporting; every threshold was
chosen on dev splits during training.

Usage::

    python benchmarks/affect.py --data ../shared/data --fp32 runs/affect

The tables are printed and written to ``benchmarks/RESULTS.md`` under ``## Affect model``
(other sections of that file are left as they are).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from escalate.affect.base import EMOTION_LABELS, SENTIMENT_LABELS  # noqa: E402
from escalate.affect.data import (  # noqa: E402
    BITEXT_HUMAN_INTENT,
    BITEXT_REPORTED_INTENTS,
    TWEETEVAL_EMOTION_LABELS,
    TWEETEVAL_EMOTION_MAP,
    bitext_split,
    default_data_dir,
    read_bitext,
    read_goemotions,
    read_tweeteval,
)

#: What a system returns for a list of texts: sentiment (n x 3), emotions (n x 28) or None,
#: human request (n,) or None.
Predictions = tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]

HUMAN_KEYWORDS = re.compile(
    r"\b(human|person|agent|representative|operator|somebody|someone|manager|supervisor)\b",
    re.IGNORECASE,
)

# --------------------------------------------------------------------------- systems


def onnx_system(model_dir: Path, threads: int | None) -> tuple[Callable[..., Predictions], Any]:
    from escalate.affect.onnx import OnnxAffectModel

    # no cache: every call runs the model, so repeated texts cannot flatter the timings
    model = OnnxAffectModel.from_path(model_dir, threads=threads, cache_size=0)

    def predict(texts: Sequence[str], batch_size: int = 32) -> Predictions:
        # The engine scores each text alone (exact and repeatable, see OnnxAffectModel), and
        # accuracy is measured the same way; only the throughput run batches 32 texts a call.
        model.batch_size = 32 if batch_size == 32 else 1
        return model.predict_arrays(list(texts))

    return predict, model


def torch_system(run_dir: Path, threads: int | None) -> tuple[Callable[..., Predictions], Any]:
    import torch

    from escalate.affect.train import load_torch_model, predict_torch

    if threads:
        torch.set_num_threads(threads)
    model, tokenizer, config = load_torch_model(run_dir)
    max_length = int(config["max_length"])

    def predict(texts: Sequence[str], batch_size: int = 32) -> Predictions:
        return predict_torch(model, tokenizer, list(texts), max_length, batch_size=batch_size)

    return predict, model


def vader_system() -> tuple[Callable[..., Predictions], Any]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()

    def predict(texts: Sequence[str], batch_size: int = 32) -> Predictions:
        sent = np.zeros((len(texts), 3), dtype=np.float32)
        for i, text in enumerate(texts):
            compound = analyzer.polarity_scores(text)["compound"]
            # the thresholds VADER's authors recommend: >= 0.05 positive, <= -0.05 negative
            sent[i, 0 if compound <= -0.05 else 2 if compound >= 0.05 else 1] = 1.0
        return sent, None, None

    return predict, analyzer


def keyword_system() -> tuple[Callable[..., Predictions], Any]:
    def predict(texts: Sequence[str], batch_size: int = 32) -> Predictions:
        human = np.array([1.0 if HUMAN_KEYWORDS.search(t) else 0.0 for t in texts])
        return None, None, human.astype(np.float32)

    return predict, HUMAN_KEYWORDS


# --------------------------------------------------------------------------- metrics


def f1(tp: float, fp: float, fn: float) -> float:
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def macro_f1_multilabel(probs: np.ndarray, y: np.ndarray, thresholds: np.ndarray) -> float:
    pred = probs >= thresholds
    return float(
        np.mean(
            [
                f1(
                    float(np.sum(pred[:, j] & y[:, j])),
                    float(np.sum(pred[:, j] & ~y[:, j])),
                    float(np.sum(~pred[:, j] & y[:, j])),
                )
                for j in range(y.shape[1])
            ]
        )
    )


def single_label(pred: np.ndarray, gold: np.ndarray, n: int) -> dict[str, float]:
    recalls = [float(np.mean(pred[gold == c] == c)) for c in range(n) if np.any(gold == c)]
    f1s = []
    for c in range(n):
        tp = float(np.sum((pred == c) & (gold == c)))
        f1s.append(
            f1(
                tp,
                float(np.sum((pred == c) & (gold != c))),
                float(np.sum((pred != c) & (gold == c))),
            )
        )
    return {
        "acc": float(np.mean(pred == gold)),
        "macro_recall": float(np.mean(recalls)),
        "macro_f1": float(np.mean(f1s)),
    }


class Eval:
    """The evaluation sets, loaded once."""

    def __init__(self, data: Path, seed: int, limit: int | None = None) -> None:
        test = read_goemotions(data, "test")[:limit]
        self.ge_texts = [r.text for r in test]
        self.ge_emotions = np.array(
            [[i in r.emotions for i in range(len(EMOTION_LABELS))] for r in test]
        )
        self.ge_sent_idx = np.array([i for i, r in enumerate(test) if r.sentiment is not None])
        self.ge_sent_gold = np.array(
            [SENTIMENT_LABELS.index(test[i].sentiment or "") for i in self.ge_sent_idx]
        )
        self.ge_ambiguous = len(test) - len(self.ge_sent_idx)
        texts, labels = read_tweeteval(data, "sentiment", "val")
        self.tw_sent_texts, self.tw_sent_gold = texts[:limit], np.array(labels[:limit])
        texts, labels = read_tweeteval(data, "emotion", "test")
        self.tw_emo_texts, self.tw_emo_gold = texts[:limit], np.array(labels[:limit])
        split = bitext_split(read_bitext(data), seed=seed)
        self.bx_texts = [r.text for r in split["test"]]
        self.bx_gold = np.array([r.intent == BITEXT_HUMAN_INTENT for r in split["test"]])
        self.bx_intents = [r.intent for r in split["test"]]
        self.bx_reported = {
            intent: [r.text for r in split["reported"] if r.intent == intent]
            for intent in BITEXT_REPORTED_INTENTS
        }

    def score(
        self, predict: Callable[..., Predictions], thresholds: np.ndarray, human_threshold: float
    ) -> dict[str, float | None]:
        out: dict[str, float | None] = {}
        sent, emo, human = predict(self.ge_texts, batch_size=64)
        if emo is not None:
            out["ge_macro_f1"] = macro_f1_multilabel(emo, self.ge_emotions, thresholds)
        if sent is not None:
            m = single_label(sent[self.ge_sent_idx].argmax(1), self.ge_sent_gold, 3)
            out["ge_sent_acc"], out["ge_sent_recall"] = m["acc"], m["macro_recall"]
            s, _, _ = predict(self.tw_sent_texts, batch_size=64)
            assert s is not None
            m = single_label(s.argmax(1), self.tw_sent_gold, 3)
            out["tw_sent_acc"], out["tw_sent_recall"] = m["acc"], m["macro_recall"]
        if emo is not None:
            _, e, _ = predict(self.tw_emo_texts, batch_size=64)
            assert e is not None
            cols = [
                [EMOTION_LABELS.index(m) for m in TWEETEVAL_EMOTION_MAP[c]]
                for c in TWEETEVAL_EMOTION_LABELS
            ]
            grouped = np.stack([e[:, c].max(1) for c in cols], axis=1)
            m = single_label(grouped.argmax(1), self.tw_emo_gold, 4)
            out["tw_emo_acc"], out["tw_emo_f1"] = m["acc"], m["macro_f1"]
        if human is not None:
            ge_flag = float(np.mean(human >= human_threshold))
            _, _, h = predict(self.bx_texts, batch_size=64)
            assert h is not None
            pred = h >= human_threshold
            y = self.bx_gold
            tp, fp, fn = (
                float(np.sum(pred & y)),
                float(np.sum(pred & ~y)),
                float(np.sum(~pred & y)),
            )
            out["hr_precision"] = tp / (tp + fp) if tp + fp else 0.0
            out["hr_recall"] = tp / (tp + fn) if tp + fn else 0.0
            out["hr_f1"] = f1(tp, fp, fn)
            for intent, texts in self.bx_reported.items():
                _, _, h = predict(texts, batch_size=64)
                assert h is not None
                out[f"hr_rate_{intent}"] = float(np.mean(h >= human_threshold))
            out["hr_rate_goemotions"] = ge_flag
        return out


ROWS: list[tuple[str, str]] = [
    ("ge_macro_f1", "GoEmotions test: macro-F1, 28 emotions"),
    ("ge_sent_acc", "GoEmotions test: sentiment accuracy"),
    ("ge_sent_recall", "GoEmotions test: sentiment macro-recall"),
    ("tw_sent_acc", "TweetEval sentiment val: accuracy"),
    ("tw_sent_recall", "TweetEval sentiment val: macro-recall"),
    ("tw_emo_acc", "TweetEval emotion test (4 classes, mapped): accuracy"),
    ("tw_emo_f1", "TweetEval emotion test (4 classes, mapped): macro-F1"),
    ("hr_precision", "Bitext held-out: human_request precision"),
    ("hr_recall", "Bitext held-out: human_request recall"),
    ("hr_f1", "Bitext held-out: human_request F1"),
    ("hr_rate_contact_customer_service", "Bitext contact_customer_service: share flagged"),
    ("hr_rate_complaint", "Bitext complaint: share flagged"),
    ("hr_rate_goemotions", "GoEmotions test (Reddit comments): share flagged"),
]


def batch_consistency(model_dir: Path, texts: Sequence[str], threads: int | None) -> str:
    """How far scores of texts in batches of 32 are from the same texts scored alone."""
    from escalate.affect.onnx import OnnxAffectModel

    model = OnnxAffectModel.from_path(model_dir, threads=threads, batch_size=32)
    batched = model.predict_arrays(list(texts))
    alone = [model.predict_arrays([t]) for t in texts]
    parts = []
    for k, name in enumerate(("sentiment", "emotions", "human_request")):
        one = np.stack([a[k].reshape(-1) for a in alone])
        diff = np.abs(one - batched[k].reshape(len(texts), -1)).max(axis=1)
        parts.append(f"{name} mean {diff.mean():.4f} / max {diff.max():.4f}")
    return (
        f"Batch consistency of the int8 model ({len(texts)} GoEmotions test texts, largest "
        "absolute difference per text between a batch of 32 and the text alone): "
        + "; ".join(parts)
        + "."
    )


def topic_matching(model_dir: Path, ev: Eval, threads: int | None) -> str:
    """Same-problem matching of the model's embeddings against the hashing embedder.

    Every pair of Bitext held-out texts; truth: the two texts have the same intent.
    """
    from escalate.affect.embedding import HashingEmbedder, topic_pairs, topic_similarity_for
    from escalate.affect.onnx import OnnxAffectModel

    model = OnnxAffectModel.from_path(model_dir, threads=threads)
    if not model.has_embeddings:
        return "Topic matching: the model has no embedding output."
    hashing = HashingEmbedder()
    lines = [
        f"Topic matching (every pair of the {len(ev.bx_texts)} Bitext held-out texts; "
        "a pair is the same problem when both texts have the same intent; the model's "
        "threshold was chosen on Bitext dev):",
        "",
        "| embedder | threshold | precision | recall | F1 |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, embedder in (("int8 ONNX embedding", model), ("hashed words (no model)", hashing)):
        threshold = topic_similarity_for(embedder)
        m = topic_pairs(embedder.embed(ev.bx_texts), ev.bx_intents, threshold)
        lines.append(
            f"| {name} | {threshold:.2f} | {100 * m['precision']:.1f} "
            f"| {100 * m['recall']:.1f} | {100 * m['f1']:.1f} |"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- speed


def speed_worker(kind: str, path: str, data: str, threads: int | None) -> dict[str, Any]:
    """Measure one system in this (fresh) process: load time, latency, throughput, RSS."""
    texts = [r.text for r in read_goemotions(Path(data), "test")]
    start = time.perf_counter()
    if kind == "onnx":
        predict, _ = onnx_system(Path(path), threads)
    elif kind == "torch":
        predict, _ = torch_system(Path(path), threads)
    else:
        predict, _ = vader_system()
    load_s = time.perf_counter() - start
    for t in texts[:50]:
        predict([t], batch_size=1)
    single = texts[:1000]
    lat = []
    for t in single:
        t0 = time.perf_counter()
        predict([t], batch_size=1)
        lat.append(time.perf_counter() - t0)
    bulk = texts[1000:3048]
    predict(bulk[:64], batch_size=32)
    t0 = time.perf_counter()
    for i in range(0, len(bulk), 32):  # the caller sends batches of 32, as a backend would
        predict(bulk[i : i + 32], batch_size=32)
    elapsed = time.perf_counter() - t0
    return {
        "load_s": load_s,
        "p50_ms": float(np.percentile(lat, 50) * 1000),
        "p99_ms": float(np.percentile(lat, 99) * 1000),
        "tput": len(bulk) / elapsed,
        "rss_mb": peak_rss_mb(),
    }


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_speed(kind: str, path: str, data: Path, threads: int | None) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--speed-worker",
        kind,
        "--worker-path",
        path,
        "--data",
        str(data),
    ]
    if threads:
        cmd += ["--threads", str(threads)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --------------------------------------------------------------------------- report


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def fmt(value: float | None, pct: bool = True) -> str:
    if value is None:
        return "n/a"
    return f"{100 * value:.1f}" if pct else f"{value:.3f}"


def render(
    acc: dict[str, dict[str, float | None]], speed: dict[str, dict[str, Any]], meta: dict[str, str]
) -> str:
    names = list(acc)
    lines = [
        "## Affect model",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; machine: {meta['machine']}  ",
        f"Model: `{meta['model']}` ({meta['size']}); fp32 column: `{meta['fp32']}`.",
        "",
        "Accuracy (percent; every threshold chosen on dev splits; test splits scored once).",
        "",
        "| metric | " + " | ".join(names) + (" | int8 - fp32 |" if "fp32 torch" in acc else " |"),
        "|---|" + "---:|" * len(names) + ("---:|" if "fp32 torch" in acc else ""),
    ]
    for key, label in ROWS:
        cells = [fmt(acc[n].get(key)) for n in names]
        row = f"| {label} | " + " | ".join(cells) + " |"
        if "fp32 torch" in acc:
            a, b = acc["int8 ONNX"].get(key), acc["fp32 torch"].get(key)
            row += f" {100 * (a - b):+.1f} |" if a is not None and b is not None else " |"
        lines.append(row)
    lines += [
        "",
        "Speed (GoEmotions test texts, max 64 tokens; batch 1 = one text per call; "
        "batch 32 = calls of 32 texts; each system measured in a fresh process).",
        "",
        "| system | load (s) | batch-1 p50 (ms) | batch-1 p99 (ms) | batch-32 texts/s "
        "| peak RSS (MB) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, s in speed.items():
        lines.append(
            f"| {name} | {s['load_s']:.2f} | {s['p50_ms']:.2f} | {s['p99_ms']:.2f} "
            f"| {s['tput']:.0f} | {s['rss_mb']:.0f} |"
        )
    lines += ["", meta["consistency"], "", meta["topics"], "", meta["notes"], ""]
    return "\n".join(lines)


def write_section(path: Path, section: str) -> None:
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n\n"
    pattern = re.compile(r"^## Affect model\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section.rstrip("\n") + "\n\n", text, count=1)
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text.rstrip("\n") + "\n", encoding="utf-8")


NOTES = """\
Notes. Sentiment gold labels come from the GoEmotions `group` labels; texts whose only group
is `ambiguous`, or that carry two different non-ambiguous groups, are left out of the
sentiment figures ({ambiguous} of {total} test texts); training sets `ambiguous` aside the same
way. TweetEval emotion classes are scored as the highest probability among their GoEmotions
members: anger <- {anger}; joy <- {joy}; optimism <- {optimism}; sadness <- {sadness}. VADER
labels a text positive when compound >= 0.05 and negative when <= -0.05. The keyword column
flags a human request when the text contains one of: human, person, agent, representative,
operator, somebody, someone, manager, supervisor. The Bitext held-out split is the seeded,
intent-stratified 20 % test split of `escalate.affect.data.bitext_split` (seed {seed}); the
`contact_customer_service` and `complaint` intents are in no split and were never trained on.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "affect")
    parser.add_argument("--fp32", type=Path, default=ROOT / "runs" / "affect")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument(
        "--speed-worker", choices=["onnx", "torch", "vader"], help=argparse.SUPPRESS
    )
    parser.add_argument("--worker-path", default="", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = args.data if args.data is not None else default_data_dir()
    if args.speed_worker:
        print(
            json.dumps(speed_worker(args.speed_worker, args.worker_path, str(data), args.threads))
        )
        return 0

    config = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    thresholds = np.array([config["emotion_thresholds"][lab] for lab in EMOTION_LABELS])
    human_t = float(config.get("human_request_threshold", 0.5))
    seed = int(config.get("training", {}).get("seed", 13))
    ev = Eval(data, seed, args.limit)
    have_fp32 = (args.fp32 / "fp32" / "model.safetensors").is_file()

    systems: dict[str, Callable[[], tuple[Callable[..., Predictions], Any]]] = {
        "int8 ONNX": lambda: onnx_system(args.model, args.threads)
    }
    if have_fp32:
        systems["fp32 torch"] = lambda: torch_system(args.fp32, args.threads)
    systems["VADER"] = vader_system
    systems["keyword"] = keyword_system
    acc: dict[str, dict[str, float | None]] = {}
    for name, build in systems.items():
        t0 = time.perf_counter()
        predict, _ = build()
        acc[name] = ev.score(predict, thresholds, human_t)
        print(f"{name}: scored in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    consistency = batch_consistency(args.model, ev.ge_texts[:500], args.threads)
    topics = topic_matching(args.model, ev, args.threads)

    speed: dict[str, dict[str, Any]] = {}
    if not args.no_speed:
        speed["int8 ONNX"] = run_speed("onnx", str(args.model), data, args.threads)
        if have_fp32:
            speed["fp32 torch"] = run_speed("torch", str(args.fp32), data, args.threads)
        speed["VADER"] = run_speed("vader", "", data, args.threads)

    size = sum(
        (args.model / n).stat().st_size for n in ("model.onnx", "tokenizer.json", "config.json")
    )

    def rel(p: str | Path) -> str:
        return os.path.relpath(p, Path.cwd())

    command = "python " + " ".join([rel(__file__), *(argv if argv is not None else sys.argv[1:])])
    meta = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPU cores, "
        f"{platform.system()}, Python {platform.python_version()}",
        "model": rel(args.model),
        "size": f"{size / 1e6:.1f} MB",
        "fp32": rel(args.fp32) if have_fp32 else "absent",
        "consistency": consistency,
        "topics": topics,
        "notes": NOTES.format(
            ambiguous=ev.ge_ambiguous,
            total=len(ev.ge_texts),
            seed=seed,
            **{c: ", ".join(TWEETEVAL_EMOTION_MAP[c]) for c in TWEETEVAL_EMOTION_LABELS},
        ),
    }
    section = render(acc, speed, meta)
    print(section)
    if not args.no_write:
        write_section(args.results, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
