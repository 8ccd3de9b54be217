"""Affect model benchmark: every head of the shipped model beside the previous model and
the baselines, on every dev and test split, with calibration, behaviour and speed.

Columns: the shipped int8 model; the same network in fp32 torch (``--fp32 RUN``, a
training run folder); the previous shipped model (``--previous DIR``, a model folder of an
earlier release: it reads no context and has no dissatisfaction or distress head, so its
negative sentiment stands in for dissatisfaction and its ``mood.distress`` for distress);
VADER (its negativity, ``(1 - compound) / 2``, stands in for dissatisfaction); and a
keyword rule for human requests.

Usage::

    git show 31b4ca9:models/affect/model.onnx > runs/previous/model.onnx   # and the others
    python benchmarks/affect.py --data ../shared/data --fp32 runs/affect --previous runs/previous

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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from escalate.affect.base import (  # noqa: E402
    EMOTION_GROUPS,
    EMOTION_LABELS,
    SENTIMENT_LABELS,
    AffectScores,
    MessageContext,
)
from escalate.affect.checklist import SUITES, direction, invariance, load_suite  # noqa: E402
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
    read_uss,
    uss_split,
)
from escalate.affect.train.evaluate import f1_score as f1  # noqa: E402
from escalate.affect.train.evaluate import roc_auc  # noqa: E402
from escalate.affect.train.examples import complaint_split  # noqa: E402
from escalate.calibration import expected_calibration_error  # noqa: E402

HUMAN_KEYWORDS = re.compile(
    r"\b(human|person|agent|representative|operator|somebody|someone|manager|supervisor)\b",
    re.IGNORECASE,
)
HEADS = ("human_request", "dissatisfaction", "distress")
#: What a bot says before a customer's first message: the distress suite is also read
#: after it, as a conversation's opening message is.
GREETING = "Hi, I'm the virtual assistant. How can I help you today?"
#: Exchanges a vulnerable customer may speak after, later in a conversation: the bot's
#: message and the customer's message before it (the test half's cases take them in turn).
LATER = (
    ("Which date would you like to book?", "I need to book an appointment."),
    ("Sure. What is your account number?", "I have a question about my bill."),
    ("I found 3 restaurants in the centre. Any price range?", "Somewhere to eat in the centre."),
    ("Is there anything else I can help with?", "Thanks, that's great."),
    ("Your order has been updated. Can I help with anything else today?", "ok thank you"),
)

# --------------------------------------------------------------------------- systems


class System:
    """Scores messages with their contexts; one :class:`AffectScores` per message."""

    name = ""
    emotions = True
    proxies: ClassVar[dict[str, str]] = {}

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        return self.predict_in_context(texts, [None] * len(texts))


class OnnxSystem(System):
    def __init__(self, name: str, path: Path, threads: int | None) -> None:
        from escalate.affect.onnx import OnnxAffectModel

        self.name = name
        self.model = OnnxAffectModel.from_path(path, threads=threads, cache_size=1 << 16)
        self.thresholds = self.model.emotion_thresholds
        if not self.model.reads_context:
            self.proxies = {"dissatisfaction": "sentiment.negative", "distress": "mood.distress"}

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        return self.model.predict_in_context(list(texts), list(contexts))


class TorchSystem(System):
    def __init__(self, run: Path, threads: int | None) -> None:
        import torch

        from escalate.affect.train import load_torch_model

        if threads:
            torch.set_num_threads(threads)
        self.name = "fp32 torch"
        self.model, self.tokenizer, config = load_torch_model(run)
        self.max_length = int(config["max_length"])
        self.calibration = json.loads((run / "config.json").read_text()).get("calibration", {})
        self.thresholds = np.array(
            [config["emotion_thresholds"][label] for label in EMOTION_LABELS]
        )

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        from escalate.affect.train.evaluate import HeadScores, apply_calibration
        from escalate.affect.train.examples import Example
        from escalate.affect.train.fit import predict_torch

        items = [
            Example(t, bot=c.bot if c else None, user=c.user if c else None)
            for t, c in zip(texts, contexts, strict=True)
        ]
        p = predict_torch(self.model, self.tokenizer, items, self.max_length)
        cal = apply_calibration(self.calibration, HeadScores(p.sentiment, p.emotions, p.context))
        return [
            AffectScores(
                sentiment=dict(zip(SENTIMENT_LABELS, map(float, cal["sentiment"][i]), strict=True)),
                emotions=dict(zip(EMOTION_LABELS, map(float, cal["emotions"][i]), strict=True)),
                human_request=float(cal["human_request"][i]),
                dissatisfaction=float(cal["dissatisfaction"][i]),
                distress=float(cal["distress"][i]),
            )
            for i in range(len(items))
        ]


class VaderSystem(System):
    name = "VADER"
    emotions = False
    proxies: ClassVar[dict[str, str]] = {"dissatisfaction": "(1 - compound) / 2"}

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self.analyzer = SentimentIntensityAnalyzer()

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        out = []
        for text in texts:
            compound = self.analyzer.polarity_scores(text)["compound"]
            # the thresholds VADER's authors recommend: >= 0.05 positive, <= -0.05 negative
            label = (
                "negative" if compound <= -0.05 else "positive" if compound >= 0.05 else "neutral"
            )
            out.append(
                AffectScores(
                    sentiment={s: float(s == label) for s in SENTIMENT_LABELS},
                    emotions={},
                    human_request=0.0,
                    dissatisfaction=(1 - compound) / 2,
                )
            )
        return out


class KeywordSystem(System):
    name = "keyword"
    emotions = False

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        return [
            AffectScores(
                sentiment={},
                emotions={},
                human_request=1.0 if HUMAN_KEYWORDS.search(t) else 0.0,
            )
            for t in texts
        ]


def head_value(system: System, scores: AffectScores, head: str) -> float | None:
    """A head's value, or the stand-in the system uses for it (see the notes)."""
    value = getattr(scores, head)
    if value is not None:
        return float(value)
    proxy = system.proxies.get(head)
    if proxy == "sentiment.negative":
        return scores.sentiment.get("negative", 0.0)
    if proxy == "mood.distress":
        return max(scores.emotions.get(m, 0.0) for m in EMOTION_GROUPS["distress"])
    return None


