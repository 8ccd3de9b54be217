"""Learned escalation scores: cross-validated figures beside hand-written policies.

Run from the project root (after the two converters)::

    python benchmarks/convert_uss.py && python benchmarks/convert_betold.py
    python benchmarks/tune.py [--write] [--folds 5] [--seed 0]

For each data set the conversations are cut into ``--folds`` folds by conversation
(seeded, stratified by label). A score is tuned on every training part (``escalate
tune``'s fitting: features the engine computed at each user turn with the base policy,
L2 logistic regression, feature selection, Platt calibration) and scores that fold's
test part, which it never saw; figures pool the test parts. Hand-written policies and
baselines need no fitting: they are replayed once and scored on the same test parts
(pooled: every conversation), ranked by replay's escalation score (the highest rule
margin over user turns). "recall @10%" escalates the top 10 % of conversations by
score, the operating point at which the data README quotes VADER.

* USS MWOZ and SGD (Sun et al., SIGIR 2021): label = a user turn with mean satisfaction
  <= 2, from that turn on; base policy ``default`` with the shipped affect model.
* BETOLD valid (Terragni et al., 2022): label = LUHF, conversation-level; intents only,
  base policy ``phone_bot`` without an affect model.

Leave-one-domain-out on USS: the MWOZ + SGD fit holds out each corpus in turn (``escalate
tune``'s own leave-one-domain-out: the whole procedure on the other corpus, threshold
chosen there at 10 %) and scores it, beside the hand-written policies on the same corpus.
A grid over ``l2`` and ``max_features`` reports the same held-out ROC-AUC and BETOLD's
cross-validated ROC-AUC: the figures behind ``fit_score``'s defaults.

Features (the expensive part: the affect model) and hand-written policies' scores are
cached under ``benchmarks/out/tune/``, keyed by the data file and the model file, so
reruns take seconds.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import platform
import time
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from _data import FAILURE_INTENTS, OUT, ROOT, CachedAffect, load
from _results import replace_section

from escalate.affect.base import AffectModel
from escalate.engine import Engine
from escalate.policy import load_policy
from escalate.replay.features import TurnFeatures, extract_features
from escalate.replay.metrics import recall_at_rate, roc_auc
from escalate.replay.runner import Runner, collect
from escalate.replay.tune import (
    DEFAULT_L2,
    DEFAULT_MAX_FEATURES,
    TunedScore,
    TuneWarning,
    fit_score,
)

CACHE = OUT / "tune"
RATE = 0.10


def _model_key() -> str:
    model = ROOT / "models" / "affect" / "model.onnx"
    stat = model.stat() if model.is_file() else None
    return f"{stat.st_size}-{int(stat.st_mtime)}" if stat else "none"


def _key(path: Path, *parts: str) -> str:
    stat = path.stat()
    raw = "|".join([path.name, str(stat.st_size), str(int(stat.st_mtime)), *parts])
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


_AFFECT: CachedAffect | None = None


def shared_affect() -> CachedAffect:
    global _AFFECT
    if _AFFECT is None:
        from escalate.affect import OnnxAffectModel

        _AFFECT = CachedAffect(OnnxAffectModel.default())
    return _AFFECT


def features(path: Path, base: str, affect: bool) -> TurnFeatures:
    """The base policy's per-turn signals for a data set, cached."""
    key = _key(path, base, _model_key() if affect else "no-affect", _policy_stamp(base))
    target = CACHE / f"{path.stem}-{base}-{key}.npz"
    if target.is_file():
        return TurnFeatures.load(target)
    engine = Engine.from_policy(
        base, affect=shared_affect() if affect else None, history="memory://"
    )
    start = time.perf_counter()
    f = extract_features(load(path), engine)
    print(f"features {path.name}: {f.values.shape} in {time.perf_counter() - start:.0f} s")
    f.save(target)
    return f


def policy_scores(
    path: Path, policy: str, affect: Callable[[], AffectModel] | None
) -> dict[str, float]:
    """Replay's escalation score of a hand-written policy per conversation, cached."""
    key = _key(
        path,
        policy,
        _model_key() if affect else "no-affect",
        str(load_policy(policy).source),
        _policy_stamp(policy),
    )
    target = CACHE / f"{path.stem}-{policy}-{key}.json"
    if target.is_file():
        loaded: dict[str, float] = json.loads(target.read_text())
        return loaded
    runner = Runner(policy, affect=affect, workers=1, progress=False)
    results, _ = collect(runner.run(load(path)))
    scores = {r.id: (r.score if np.isfinite(r.score) else -1e9) for r in results}
    CACHE.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(scores))
    return scores


