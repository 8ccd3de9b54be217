"""Replay benchmark: shipped policies beside baselines on real, labelled conversations.

Run from the project root (after the two converters)::

    python benchmarks/convert_uss.py && python benchmarks/convert_betold.py
    python benchmarks/replay.py --write --previous runs/previous \\
        --lodo mwoz=runs/affect-no-mwoz --lodo sgd=runs/affect-no-sgd

Data sets (see ``../shared/data/README.md``; ``$ESCALATE_DATA`` points elsewhere):

* USS MWOZ and SGD (Sun et al., SIGIR 2021): a dialogue needed a person when a user turn
  has mean satisfaction <= 2; ``label.turn`` is the first such user turn. Figures on the
  ``dev`` and ``test`` dialogues of the affect model's own split (never trained on):
  dev chose the policies' thresholds, test is scored once, here.
* Leave one domain out: every dialogue of one USS corpus, scored by a model trained
  without that corpus (``--lodo DOMAIN=RUN``, a run of ``escalate train --uss-domain``).
  Without ``--lodo`` the block of the last run that had it is kept, marked as such.
* BETOLD valid (Terragni et al., 2022): LUHF dialogues (forwarded to a person or hung up
  late); intents only, no text, conversation-level labels. The valid split is cut in two
  seeded halves (``convert_betold.py``): ``phone_bot``'s score was fitted on the tune half,
  figures are reported on the report half.

Every policy runs through :class:`escalate.replay.runner.Runner`; the shipped model's
scores are cached by message and context, so every policy sees the same scores. Columns:
escalation rate, precision, recall, F1, ROC-AUC of the policy's escalation score (the
highest rule margin over the decided turns), recall when the top conversations by that
score are escalated at the *default* policy's escalation rate, and GT-I/II/III. Baselines:
the ``baseline_*`` policies; VADER ("escalate when any user turn has compound <= t",
scored as minus the lowest compound, ranked at the same rate); on BETOLD the count of
failure intents over the whole dialogue; the previous release (its default policy with
its model, ``--previous DIR`` holding ``model.onnx``, ``tokenizer.json``, ``config.json``
and ``default.yaml``).

``--write`` replaces the ``## Replay`` section of ``RESULTS.md`` and writes
``benchmarks/results/policies.json``: each shipped policy's escalation rate and recall on
every dev set, which the policies' headers quote (``tests/policy/test_policy_headers.py``
checks that they agree).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _data import FAILURE_INTENTS, OUT, CachedAffect, load
from _results import RESULTS, model_digest, policy_digest, replace_section

from escalate.affect import OnnxAffectModel
from escalate.affect.base import AffectModel
from escalate.models import Conversation, Turn
from escalate.policy import Policy, load_policy
from escalate.replay.metrics import compute_metrics, prf, recall_at_rate, roc_auc
from escalate.replay.runner import ConversationResult, Runner, collect

ROOT = Path(__file__).resolve().parents[1]
POLICY_FIGURES = ROOT / "benchmarks" / "results" / "policies.json"
#: Every shipped policy, in the order of the tables; each runs on every data set.
POLICIES = ["default", "retail", "financial_services", "dialogue_only", "phone_bot",
            "baseline_never", "baseline_always", "baseline_keyword", "baseline_sentiment"]  # fmt: skip
NO_MODEL = {"dialogue_only", "baseline_keyword", "baseline_never", "baseline_always", "phone_bot"}
#: The escalation rate the USS target caps the default policy at.
USS_MAX_RATE = 0.15


DEV_SETS = {"uss_mwoz_dev": "USS MWOZ dev", "uss_sgd_dev": "USS SGD dev",
            "betold_tune": "BETOLD tune half"}  # fmt: skip
HEADER_START = "# --- Measured on every dev set (written by benchmarks/replay.py) ---"
HEADER_END = "# --- end of measurements ---"


def header_lines(figures: dict[str, dict[str, Any]], policy: str) -> list[str]:
    lines = [HEADER_START]
    for key, title in DEV_SETS.items():
        m = figures[key][policy]
        recall = "n/a" if m["recall"] is None else f"{100 * m['recall']:.1f} %"
        lines.append(
            f"#   {title + ':':<18} escalates {100 * m['escalation_rate']:.1f} % of "
            f"conversations, recall {recall}"
        )
    lines.append(HEADER_END)
    return lines


def write_headers(figures: dict[str, dict[str, Any]]) -> None:
    """Put each shipped policy's dev figures in its header, between the two markers (after
    the title block when the markers are not there yet)."""
    for policy in POLICIES:
        path = ROOT / "policies" / f"{policy}.yaml"
        lines = path.read_text(encoding="utf-8").splitlines()
        block = header_lines(figures, policy)
        if HEADER_START in lines:
            start, end = lines.index(HEADER_START), lines.index(HEADER_END)
            lines[start : end + 1] = block
        else:
            at = next((i for i, line in enumerate(lines) if not line.startswith("#")), 0)
            lines[at:at] = [*block, "#"]
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def fmt(x: Any) -> str:
    return "–" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


HEADER = ["policy", "escalation rate", "precision", "recall", "F1", "ROC-AUC",
          "recall @ default's rate", "GT-I", "GT-II", "GT-III"]  # fmt: skip


def row(name: str, m: dict[str, Any], at_rate: float | None) -> list[str]:
    return [name, fmt(m.get("escalation_rate")), fmt(m.get("precision")), fmt(m.get("recall")),
            fmt(m.get("f1")), fmt(m.get("roc_auc")), fmt(at_rate), fmt(m.get("gt_i")),
            fmt(m.get("gt_ii")), fmt(m.get("gt_iii"))]  # fmt: skip


def table(rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def run_policy(
    policy: str | Policy,
    data: list[Conversation],
    affect: Callable[[], AffectModel] | None,
    keep_signals: bool = False,
) -> tuple[dict[str, Any], list[ConversationResult]]:
    runner = Runner(policy, affect=affect, workers=1, progress=False, keep_signals=keep_signals)
    results, _ = collect(runner.run(data))
    return compute_metrics(results), results


def labels_of(results: list[ConversationResult]) -> list[bool]:
    return [r.label is not None and r.label.escalate for r in results]


def score_baseline(labels: list[bool], scores: list[float], rate: float) -> dict[str, Any]:
    """Metrics of a score that escalates the top ``rate`` of conversations."""
    s = np.asarray(scores, dtype=np.float64)
    y = np.asarray(labels, dtype=bool)
    flagged = s >= np.quantile(s, 1 - rate)
    tp, fp, fn = int((flagged & y).sum()), int((flagged & ~y).sum()), int((~flagged & y).sum())
    precision, recall, f1 = prf(tp, fp, fn)
    return {"escalation_rate": float(flagged.mean()), "precision": precision,
            "recall": recall, "f1": f1, "roc_auc": roc_auc(y, s)}  # fmt: skip


def vader_scores(data: list[Conversation]) -> list[float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for c in data:
        compounds = [analyzer.polarity_scores(t.text)["compound"] for t in c.turns
                     if t.role == "user" and t.has_text]  # fmt: skip
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


def uss_section(
    title: str, path: Path, model: AffectModel, previous: Path | None
) -> tuple[str, dict[str, Any]]:
    """Every text policy on one USS file; the default policy's operating point decides the
    rate at which the others are ranked."""
    data = load(path)
    cached = CachedAffect(model)
    runs: dict[str, tuple[dict[str, Any], list[ConversationResult]]] = {}
    for policy in POLICIES:
        affect = None if policy in NO_MODEL else (lambda: cached)
        runs[policy] = run_policy(policy, data, affect)
    if previous is not None:
        old = CachedAffect(OnnxAffectModel.from_path(previous))
        old_policy = load_policy(previous / "default.yaml")
        runs["previous release (default policy and model)"] = run_policy(
            old_policy, data, lambda: old
        )
    default_metrics, default_results = runs["default"]
    rate = float(default_metrics["escalation_rate"])
    labels = labels_of(default_results)
    rows, figures = [], {}
    for name, (metrics, results) in runs.items():
        at = recall_at_rate(labels, [r.score for r in results], rate) if rate > 0 else None
        rows.append(row(name, metrics, at))
        figures[name] = {"escalation_rate": metrics["escalation_rate"],
                         "recall": metrics["recall"], "roc_auc": metrics["roc_auc"]}  # fmt: skip
    vader = vader_scores(data)
    vader_at = recall_at_rate(labels, vader, rate) if rate > 0 else None
    rows.append(row("VADER: min compound ≤ t (at the default's rate)",
                    score_baseline(labels, vader, max(rate, 1e-9)), vader_at))  # fmt: skip
    positives = sum(labels)
    headline = {
        "rate": rate,
        "recall": default_metrics["recall"],
        "vader_recall": vader_at,
        "figures": figures,
    }
    text = (f"**{title}** — {len(data):,} dialogues, {positives} needed a person "
            f"({positives / len(data):.1%}).\n\n" + table(rows))  # fmt: skip
    return text, headline


#: What many bots say before the customer's first message.
GREETING = "Hi! How can I help you today?"


def greeted(data: list[Conversation]) -> list[Conversation]:
    """The conversations with the bot's greeting before the customer's first message (in
    USS the customer speaks first); a label's turn moves with its turn."""
    out = []
    for c in data:
        label = c.label
        if label is not None and label.turn is not None:
            label = label.model_copy(update={"turn": label.turn + 1})
        turns = [Turn(role="bot", text=GREETING), *c.turns]
        out.append(c.model_copy(update={"turns": turns, "label": label}))
    return out


