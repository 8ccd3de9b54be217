"""Replay benchmark: shipped policies beside baselines on real, labelled conversations.

Run from the project root (after the two converters)::

    python benchmarks/convert_uss.py && python benchmarks/convert_betold.py
    python benchmarks/replay.py [--write] [--skip-throughput]

Data sets (see ``../shared/data/README.md``; ``$ESCALATE_DATA`` points elsewhere):

* USS MWOZ and SGD (Sun et al., SIGIR 2021): a dialogue needed a person when a user turn
  has mean satisfaction <= 2; ``label.turn`` is the first such user turn.
* BETOLD valid (Terragni et al., 2022): LUHF dialogues (forwarded to a person or hung up
  late); intents only, no text, conversation-level labels. Figures are given on the
  seeded ``report`` half (``convert_betold.py``) and on the whole valid split;
  ``phone_bot`` thresholds were set from first principles, not fitted.

Every policy runs through :class:`escalate.replay.runner.Runner`. The accuracy tables
share one affect-model pass per data set (a cache keyed by text), so every policy sees
the same scores. "recall @10%" ranks conversations by the policy's escalation score (the
highest rule margin over user turns, see ``escalate.replay.metrics``) and escalates the
top 10 %, the operating point at which the data README quotes VADER. Baselines:
``baseline_*`` policies, VADER ("escalate when any user turn has compound <= t", score =
minus the lowest compound) and, on BETOLD, the count of failure intents over the whole
dialogue. Throughput replays USS MWOZ + SGD with the default policy and the shipped
model, with 1 and 2 worker processes (start-up included), scoring each message alone and
in batches of 32.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _data import FAILURE_INTENTS, OUT, CachedAffect, load
from _results import replace_section

from escalate.affect import OnnxAffectModel
from escalate.affect.base import AffectModel
from escalate.models import Conversation
from escalate.replay.metrics import compute_metrics, prf, recall_at_rate, roc_auc
from escalate.replay.runner import ConversationResult, Runner, collect

TEXT_POLICIES = ["default", "retail", "financial_services", "dialogue_only",
                 "baseline_never", "baseline_always", "baseline_keyword", "baseline_sentiment"]  # fmt: skip
INTENT_POLICIES = ["phone_bot", "dialogue_only", "baseline_never", "baseline_always",
                   "baseline_keyword"]  # fmt: skip
RATE = 0.10


def row(name: str, m: dict[str, Any], at_rate: float | None) -> list[str]:
    def f(x: Any) -> str:
        return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)

    return [name, f(m.get("escalation_rate")), f(m.get("precision")), f(m.get("recall")),
            f(m.get("f1")), f(m.get("roc_auc")), f(at_rate), f(m.get("gt_i")),
            f(m.get("gt_ii")), f(m.get("gt_iii"))]  # fmt: skip


HEADER = ["policy", "escalation rate", "precision", "recall", "F1", "ROC-AUC",
          f"recall @{RATE:.0%}", "GT-I", "GT-II", "GT-III"]  # fmt: skip


def table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run_policy(
    policy: str, data: list[Conversation], affect: Callable[[], AffectModel] | None
) -> tuple[dict[str, Any], float | None, list[ConversationResult]]:
    runner = Runner(policy, affect=affect, workers=1, progress=False)
    results, _ = collect(runner.run(data))
    metrics = compute_metrics(results)
    labels = [r.label is not None and r.label.escalate for r in results]
    return metrics, recall_at_rate(labels, [r.score for r in results], RATE), results


def score_baseline(labels: list[bool], scores: list[float], rate_threshold: float | None = None
                   ) -> tuple[dict[str, Any], float | None]:  # fmt: skip
    """Metrics of a score baseline; its operating point escalates the top 10 %."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    cut = np.quantile(s, 1 - RATE) if rate_threshold is None else rate_threshold
    flagged = s >= cut
    tp = int((flagged & y).sum())
    fp = int((flagged & ~y).sum())
    fn = int((~flagged & y).sum())
    precision, recall, f1 = prf(tp, fp, fn)
    metrics = {"escalation_rate": float(flagged.mean()), "precision": precision,
               "recall": recall, "f1": f1, "roc_auc": roc_auc(y, s)}  # fmt: skip
    return metrics, recall_at_rate(y, s, RATE)