# --------------------------------------------------------------------------- data


@dataclass
class Messages:
    texts: list[str] = field(default_factory=list)
    contexts: list[MessageContext | None] = field(default_factory=list)


@dataclass
class UssSet:
    messages: Messages
    share: np.ndarray
    dialogue: list[str]
    needs: dict[str, bool]


def uss_set(data: Path, domain: str, part: str, seed: int) -> UssSet:
    dialogues = uss_split(read_uss(data, domain), seed=seed)[part]
    messages, shares, ids = Messages(), [], []
    for d in dialogues:
        for turn, context in d.rated_turns():
            messages.texts.append(turn.text)
            messages.contexts.append(context)
            shares.append(turn.dissatisfied_share or 0.0)
            ids.append(d.id)
    return UssSet(messages, np.array(shares), ids, {d.id: d.needs_human for d in dialogues})


class Eval:
    """Every evaluation set, loaded once."""

    def __init__(self, data: Path, seed: int) -> None:
        test = read_goemotions(data, "test")
        dev = read_goemotions(data, "dev")
        self.ge = {"test": test, "dev": dev}
        texts, labels = read_tweeteval(data, "sentiment", "val")
        self.tw_sent = (texts, np.array(labels))
        texts, labels = read_tweeteval(data, "emotion", "test")
        self.tw_emo = (texts, np.array(labels))
        rows = read_bitext(data)
        split = bitext_split(rows, seed=seed)
        self.bitext = {p: split[p] for p in ("dev", "test")}
        self.reported = {
            i: [r.text for r in split["reported"] if r.intent == i] for i in BITEXT_REPORTED_INTENTS
        }
        self.complaints = complaint_split(rows, seed)["test"]
        self.uss = {
            (domain, part): uss_set(data, domain, part, seed)
            for domain in ("mwoz", "sgd")
            for part in ("dev", "test")
        }


# --------------------------------------------------------------------------- metrics


def macro_recall(pred: np.ndarray, gold: np.ndarray, n: int) -> float:
    return float(np.mean([np.mean(pred[gold == c] == c) for c in range(n) if np.any(gold == c)]))


def macro_f1(pred: np.ndarray, gold: np.ndarray, n: int) -> float:
    return float(np.mean([f1(pred == c, gold == c) for c in range(n)]))