def greeted_section(model: AffectModel) -> str:
    """The default policy on the USS dev sets as they are and with a greeting first: a
    greeting carries nothing of the customer's experience, so the decisions should not
    move."""
    rows = ["| corpus | escalation rate | recall | with a greeting first: escalation rate | recall |",
            "|---|---|---|---|---|"]  # fmt: skip
    for domain, title in (("mwoz", "MWOZ"), ("sgd", "SGD")):
        data = load(OUT / f"uss_{domain}_dev.jsonl")
        plain, _ = run_policy("default", data, lambda: model)
        greet, _ = run_policy("default", greeted(data), lambda: model)
        rows.append(
            f"| USS {title} dev | {fmt(plain['escalation_rate'])} | {fmt(plain['recall'])} | "
            f"{fmt(greet['escalation_rate'])} | {fmt(greet['recall'])} |"
        )
    return (
        "**A greeting first** — the default policy on the USS dev sets with the bot's "
        f'"{GREETING}" before the customer\'s first message. The context heads met bot '
        "messages only as answers in their training dialogues and read ordinary first "
        "messages after a greeting as somewhat dissatisfied; the engine reads a first "
        "message without context, so the two should match.\n\n" + "\n".join(rows)
    )


def lodo_section(lodo: dict[str, Path]) -> tuple[str, list[str]]:
    """Each USS corpus whole, scored by a model trained without it."""
    lines = ["| corpus | model trained on | dialogues | needed a person | worst-turn dissatisfaction ROC-AUC "
             "| default: escalation rate | default: recall | VADER recall at that rate | default ROC-AUC |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    targets = []
    for domain, run in lodo.items():
        data = load(OUT / f"uss_{domain}.jsonl")
        model = CachedAffect(OnnxAffectModel.from_path(run))
        metrics, results = run_policy("default", data, lambda model=model: model, keep_signals=True)
        labels = labels_of(results)
        worst = [
            max((d.signals or {}).get("dissatisfaction") or 0.0 for d in r.decisions)
            for r in results
        ]
        auc = roc_auc(labels, worst)
        rate = float(metrics["escalation_rate"])
        vader_at = recall_at_rate(labels, vader_scores(data), rate) if rate > 0 else None
        trained = (
            json.loads((run / "config.json").read_text()).get("training", {}).get("uss_domains")
        )
        lines.append(
            f"| {domain} | {', '.join(trained or [])} | {len(data):,} | {sum(labels)} | {auc:.3f} "
            f"| {rate:.3f} | {fmt(metrics['recall'])} | {fmt(vader_at)} | {fmt(metrics['roc_auc'])} |"
        )
        targets.append(f"{domain} {auc:.3f}")
    return "\n".join(lines), targets


def betold_section(
    path: Path, title: str, model: AffectModel
) -> tuple[str, float | None, dict[str, Any]]:
    data = load(path)
    rows: list[list[str]] = []
    phone_auc = None
    cached = CachedAffect(model)  # BETOLD has no text: the model is never called
    runs = {
        policy: run_policy(policy, data, None if policy in NO_MODEL else (lambda: cached))
        for policy in POLICIES
    }
    user_only = load_policy("phone_bot")
    rate = float(runs["phone_bot"][0]["escalation_rate"])
    labels = labels_of(runs["phone_bot"][1])
    for name, (metrics, results) in runs.items():
        at = recall_at_rate(labels, [r.score for r in results], rate) if rate > 0 else None
        label = name + (
            " (decides on bot turns)"
            if name == "phone_bot" and user_only.decides_on_bot_turns
            else ""
        )
        rows.append(row(label, metrics, at))
        if name == "phone_bot":
            phone_auc = metrics["roc_auc"]
    counts = [float(sum(t.intent in FAILURE_INTENTS for t in c.turns)) for c in data]
    rows.append(row("failure-intent count ≥ t (at phone_bot's rate)",
                    score_baseline(labels, counts, max(rate, 1e-9)),
                    recall_at_rate(labels, counts, rate) if rate > 0 else None))  # fmt: skip
    text = (f"**{title}** — {len(data):,} dialogues, {sum(labels)} LUHF; failure-intent "
            f"count best F1 {best_f1(labels, counts):.3f}.\n\n" + table(rows))  # fmt: skip
    figures = {
        name: {
            "escalation_rate": m["escalation_rate"],
            "recall": m["recall"],
            "roc_auc": m["roc_auc"],
        }
        for name, (m, _) in runs.items()
    }
    return text, phone_auc, figures


def throughput(paths: list[Path]) -> tuple[list[tuple[int, int, int, float]], str]:
    """Replay with 1 and 2 workers, scoring messages alone and in batches of 32."""
    data = [c for p in paths for c in load(p)]
    texts = [t.text for c in data for t in c.turns if t.role == "user" and t.has_text]
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
        "cache answers them when messages are scored alone; batched scoring keeps no cache. "
        f"With batches of 32, int8 noise moves scores: {changed} of {len(data):,} "
        "conversations get another first escalation (turn, rule, or none) than when each "
        "message is scored alone, as a live session does."
    )
    return rows, note