def _policy_stamp(policy: str) -> str:
    source = Path(load_policy(policy).source)
    return hashlib.sha1(source.read_bytes()).hexdigest()[:12]


def concat(parts: list[TurnFeatures]) -> TurnFeatures:
    """Several data sets' features as one (same signal names)."""
    names = parts[0].names
    offset = np.cumsum([0] + [p.conversations for p in parts[:-1]])
    return TurnFeatures(
        names=names,
        values=np.concatenate([p.values[:, [p.names.index(n) for n in names]] for p in parts]),
        conversation=np.concatenate(
            [p.conversation + o for p, o in zip(parts, offset, strict=True)]
        ),
        user_turn=np.concatenate([p.user_turn for p in parts]),
        ids=tuple(i for p in parts for i in p.ids),
        labels=np.concatenate([p.labels for p in parts]),
        label_turn=np.concatenate([p.label_turn for p in parts]),
        domains=tuple(p.domain(k) for p in parts for k in range(p.conversations)),
        base_score=(
            np.concatenate([p.base_score for p in parts if p.base_score is not None])
            if all(p.base_score is not None for p in parts)
            else None
        ),
        base_escalated=(
            np.concatenate([p.base_escalated for p in parts if p.base_escalated is not None])
            if all(p.base_escalated is not None for p in parts)
            else None
        ),
    )


def f3(x: float | None) -> str:
    return "–" if x is None else f"{x:.3f}"