def vader_scores(data: list[Conversation]) -> list[float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for c in data:
        compounds = [analyzer.polarity_scores(t.text)["compound"] for t in c.turns
                     if t.role == "user" and t.text]  # fmt: skip
        out.append(-min(compounds) if compounds else -1.0)
    return out


def best_f1(labels: list[bool], scores: list[float]) -> float:
    best = 0.0
    y = np.asarray(labels, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    for cut in np.unique(s):
        flagged = s >= cut
        _, _, f1 = prf(int((flagged & y).sum()), int((flagged & ~y).sum()),
                       int((~flagged & y).sum()))  # fmt: skip
        best = max(best, f1 or 0.0)
    return best


def uss_section(name: str, path: Path) -> tuple[str, dict[str, float | None]]:
    data = load(path)
    cached = CachedAffect(OnnxAffectModel.default())
    rows: list[list[str]] = []
    headline: dict[str, float | None] = {}
    for policy in TEXT_POLICIES:
        affect = None if policy in ("dialogue_only", "baseline_keyword", "baseline_never",
                                    "baseline_always") else (lambda: cached)  # fmt: skip
        metrics, at_rate, _ = run_policy(policy, data, affect)
        rows.append(row(policy, metrics, at_rate))
        if policy == "default":
            headline["default_recall_at_rate"] = at_rate
            headline["default_auc"] = metrics["roc_auc"]
    labels = [bool(c.label and c.label.escalate) for c in data]
    vader_m, vader_at = score_baseline(labels, vader_scores(data))
    rows.append(row("VADER: min compound ≤ t (t at the 10 % quantile)", vader_m, vader_at))
    headline["vader_recall_at_rate"] = vader_at
    positives = sum(labels)
    text = (f"**USS {name}** — {len(data):,} dialogues, {positives} needed a person "
            f"({positives / len(data):.1%}).\n\n" + table(rows))  # fmt: skip
    return text, headline


def betold_section(path: Path, title: str) -> tuple[str, float | None]:
    data = load(path)
    rows: list[list[str]] = []
    phone_auc = None
    for policy in INTENT_POLICIES:
        metrics, at_rate, _ = run_policy(policy, data, None)
        rows.append(row(policy, metrics, at_rate))
        if policy == "phone_bot":
            phone_auc = metrics["roc_auc"]
    labels = [bool(c.label and c.label.escalate) for c in data]
    counts = [float(sum(t.intent in FAILURE_INTENTS for t in c.turns)) for c in data]
    m, at = score_baseline(labels, counts)
    rows.append(row("failure-intent count ≥ t (t at the 90th percentile)", m, at))
    text = (f"**{title}** — {len(data):,} dialogues, {sum(labels)} LUHF; failure-intent "
            f"count best F1 {best_f1(labels, counts):.3f}.\n\n" + table(rows))  # fmt: skip
    return text, phone_auc


def throughput(paths: list[Path]) -> tuple[list[tuple[int, int, int, float]], str]:
    """Replay with 1 and 2 workers, scoring messages alone and in batches of 32.

    Returns rows (affect batch, workers, user turns, seconds) and a sentence on how many
    conversations the batched replay decides differently from the exact one.
    """
    data = [c for p in paths for c in load(p)]
    texts = [t.text for c in data for t in c.turns if t.role == "user" and t.text]
    rows, outcomes = [], {}
    for batch in (1, 32):
        for workers in (1, 2):
            runner = Runner("default", workers=workers, progress=False, affect_batch=batch)
            start = time.perf_counter()
            results, _ = collect(runner.run(data))
            seconds = time.perf_counter() - start
            rows.append((batch, workers, sum(r.user_turns for r in results), seconds))
            outcomes[batch] = [
                (r.escalated, r.first_escalation_user_turn,
                 r.first_escalation.rule if r.first_escalation else None)
                for r in results
            ]  # fmt: skip
    changed = sum(a != b for a, b in zip(outcomes[1], outcomes[32], strict=True))
    repeats = 1 - len(set(texts)) / len(texts)
    note = (
        f"{100 * repeats:.0f} % of these user messages repeat an earlier one, and the model's "
        "text cache (on by default) answers them when messages are scored alone; batched "
        "scoring keeps no cache. With batches of 32, int8 noise moves scores: "
        f"{changed} of {len(data):,} conversations get another first escalation (turn, "
        "rule, or none) than when each message is scored alone, as a live session does."
    )
    return rows, note


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="replace '## Replay' in RESULTS.md")
    parser.add_argument("--skip-throughput", action="store_true")
    args = parser.parse_args()
    missing = [p for p in ("uss_mwoz.jsonl", "uss_sgd.jsonl", "betold_valid.jsonl",
                           "betold_valid_report.jsonl") if not (OUT / p).is_file()]  # fmt: skip
    if missing:
        raise SystemExit(f"run the converters first; missing {', '.join(missing)} in {OUT}")
    parts = []
    mwoz, mwoz_h = uss_section("MWOZ", OUT / "uss_mwoz.jsonl")
    sgd, sgd_h = uss_section("SGD", OUT / "uss_sgd.jsonl")
    report_half, phone_report = betold_section(
        OUT / "betold_valid_report.jsonl", "BETOLD valid, report half (seed 2022)"
    )
    whole, phone_whole = betold_section(OUT / "betold_valid.jsonl", "BETOLD valid, whole split")
    parts += [mwoz, sgd, report_half, whole]

    def ratio(h: dict[str, float | None]) -> str:
        d, v = h.get("default_recall_at_rate"), h.get("vader_recall_at_rate")
        return "–" if not d or not v else f"{d / v:.2f}×"

    targets = [
        f"- USS target (default recall @10 % ≥ 2 × VADER's): MWOZ {ratio(mwoz_h)}, "
        f"SGD {ratio(sgd_h)}.",
        f"- BETOLD target (ROC-AUC ≥ 0.75): phone_bot {phone_report:.3f} on the report half, "
        f"{phone_whole:.3f} on the whole valid split." if phone_report is not None and
        phone_whole is not None else "- BETOLD: phone_bot missing.",
    ]  # fmt: skip
    if not args.skip_throughput:
        load_before = os.getloadavg()[0]
        rows, note = throughput([OUT / "uss_mwoz.jsonl", OUT / "uss_sgd.jsonl"])
        load_after = os.getloadavg()[0]
        lines = ["| messages per model call | workers | user turns | seconds | user turns/s |",
                 "|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {b} | {w} | {t:,} | {s:.1f} | {t / s:,.0f} |" for b, w, t, s in rows]
        parts.append("**Throughput** — default policy, shipped model, USS MWOZ + SGD, worker "
                     f"start-up included; 1-minute load average {load_before:.1f} before and "
                     f"{load_after:.1f} after on {os.cpu_count()} cores. `--affect-batch 1` "
                     "(the default) scores each message alone; `--affect-batch 32` batches "
                     f"messages across conversations. {note}\n\n" + "\n".join(lines))  # fmt: skip
        exact = next(t / s for b, w, t, s in rows if (b, w) == (1, 2))
        batched = next(t / s for b, w, t, s in rows if (b, w) == (32, 2))
        targets.append(
            f"- Throughput target (≥ 1,000 user turns/s): {exact:,.0f} with 2 workers scoring "
            f"each message alone, {batched:,.0f} with batches of 32, on {os.cpu_count()} cores."
        )
    body = "\n\n".join(
        [
            "## Replay",
            f"`python benchmarks/replay.py --write` — {datetime.now(UTC):%Y-%m-%d}, "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}.",
            *parts,
            "\n".join(targets),
        ]
    )
    print(body)
    if args.write:
        replace_section("## Replay", body)


if __name__ == "__main__":
    main()