LODO_HEADING = "**Leave one domain out**"
LODO_TARGET = "- Leave one domain out"


def earlier_lodo() -> tuple[str, str] | None:
    """The leave-one-domain-out block and target line of the ``## Replay`` section in
    RESULTS.md, marked as carried over, for a run without ``--lodo`` (the models trained
    without one corpus are run folders, not kept in the repository)."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.is_file() else ""
    section = text.split("## Replay", 1)[-1].split("\n## ", 1)[0]
    blocks = section.split("\n\n")
    for i, block in enumerate(blocks):
        if block.startswith(LODO_HEADING) and i + 1 < len(blocks):
            table = blocks[i + 1]
            target = next(
                (line for line in section.splitlines() if line.startswith(LODO_TARGET)), None
            )
            if target is None:
                return None
            dated = re.search(r"— (\d{4}-\d{2}-\d{2}),", section)
            note = (
                ""
                if "carried over" in block.lower()
                else (
                    " Carried over from the run of this benchmark with `--lodo` of "
                    f"{dated.group(1) if dated else 'an earlier date'} (the models trained without "
                    "one corpus are run folders, not kept in the repository)."
                )
            )
            return f"{block}{note}\n\n{table}", target
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="replace '## Replay' in RESULTS.md")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument(
        "--previous",
        type=Path,
        default=None,
        help="an earlier release's model folder with its default.yaml",
    )
    parser.add_argument("--lodo", action="append", default=[], metavar="DOMAIN=RUN")
    args = parser.parse_args()
    names = [f"uss_{d}_{p}.jsonl" for d in ("mwoz", "sgd") for p in ("dev", "test")]
    names += ["betold_valid_tune.jsonl", "betold_valid_report.jsonl"]
    missing = [n for n in names if not (OUT / n).is_file()]
    if missing:
        raise SystemExit(f"run the converters first; missing {', '.join(missing)} in {OUT}")
    model = OnnxAffectModel.default()
    parts, targets, dev_figures = [], [], {}
    for part in ("dev", "test"):
        for domain, title in (("mwoz", "MWOZ"), ("sgd", "SGD")):
            text, head = uss_section(
                f"USS {title} {part}", OUT / f"uss_{domain}_{part}.jsonl", model, args.previous
            )
            parts.append(text)
            if part == "dev":
                dev_figures[f"uss_{domain}_dev"] = head["figures"]
            ratio = head["recall"] / head["vader_recall"] if head["vader_recall"] else None
            met = head["rate"] <= USS_MAX_RATE and ratio is not None and ratio >= 2
            targets.append(
                f"- USS {title} {part}: default escalates {head['rate']:.3f} (≤ {USS_MAX_RATE}), "
                f"recall {fmt(head['recall'])} against VADER's {fmt(head['vader_recall'])} at "
                f"that rate ({'–' if ratio is None else f'{ratio:.2f}×'}; target ≥ 2×): "
                f"{'met' if met else '**not met**'}."
            )
    parts.append(greeted_section(model))
    if args.lodo:
        lodo = {d: Path(r) for d, r in (item.split("=", 1) for item in args.lodo)}
        text, aucs = lodo_section(lodo)
        parts.append("**Leave one domain out** — each USS corpus whole, scored by a model "
                     "trained without it (target: ROC-AUC ≥ 0.70).\n\n" + text)  # fmt: skip
        targets.append(
            f"- Leave one domain out, worst-turn dissatisfaction ROC-AUC: {', '.join(aucs)}."
        )
    else:
        kept = earlier_lodo()
        if kept is not None:
            parts.append(kept[0])
            targets.append(kept[1])
    betold_text, phone_report, _ = betold_section(
        OUT / "betold_valid_report.jsonl", "BETOLD valid, report half (seed 2022)", model
    )
    tune_text, _, dev_figures["betold_tune"] = betold_section(
        OUT / "betold_valid_tune.jsonl",
        "BETOLD valid, tune half (seed 2022; phone_bot's score was fitted here)",
        model,
    )
    parts += [betold_text, tune_text]
    targets.append(
        f"- BETOLD (ROC-AUC ≥ 0.72 with bot-turn decisions): phone_bot {fmt(phone_report)} on the report half."
    )
    if not args.skip_throughput:
        load_before = os.getloadavg()[0]
        rows, note = throughput([OUT / "uss_mwoz.jsonl", OUT / "uss_sgd.jsonl"])
        load_after = os.getloadavg()[0]
        lines = ["| messages per model call | workers | user turns | seconds | user turns/s |",
                 "|---|---|---|---|---|"]  # fmt: skip
        lines += [f"| {b} | {w} | {t:,} | {s:.1f} | {t / s:,.0f} |" for b, w, t, s in rows]
        parts.append("**Throughput** — default policy, shipped model, USS MWOZ + SGD, worker "
                     f"start-up included; 1-minute load average {load_before:.1f} before and "
                     f"{load_after:.1f} after on {os.cpu_count()} cores. {note}\n\n" + "\n".join(lines))  # fmt: skip
    command = "python benchmarks/replay.py --write" + (
        f" --previous {args.previous}" if args.previous else ""
    )
    command += "".join(f" --lodo {item}" for item in args.lodo)
    body = "\n\n".join(
        [
            "## Replay",
            f"`{command}` — {datetime.now(UTC):%Y-%m-%d}, "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}.",
            *parts,
            "\n".join(targets),
        ]
    )
    print(body)
    if args.write:
        replace_section("## Replay", body)
        write_headers(dev_figures)
        record = {
            "model": model_digest(ROOT / "models" / "affect"),
            "policies": {
                name: policy_digest(ROOT / "policies" / f"{name}.yaml") for name in POLICIES
            },
            "figures": dev_figures,
        }
        POLICY_FIGURES.parent.mkdir(parents=True, exist_ok=True)
        POLICY_FIGURES.write_text(
            json.dumps(record, indent=2, default=str) + "\n", encoding="utf-8"
        )


if __name__ == "__main__":
    main()