def section(
    title: str,
    feats: TurnFeatures,
    base: str,
    hand: dict[str, dict[str, float]],
    extra: dict[str, list[float]],
    folds: int,
    seed: int,
) -> tuple[str, dict[str, Any]]:
    y = feats.labels
    start = time.perf_counter()
    with warnings.catch_warnings():  # leave-one-domain-out warnings are reported below
        warnings.simplefilter("ignore", TuneWarning)
        tuned = fit_score(feats, base=load_policy(base), target_rate=RATE, folds=folds, seed=seed)
    seconds = time.perf_counter() - start
    rows = [
        [
            f"**tuned** (base {base}, {len(tuned.spec.weights)} signals)",
            f3(tuned.cv.roc_auc),
            f3(tuned.cv.recall_at_rate),
            f"{tuned.cv.ece:.3f}",
        ]
    ]
    best_auc, best_rec = -1.0, -1.0
    for name, scores in hand.items():
        s = np.asarray([scores[i] for i in feats.ids])
        auc, rec = roc_auc(y, s), recall_at_rate(y, s, RATE)
        rows.append([name, f3(auc), f3(rec), "–"])
        best_auc, best_rec = max(best_auc, auc or 0), max(best_rec, rec or 0)
    for name, values in extra.items():
        s = np.asarray(values)
        auc, rec = roc_auc(y, s), recall_at_rate(y, s, RATE)
        rows.append([name, f3(auc), f3(rec), "–"])
        best_auc, best_rec = max(best_auc, auc or 0), max(best_rec, rec or 0)
    lines = ["| policy | ROC-AUC | recall @10% | ECE |", "|---|---|---|---|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    folds_auc = ", ".join(f3(a) for a in tuned.cv.fold_auc)
    signal, signal_auc = best_signal(feats)
    text = (
        f"**{title}** — {feats.conversations:,} conversations, {int(y.sum())} needed a "
        f"person, {feats.values.shape[0]:,} user turns. Tuned: per-fold ROC-AUC {folds_auc}; "
        f"signals: {', '.join(tuned.spec.weights)}. Strongest single signal (highest over "
        f"user turns, either direction, picked in-sample): {signal} {signal_auc:.3f}.\n\n"
        + "\n".join(lines)
    )
    return text, {
        "auc": tuned.cv.roc_auc,
        "rec": tuned.cv.recall_at_rate,
        "best_auc": best_auc,
        "best_rec": best_rec,
        "seconds": seconds,
        "n": feats.conversations,
        "tuned": tuned,
    }


def lodo_section(tuned: TunedScore, feats: TurnFeatures, hand: dict[str, dict[str, float]]) -> str:
    """Each USS corpus scored by a score fitted on the other, beside hand-written policies."""
    domain = np.asarray([feats.domain(k) for k in range(feats.conversations)], dtype=object)
    lines = [
        "| held out | tuned on the other | seen (pooled CV) | "
        + " | ".join(hand)
        + " | tuned: threshold, escalation rate, recall | base: escalation rate, recall |",
        "|---|---|---|" + "---|" * len(hand) + "---|---|",
    ]
    notes = []
    for d in tuned.cv.domains:
        held = domain == d.domain
        y = feats.labels[held]
        ids = [i for i, h in zip(feats.ids, held, strict=True) if h]
        policy_aucs = [roc_auc(y, np.asarray([hand[p][i] for i in ids])) for p in hand]
        lines.append(
            f"| {d.domain.upper()} ({d.conversations:,}, {d.positives} needed a person) "
            f"| **{f3(d.roc_auc)}** | {f3(d.pooled_roc_auc)} | "
            + " | ".join(f3(a) for a in policy_aucs)
            + f" | {d.threshold:g}, {f3(d.escalation_rate)}, {f3(d.recall)} "
            f"| {f3(d.base_escalation_rate)}, {f3(d.base_recall)} |"
        )
        notes += [f"- TuneWarning: {m}." for m in d.problems]
        if d.threshold is not None and d.threshold >= 1.0:
            notes.append(
                f"- Fitted without {d.domain.upper()}, the threshold is 1: on the other "
                "corpus the kept hard rules alone escalate more than 10 %, so the score "
                f"never fires and the tuned policy is those rules on {d.domain.upper()}."
            )
        notes.append(
            f"- Fitted without {d.domain.upper()}, the score weighs: {', '.join(d.signals)}."
        )
    return (
        "**USS leave-one-domain-out** — `fit_score` on MWOZ + SGD with each conversation's "
        "domain: each corpus is scored by a score fitted on the other alone (folds, feature "
        "selection, calibration and the threshold at 10 % all on the other corpus). ROC-AUC "
        "of each policy on the held-out corpus; hand-written policies need no fitting. "
        '"seen": the pooled cross-validated score, which trained on both corpora.\n\n'
        + "\n".join(lines)
        + ("\n\n" + "\n".join(notes) if notes else "")
    )


GRID_L2 = (1.0, 3.0, 10.0, 30.0, 100.0)
GRID_FEATURES = (3, 6, 12)


def grid_section(uss: TurnFeatures, betold: TurnFeatures, folds: int, seed: int) -> str:
    """Held-out USS ROC-AUC and BETOLD cross-validated ROC-AUC over l2 and max_features."""
    rows = []
    for l2 in GRID_L2:
        for most in GRID_FEATURES:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", TuneWarning)
                fit = functools.partial(fit_score, target_rate=RATE, folds=folds, seed=seed,
                                        l2=l2, max_features=most)  # fmt: skip
                u = fit(uss, base=load_policy("default"))
                b = fit(betold, base=load_policy("phone_bot"))
            held = {d.domain: d.roc_auc or 0.0 for d in u.cv.domains}
            chosen = l2 == DEFAULT_L2 and most == DEFAULT_MAX_FEATURES
            mark = (lambda x: f"**{x}**") if chosen else (lambda x: x)
            rows.append(
                "| "
                + " | ".join(
                    mark(x)
                    for x in (
                        f"{l2:g}",
                        str(most),
                        f"{held['mwoz']:.3f}",
                        f"{held['sgd']:.3f}",
                        f"{(held['mwoz'] + held['sgd']) / 2:.3f}",
                        f3(u.cv.roc_auc),
                        f3(b.cv.roc_auc),
                        f3(b.cv.recall_at_rate),
                        f"{len(u.spec.weights)}, {len(b.spec.weights)}",
                    )
                )
                + " |"
            )
    head = [
        "| l2 | max_features | MWOZ held out | SGD held out | mean held out | USS pooled CV "
        "| BETOLD CV | BETOLD CV recall @10% | signals kept (USS, BETOLD) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    return (
        "**Regularisation** — ROC-AUC over `l2` (ridge strength on standardised signals, each "
        "conversation weighing 1) and `max_features`; the defaults in bold.\n\n"
        + "\n".join(head + rows)
    )


def best_signal(feats: TurnFeatures) -> tuple[str, float]:
    """The single signal whose highest value over user turns ranks conversations best."""
    best = ("–", 0.5)
    for j, name in enumerate(feats.names):
        x = np.nan_to_num(feats.values[:, j], nan=-1e9)
        top = np.full(feats.conversations, -1e9)
        np.maximum.at(top, feats.conversation, x)
        auc = roc_auc(feats.labels, top)
        if auc is not None and max(auc, 1 - auc) > best[1]:
            best = (name, max(auc, 1 - auc))
    return best


def vader(path: Path) -> list[float]:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    analyzer = SentimentIntensityAnalyzer()
    out = []
    for c in load(path):
        compounds = [
            analyzer.polarity_scores(t.text)["compound"]
            for t in c.turns
            if t.role == "user" and t.text
        ]
        out.append(-min(compounds) if compounds else -1.0)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--write", action="store_true", help="replace '## Tuned policies'")
    parser.add_argument("--features-only", action="store_true")
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    uss = {n: OUT / f"uss_{n}.jsonl" for n in ("mwoz", "sgd")}
    betold = OUT / "betold_valid.jsonl"
    feats = {n: features(p, "default", affect=True) for n, p in uss.items()}
    feats["betold"] = features(betold, "phone_bot", affect=False)
    if args.features_only:
        return
    text_policies = ["default", "dialogue_only", "baseline_keyword", "baseline_sentiment"]
    no_affect = {"dialogue_only", "baseline_keyword"}
    hand: dict[str, dict[str, dict[str, float]]] = {}
    for n, p in uss.items():
        hand[n] = {
            pol: policy_scores(p, pol, None if pol in no_affect else shared_affect)
            for pol in text_policies
        }
    hand["betold"] = {
        pol: policy_scores(betold, pol, None)
        for pol in ("phone_bot", "dialogue_only", "baseline_keyword")
    }
    vad = {n: vader(p) for n, p in uss.items()}
    parts, heads = [], {}
    for n, title in (("mwoz", "USS MWOZ"), ("sgd", "USS SGD")):
        text, heads[n] = section(
            title, feats[n], "default", hand[n], {"VADER compound": vad[n]}, args.folds, args.seed
        )
        parts.append(text)
    both = concat([feats["mwoz"], feats["sgd"]])
    hand_both = {pol: {**hand["mwoz"][pol], **hand["sgd"][pol]} for pol in text_policies}
    text, heads["uss"] = section(
        "USS MWOZ + SGD",
        both,
        "default",
        hand_both,
        {"VADER compound": vad["mwoz"] + vad["sgd"]},
        args.folds,
        args.seed,
    )
    parts.append(text)
    parts.append(lodo_section(heads["uss"]["tuned"], both, hand_both))
    counts = [float(sum(t.intent in FAILURE_INTENTS for t in c.turns)) for c in load(betold)]
    text, heads["betold"] = section(
        "BETOLD valid",
        feats["betold"],
        "phone_bot",
        hand["betold"],
        {"failure-intent count": counts},
        args.folds,
        args.seed,
    )
    parts.append(text)
    parts.append(grid_section(both, feats["betold"], args.folds, args.seed))

    def met(h: dict[str, Any]) -> str:
        ok = (h["auc"] or 0) > h["best_auc"] and (h["rec"] or 0) > h["best_rec"]
        return "met" if ok else "**not met**"

    targets = [
        f"- Beat the default/phone_bot policy and every baseline on ROC-AUC and recall @10%: "
        f"MWOZ {met(heads['mwoz'])}, SGD {met(heads['sgd'])}, MWOZ + SGD {met(heads['uss'])}, "
        f"BETOLD {met(heads['betold'])}.",
        f"- USS ROC-AUC >= 0.75: {f3(heads['uss']['auc'])} on MWOZ + SGD "
        f"({'met' if (heads['uss']['auc'] or 0) >= 0.75 else '**not met**'}).",
        f"- BETOLD valid ROC-AUC >= 0.80: {f3(heads['betold']['auc'])} "
        f"({'met' if (heads['betold']['auc'] or 0) >= 0.80 else '**not met**'}).",
        "- Transfer (held-out corpus, fitted on the other) at least the default policy's "
        "ROC-AUC on the same corpus: "
        + ", ".join(
            f"{d.domain.upper()} {f3(d.roc_auc)} against {f3(d.base_roc_auc)} "
            f"({'met' if (d.roc_auc or 0) >= (d.base_roc_auc or 0) else '**not met**'})"
            for d in heads["uss"]["tuned"].cv.domains
        )
        + ".",
        f"- Tuning {heads['uss']['n']:,} labelled conversations, features computed: "
        f"{heads['uss']['seconds']:.1f} s for the {args.folds} cross-validation fits, the "
        "calibration, the final fit and leave-one-domain-out (target: under a minute).",
    ]
    body = "\n\n".join(
        [
            "## Tuned policies",
            f"`python benchmarks/tune.py --write` — {datetime.now(UTC):%Y-%m-%d}, "
            f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}. Defaults: l2={DEFAULT_L2:g}, "
            f"max_features={DEFAULT_MAX_FEATURES}. {args.folds}-fold cross-validation by "
            f"conversation (seed {args.seed}, stratified): the tuned score's figures pool the "
            "test parts, each scored by a model fitted without it; hand-written policies and "
            "baselines are scored on the same conversations (no fitting). ROC-AUC and recall "
            "@10% rank conversations by their highest score over user turns (hand-written "
            "policies: replay's escalation score). ECE: calibration error of the tuned score "
            "(Platt parameters fitted on the other folds).",
            *parts,
            "\n".join(targets),
        ]
    )
    print(body)
    if args.write:
        replace_section("## Tuned policies", body)


if __name__ == "__main__":
    main()