def sentiment_array(scores: list[AffectScores]) -> np.ndarray:
    return np.array([[s.sentiment.get(k, 0.0) for k in SENTIMENT_LABELS] for s in scores])


def emotion_array(scores: list[AffectScores]) -> np.ndarray:
    return np.array([[s.emotions.get(k, 0.0) for k in EMOTION_LABELS] for s in scores])


def score_system(system: System, ev: Eval) -> dict[str, float | None]:
    """Every accuracy figure of one system (``None``: not applicable)."""
    out: dict[str, float | None] = {}
    thresholds = getattr(system, "thresholds", None)
    for part in ("test", "dev"):
        rows = ev.ge[part]
        scores = system.predict([r.text for r in rows])
        gold_sent = [(i, r.sentiment) for i, r in enumerate(rows) if r.sentiment is not None]
        sent = sentiment_array(scores)
        if sent.any():
            idx = np.array([i for i, _ in gold_sent])
            gold = np.array([SENTIMENT_LABELS.index(g or "") for _, g in gold_sent])
            pred = sent[idx].argmax(1)
            out[f"ge_{part}_sent_acc"] = float(np.mean(pred == gold))
            out[f"ge_{part}_sent_recall"] = macro_recall(pred, gold, 3)
            if system.emotions:
                top = sent[idx].max(1)
                out[f"ece_{part}_sentiment"] = expected_calibration_error(top, pred == gold)
        if system.emotions and thresholds is not None:
            emo = emotion_array(scores)
            y = np.array([r.emotion_target() for r in rows]) > 0.5
            pred_e = emo >= thresholds
            out[f"ge_{part}_macro_f1"] = float(
                np.mean([f1(pred_e[:, j], y[:, j]) for j in range(y.shape[1])])
            )
            out[f"ece_{part}_emotions"] = expected_calibration_error(emo.reshape(-1), y.reshape(-1))
    texts, gold = ev.tw_sent
    sent = sentiment_array(system.predict(texts))
    if sent.any():
        pred = sent.argmax(1)
        out["tw_sent_acc"] = float(np.mean(pred == gold))
        out["tw_sent_recall"] = macro_recall(pred, gold, 3)
    if system.emotions:
        texts, gold = ev.tw_emo
        emo = emotion_array(system.predict(texts))
        cols = [
            [EMOTION_LABELS.index(m) for m in TWEETEVAL_EMOTION_MAP[c]]
            for c in TWEETEVAL_EMOTION_LABELS
        ]
        grouped = np.stack([emo[:, c].max(1) for c in cols], axis=1)
        out["tw_emo_acc"] = float(np.mean(grouped.argmax(1) == gold))
        out["tw_emo_f1"] = macro_f1(grouped.argmax(1), gold, 4)
    for part in ("test", "dev"):
        rows = ev.bitext[part]
        h = np.array([s.human_request for s in system.predict([r.text for r in rows])])
        y = np.array([r.intent == BITEXT_HUMAN_INTENT for r in rows])
        if part == "test":
            pred = h >= 0.5
            tp = float(np.sum(pred & y))
            out["hr_precision"] = tp / max(1.0, float(pred.sum()))
            out["hr_recall"] = tp / max(1.0, float(y.sum()))
            out["hr_f1"] = f1(pred, y)
    for intent, texts in ev.reported.items():
        out[f"hr_rate_{intent}"] = float(
            np.mean([s.human_request >= 0.5 for s in system.predict(texts)])
        )
    complaints = system.predict([r.text for r in ev.complaints])
    values = [head_value(system, s, "dissatisfaction") for s in complaints]
    if all(v is not None for v in values):
        out["diss_rate_complaint"] = float(np.mean([v >= 0.5 for v in values if v is not None]))
    # the labelled suites (test halves, and dev halves for calibration)
    for head in SUITES:
        for part in ("test", "dev"):
            items = load_suite(head, part)
            scores = system.predict_in_context([i.text for i in items], [i.context for i in items])
            values = [head_value(system, s, head) for s in scores]
            if any(v is None for v in values) or (
                head == "human_request" and system.name == "VADER"
            ):
                continue
            p = np.array(values, dtype=float)
            gold = np.array([i.label == 1 for i in items])
            out[f"suite_{part}_{head}_f1"] = f1(p >= 0.5, gold)
            out[f"suite_{part}_{head}_auc"] = roc_auc(p, gold)
            if not system.proxies.get(head) and system.emotions:
                out[f"ece_{part}_suite_{head}"] = expected_calibration_error(p, gold)
    # the distress suite's test half as a conversation's first message (after a
    # greeting), and later in a conversation (after a task exchange or a closing one)
    items = load_suite("distress", "test")
    later = [MessageContext(bot=bot, user=user) for bot, user in LATER]
    placed = {
        "greeted": [i.context or MessageContext(bot=GREETING) for i in items],
        "later": [later[k % len(later)] for k in range(len(items))],
    }
    for name, contexts in placed.items():
        values = [head_value(system, s, "distress") for s in
                  system.predict_in_context([i.text for i in items], contexts)]  # fmt: skip
        if all(v is not None for v in values):
            p = np.array(values, dtype=float)
            gold = np.array([i.label == 1 for i in items])
            out[f"suite_{name}_distress_auc"] = roc_auc(p, gold)
            out[f"suite_{name}_distress_recall80"] = float(np.mean(p[gold] >= 0.8))
            out[f"suite_{name}_distress_fp80"] = float(np.mean(p[~gold] >= 0.8))
    # USS, turn by turn with context, and conversation by conversation (worst turn)
    for (domain, part), uss in ev.uss.items():
        scores = system.predict_in_context(uss.messages.texts, uss.messages.contexts)
        values = [head_value(system, s, "dissatisfaction") for s in scores]
        if any(v is None for v in values):
            continue
        p = np.array(values, dtype=float)
        out[f"uss_{domain}_{part}_turn_auc"] = roc_auc(p, uss.share >= 0.5)
        worst: dict[str, float] = {}
        for conv, value in zip(uss.dialogue, p, strict=True):
            worst[conv] = max(worst.get(conv, 0.0), float(value))
        ids = sorted(worst)
        out[f"uss_{domain}_{part}_conv_auc"] = roc_auc(
            np.array([worst[i] for i in ids]), np.array([uss.needs[i] for i in ids])
        )
        if not system.proxies.get("dissatisfaction") and system.emotions:
            out[f"ece_{part}_uss_{domain}"] = expected_calibration_error(p, uss.share)
    if system.name != "VADER":
        result = invariance(system)
        out["inv_flip_rate"] = result.failure_rate
    if (
        head_value(system, system.predict(["x"])[0], "dissatisfaction") is not None
        and not system.proxies
    ):
        out["dir_failure_rate"] = direction(system).failure_rate
    return out


ROWS: list[tuple[str, str]] = [
    ("ge_test_macro_f1", "GoEmotions test: macro-F1, 28 emotions"),
    ("ge_test_sent_acc", "GoEmotions test: sentiment accuracy"),
    ("ge_test_sent_recall", "GoEmotions test: sentiment macro-recall"),
    ("ge_dev_macro_f1", "GoEmotions dev: macro-F1, 28 emotions"),
    ("tw_sent_recall", "TweetEval sentiment val: macro-recall"),
    ("tw_sent_acc", "TweetEval sentiment val: accuracy"),
    ("tw_emo_acc", "TweetEval emotion test (4 classes, mapped): accuracy"),
    ("tw_emo_f1", "TweetEval emotion test (4 classes, mapped): macro-F1"),
    ("hr_precision", "Bitext held-out: human_request precision"),
    ("hr_recall", "Bitext held-out: human_request recall"),
    ("hr_f1", "Bitext held-out: human_request F1"),
    (
        "hr_rate_contact_customer_service",
        "Bitext contact_customer_service: share flagged as requests",
    ),
    ("hr_rate_complaint", "Bitext complaint: share flagged as requests"),
    ("diss_rate_complaint", "Bitext complaint (held-out): share dissatisfied"),
    ("suite_test_human_request_f1", "Request suite (test half): F1"),
    ("suite_test_dissatisfaction_f1", "Dissatisfaction suite (test half): F1"),
    ("suite_test_dissatisfaction_auc", "Dissatisfaction suite (test half): ROC-AUC"),
    ("suite_test_distress_f1", "Distress suite (test half): F1"),
    ("suite_test_distress_auc", "Distress suite (test half): ROC-AUC"),
    ("suite_greeted_distress_auc", "Distress suite (test half) after a greeting: ROC-AUC"),
    (
        "suite_greeted_distress_recall80",
        "... after a greeting: vulnerable customers at 0.8 or more",
    ),
    ("suite_greeted_distress_fp80", "... after a greeting: ordinary messages at 0.8 or more"),
    ("suite_later_distress_auc", "Distress suite (test half) later in a conversation: ROC-AUC"),
    ("suite_later_distress_recall80", "... later: vulnerable customers at 0.8 or more"),
    ("suite_later_distress_fp80", "... later: ordinary messages at 0.8 or more"),
    ("inv_flip_rate", "Invariance: request decisions flipped by an aside, typo or case"),
    ("dir_failure_rate", "Direction: dissatisfaction lowered by 'for the third time' and the like"),
    ("uss_mwoz_dev_turn_auc", "USS MWOZ dev: turn ROC-AUC (most raters <= 2)"),
    ("uss_sgd_dev_turn_auc", "USS SGD dev: turn ROC-AUC (most raters <= 2)"),
    ("uss_mwoz_dev_conv_auc", "USS MWOZ dev: conversation ROC-AUC (worst turn)"),
    ("uss_sgd_dev_conv_auc", "USS SGD dev: conversation ROC-AUC (worst turn)"),
    ("uss_mwoz_test_turn_auc", "USS MWOZ test: turn ROC-AUC"),
    ("uss_sgd_test_turn_auc", "USS SGD test: turn ROC-AUC"),
    ("uss_mwoz_test_conv_auc", "USS MWOZ test: conversation ROC-AUC (worst turn)"),
    ("uss_sgd_test_conv_auc", "USS SGD test: conversation ROC-AUC (worst turn)"),
]
#: Calibration error rows: (key, label) for the dev and test splits.
ECE_ROWS: list[tuple[str, str]] = [
    ("sentiment", "sentiment (GoEmotions; top class)"),
    ("emotions", "emotions (GoEmotions; 28 labels pooled)"),
    ("suite_human_request", "human_request (request suite)"),
    ("uss_mwoz", "dissatisfaction (USS MWOZ; share of raters <= 2)"),
    ("uss_sgd", "dissatisfaction (USS SGD; share of raters <= 2)"),
    ("suite_dissatisfaction", "dissatisfaction (dissatisfaction suite)"),
    ("suite_distress", "distress (distress suite)"),
]
PERCENT = {k for k, _ in ROWS if not k.endswith("_auc")}
# behavioural failure rates, whose targets are a few percent: two decimals
FINE_PERCENT = {"inv_flip_rate", "dir_failure_rate"}

# --------------------------------------------------------------------------- speed


def peak_rss_mb() -> float:
    """Peak resident memory of this process (VmHWM; ru_maxrss would include the parent's)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def speed_worker(path: str, data: str, threads: int | None) -> dict[str, Any]:
    """One model in this (fresh) process: load time, latency per customer turn with its
    context as a live session meets it, latency with nothing cached, throughput, RSS."""
    from escalate.affect.onnx import OnnxAffectModel

    start = time.perf_counter()
    model = OnnxAffectModel.from_path(path, threads=threads, cache_size=1 << 16)
    load_s = time.perf_counter() - start
    dialogues = uss_split(read_uss(Path(data), "mwoz"), seed=13)["dev"]
    dialogues += uss_split(read_uss(Path(data), "sgd"), seed=13)["dev"]
    live, bot_turns, seen = [], [], set()
    for d in dialogues:
        bot = user = None
        for turn in d.turns:
            if not turn.text:
                continue
            if turn.role == "bot":
                t0 = time.perf_counter()
                model.prepare([turn.text])
                bot_turns.append(time.perf_counter() - t0)
                bot = turn.text
                continue
            context = MessageContext(bot=bot, user=user)
            first = turn.text not in seen
            t0 = time.perf_counter()
            model.predict_in_context([turn.text], [context])
            if first:  # a message seen before is answered from the cache: not counted
                live.append(time.perf_counter() - t0)
            seen.add(turn.text)
            user = turn.text
    cold_model = OnnxAffectModel.from_path(path, threads=threads, cache_size=0)
    cold = []
    pairs = [(turn.text, context) for d in dialogues[:60] for turn, context in d.rated_turns()]
    for text, context in pairs:
        t0 = time.perf_counter()
        cold_model.predict_in_context([text], [context])
        cold.append(time.perf_counter() - t0)
    texts = [r.text for r in read_goemotions(Path(data), "test")][:2048]
    bulk = OnnxAffectModel.from_path(path, threads=threads, batch_size=32, cache_size=0)
    bulk.predict(texts[:64])
    t0 = time.perf_counter()
    for i in range(0, len(texts), 32):
        bulk.predict(texts[i : i + 32])
    tput = len(texts) / (time.perf_counter() - t0)
    return {
        "load_s": load_s,
        "live_p50_ms": float(np.percentile(live, 50) * 1000),
        "live_p99_ms": float(np.percentile(live, 99) * 1000),
        "live_n": len(live),
        "bot_p50_ms": float(np.percentile(bot_turns, 50) * 1000),
        "cold_p50_ms": float(np.percentile(cold, 50) * 1000),
        "tput": tput,
        "rss_mb": peak_rss_mb(),
    }


def run_speed(path: Path, data: Path, threads: int | None) -> dict[str, Any]:
    cmd = [sys.executable, __file__, "--speed-worker", str(path), "--data", str(data)]
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


def cell(key: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    if key in FINE_PERCENT:
        return f"{100 * value:.2f}"
    return f"{100 * value:.1f}" if key in PERCENT else f"{value:.3f}"


def folder_size(path: Path) -> int:
    names = ("model.onnx", "context.onnx", "emotions.onnx", "tokenizer.json", "config.json")
    return sum((path / n).stat().st_size for n in names if (path / n).is_file())


def render(
    acc: dict[str, dict[str, float | None]],
    speed: dict[str, dict[str, Any]],
    meta: dict[str, str],
) -> str:
    names = list(acc)
    lines = [
        "## Affect model",
        "",
        f"Command: `{meta['command']}`  ",
        f"Date: {meta['date']}; machine: {meta['machine']}  ",
        f"Models: {meta['models']}.",
        "",
        "Accuracy (percent, ROC-AUC as a fraction; every threshold and calibration chosen on dev "
        "splits; test splits scored once). Italic names in the notes mark stand-ins for a head "
        "a system does not have.",
        "",
        "| metric | " + " | ".join(names) + " |",
        "|---|" + "---:|" * len(names),
    ]
    for key, label in ROWS:
        lines.append(f"| {label} | " + " | ".join(cell(key, acc[n].get(key)) for n in names) + " |")
    model_names = [
        n for n in names if any(k.startswith("ece_") for k in acc[n] if acc[n][k] is not None)
    ]
    lines += [
        "",
        "Expected calibration error (10 bins; dev: the split the calibration was fitted on; "
        "test: held out).",
        "",
        "| head (data) | " + " | ".join(f"{n} dev | {n} test" for n in model_names) + " |",
        "|---|" + "---:|---:|" * len(model_names),
    ]
    for key, label in ECE_ROWS:
        row = []
        for n in model_names:
            for part in ("dev", "test"):
                value = acc[n].get(f"ece_{part}_{key}")
                row.append("n/a" if value is None else f"{value:.3f}")
        lines.append(f"| {label} | " + " | ".join(row) + " |")
    lines += [
        "",
        "Speed (each model in a fresh process, default threads). *Live*: each customer turn of "
        "the USS dev dialogues scored with its context as a session meets it (the bot's message "
        "was encoded when it was sent, the customer's previous message at its own turn; a message "
        "seen before is answered from the cache and not counted). *Bot turn*: encoding the bot's "
        "message when it is sent. *Cold*: nothing cached, the context encoded on the customer's "
        "turn. Batch 32: GoEmotions test texts, 32 a call, no context.",
        "",
        "| model | load (s) | live p50 (ms) | live p99 (ms) | bot turn p50 (ms) | cold p50 (ms) "
        "| batch-32 texts/s | peak RSS (MB) | size (MB) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, s in speed.items():
        lines.append(
            f"| {name} | {s['load_s']:.2f} | {s['live_p50_ms']:.2f} | {s['live_p99_ms']:.2f} "
            f"| {s['bot_p50_ms']:.2f} | {s['cold_p50_ms']:.2f} | {s['tput']:.0f} "
            f"| {s['rss_mb']:.0f} | {s['size_mb']:.1f} |"
        )
    lines += ["", meta["notes"], ""]
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
sentiment figures. TweetEval emotion classes are scored as the highest probability among
their GoEmotions members: anger <- {anger}; joy <- {joy}; optimism <- {optimism}; sadness <-
{sadness}. VADER labels a text positive when compound >= 0.05 and negative when <= -0.05. The
keyword column flags a human request when the text contains one of: human, person, agent,
representative, operator, somebody, someone, manager, supervisor. Stand-ins: the previous
model has no dissatisfaction or distress head, so its *sentiment.negative* and
*mood.distress* are scored in their place; VADER's *(1 - compound) / 2* stands in for
dissatisfaction. Bitext: the seeded, intent-stratified 20 % test split of
`escalate.affect.data.bitext_split` (seed {seed}); `contact_customer_service` is in no split
and never trained on; `complaint` rows are split on their own (their 70 % train part teaches
dissatisfaction; the 20 % test part is scored here). USS: 70 / 15 / 15 % of the dialogues
of each corpus, seeded and stratified by whether the dialogue needed a person
(`escalate.affect.data.uss_split`); a turn is dissatisfied when most raters gave it 2 or
less, a dialogue needed a person when some turn's mean rating is 2 or less. The suites are
the project's behavioural tests (`escalate.affect.checklist`), written apart from the
training phrases; their dev halves calibrate the request and distress heads.
"""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None)
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "affect")
    parser.add_argument("--fp32", type=Path, default=None, help="a training run folder")
    parser.add_argument("--previous", type=Path, default=None, help="an earlier model folder")
    parser.add_argument("--results", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--speed-worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    data = args.data if args.data is not None else default_data_dir()
    if args.speed_worker:
        print(json.dumps(speed_worker(args.speed_worker, str(data), args.threads)))
        return 0

    config = json.loads((args.model / "config.json").read_text(encoding="utf-8"))
    seed = int(config.get("training", {}).get("seed", 13))
    ev = Eval(data, seed)
    systems: list[Callable[[], System]] = [
        lambda: OnnxSystem("int8 ONNX", args.model, args.threads)
    ]
    if args.fp32 is not None:
        systems.append(lambda: TorchSystem(args.fp32, args.threads))
    if args.previous is not None:
        systems.append(lambda: OnnxSystem("previous model", args.previous, args.threads))
    systems += [VaderSystem, KeywordSystem]
    acc: dict[str, dict[str, float | None]] = {}
    for build in systems:
        t0 = time.perf_counter()
        system = build()
        acc[system.name] = score_system(system, ev)
        print(f"{system.name}: scored in {time.perf_counter() - t0:.0f} s", file=sys.stderr)

    speed: dict[str, dict[str, Any]] = {}
    if not args.no_speed:
        for name, path in (("int8 ONNX", args.model), ("previous model", args.previous)):
            if path is not None:
                speed[name] = {
                    **run_speed(path, data, args.threads),
                    "size_mb": folder_size(path) / 1e6,
                }

    def rel(p: str | Path) -> str:
        return os.path.relpath(p, Path.cwd())

    models = f"`{rel(args.model)}` ({folder_size(args.model) / 1e6:.1f} MB)"
    if args.fp32 is not None:
        models += f"; fp32: `{rel(args.fp32)}`"
    if args.previous is not None:
        models += f"; previous: `{rel(args.previous)}`"
    command = "python " + " ".join([rel(__file__), *(argv if argv is not None else sys.argv[1:])])
    meta = {
        "command": command,
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{cpu_name()}, {os.cpu_count()} CPU cores, "
        f"{platform.system()}, Python {platform.python_version()}",
        "models": models,
        "notes": NOTES.format(
            seed=seed, **{c: ", ".join(TWEETEVAL_EMOTION_MAP[c]) for c in TWEETEVAL_EMOTION_LABELS}
        ),
    }
    section = render(acc, speed, meta)
    print(section)
    if not args.no_write:
        write_section(args.results, section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
