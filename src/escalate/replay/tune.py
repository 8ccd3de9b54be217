"""Fit an escalation score to labelled history and write it as a readable policy.

``escalate tune DATA --policy BASE.yaml --out TUNED.yaml`` replays labelled conversations
through the base policy, fits a logistic score on the signals the engine computed at
each user turn, picks a threshold on held-out folds and writes a policy that keeps the
base policy's hard rules ahead of one rule ``score.escalation >= threshold``.

Features, without look-ahead
    :func:`~escalate.replay.features.extract_features` runs
    :meth:`~escalate.engine.Engine.decide_many` with the base policy — the path replay
    takes — and keeps :attr:`Decision.signals <escalate.models.Decision.signals>` at every
    user turn: the values at turn *t* come from turns up to *t* only. Every numeric signal
    that varies in the training data is a candidate. Counts (non-negative, above 1) are
    used as ``log(1 + x)``; a signal unknown at some training turns is filled with its
    training mean (written as the score's ``fill``); a signal never unknown in training
    is filled with 0 when unknown later (the score's default).

Training target
    Replay escalates a conversation when the score crosses the threshold at *any* user
    turn, so the conversation's score is the highest over its turns. Per user turn:

    * a conversation that did not need a person: every turn is a negative (the score
      must stay low all along);
    * one that did, with a labelled turn: turns from the labelled one on are positives
      and earlier turns negatives (things were still fine), which teaches the score to
      rise when the conversation goes wrong, not before;
    * one that did, without a labelled turn (conversation-level labels): every user turn
      is a positive (the label is the conversation's; each turn's signals, computed
      without look-ahead, are evidence of where it was heading). Labelling only the last
      turn was tried and ranks worse: on BETOLD valid, cross-validated ROC-AUC 0.62
      against 0.67, since it keeps one positive example per conversation instead of all.

    Each conversation weighs 1 in total, shared by its training turns, so long
    conversations do not dominate.

Model
    L2-regularised logistic regression (Newton's method, numpy) on standardised
    features (``l2``, default :data:`DEFAULT_L2`, against a log-likelihood in which each
    conversation weighs 1); the ``max_features`` (default :data:`DEFAULT_MAX_FEATURES`)
    largest standardised weights (at least ``min_weight``) are kept — skipping a signal
    correlated above 0.95 with one already kept, such as ``dialogue.turns`` beside
    ``dialogue.bot_turns`` — and the model refitted on them; the standardisation is then
    folded back so that the written weights apply to raw signal values.

Cross-validation and calibration
    Conversations are cut into ``folds`` folds (seeded, stratified by label). A model
    fitted on the other folds scores each fold's conversations; those out-of-fold
    conversation scores give the reported ROC-AUC and recall at the target rate, are
    used for Platt scaling (``sigmoid(a * logit + b)``, folded into the written bias and
    weights so that the score is a calibrated probability that the conversation needs a
    person) and to pick the threshold. The expected calibration error is measured with
    Platt parameters fitted on the other folds only. The written model is then fitted on
    every conversation. Each fold's model is penalised in proportion to its share of the
    conversations (``l2 * (folds - 1) / folds``), so that its scores, on which the
    calibration and the threshold are chosen, spread as the final model's do.

Leave-one-domain-out
    When the conversations name two or more domains
    (:attr:`TurnFeatures.domains <escalate.replay.features.TurnFeatures.domains>`), each
    domain is held out in turn: everything above (folds, signal selection, calibration,
    the threshold at the same target) runs on the other domains, and the resulting policy
    scores the held-out domain (:class:`DomainFigures`, in
    :attr:`CrossValidation.domains`). The base policy's own escalation score ranks the
    same conversations without any fitting; a held-out ROC-AUC below it, or below 0.5,
    issues a :class:`TuneWarning`. Conversations without a domain are always trained on.
    The defaults ``l2=30`` and ``max_features=6`` held out best on USS (fitted on MWOZ,
    scored on SGD, and the reverse: mean held-out ROC-AUC 0.609 against 0.586 for the
    former ``l2=1, max_features=12``) at a cost of 0.01 in BETOLD's cross-validated
    ROC-AUC (0.661 against 0.671) and of 0.018 in its recall at 10 % (0.198 against
    0.216); ``benchmarks/tune.py`` prints the grid (``benchmarks/RESULTS.md``).

Threshold
    ``target_rate``: the lowest threshold at which the tuned policy (hard rules or the
    score) escalates at most that share of conversations; ``target_recall``: the highest
    threshold that still reaches that recall; ``costs``: the threshold with the lowest
    expected cost (``human_per_handoff`` per escalated conversation plus
    ``missed_escalation`` per missed one).

Hard rules
    Rules kept ahead of the score: every rule whose action involves a person and whose
    id names a human request, distress, vulnerability, a repeat or returning contact, a
    complaint, safety or fraud, or that reads a signal of such a kind
    (:data:`HARD_SIGNALS`: ``human_request``, ``dialogue.asked_for_human``,
    ``dialogue.human_requests``, ``distress``, ``mood.distress``, ``trajectory.distress.*``,
    ``trajectory.human_request.*``, ``customer.vulnerable``, ``history.*``), or whose
    priority is ``urgent``; ``keep`` and ``drop`` override by id. The explicit-request
    guard and every other guard stay as they are. All other rules (``continue`` rules
    included) are replaced by the score rule.
"""

from __future__ import annotations

import math
import re
import time
import warnings
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from escalate.errors import EscalateError
from escalate.models import Action
from escalate.policy import Policy, load_policy
from escalate.policy.loader import CompiledRule
from escalate.policy.schema import Costs
from escalate.policy.scores import SCORE_PREFIX, ScoreSpec
from escalate.replay.calibration import expected_calibration_error, fit_platt
from escalate.replay.features import TurnFeatures
from escalate.replay.metrics import prf, recall_at_rate, roc_auc

__all__ = [
    "DEFAULT_L2",
    "DEFAULT_MAX_FEATURES",
    "HARD_SIGNALS",
    "MIN_CONVERSATIONS",
    "MIN_POSITIVES",
    "CrossValidation",
    "DomainFigures",
    "TuneError",
    "TuneWarning",
    "TunedScore",
    "fit_score",
    "hard_rules",
    "tuned_policy_text",
    "write_tuned_policy",
]

#: Fewest labelled conversations, and fewest of each class, accepted for fitting.
MIN_CONVERSATIONS = 50
MIN_POSITIVES = 10
#: Default ridge strength (on standardised features, conversations weighing 1 each) and
#: most signals kept: chosen by leave-one-domain-out on USS (fit on MWOZ, score SGD and
#: the reverse) and cross-validation on BETOLD; see the module notes.
DEFAULT_L2 = 30.0
DEFAULT_MAX_FEATURES = 6
#: A signal this correlated with one already kept adds nothing readable and is skipped.
_REDUNDANT = 0.95
#: Signals (or prefixes, ending in '.') that make a rule "hard": kept ahead of the score.
HARD_SIGNALS: tuple[str, ...] = (
    "human_request",
    "dialogue.asked_for_human",
    "dialogue.human_requests",
    "distress",
    "mood.distress",
    "trajectory.distress.",
    "trajectory.human_request.",
    "customer.vulnerable",
    "history.",
)
_HARD_ID = re.compile(
    r"distress|vulnerab|human|request|explicit|repeat|returning|history|complain|safety|"
    r"fraud|bereave|urgent"
)


#: A rule that reads a learned score (``score.<name>``), such as an earlier tune's.
_READS_SCORE = re.compile(r"(?<![\w.])score\.")


class TuneError(EscalateError, ValueError):
    """The data cannot support a fit (too few labelled conversations or positives)."""


# --------------------------------------------------------------------------------------
# Hard rules
# --------------------------------------------------------------------------------------


def _is_hard_signal(name: str) -> bool:
    return any(name.startswith(h) if h.endswith(".") else name == h for h in HARD_SIGNALS)


def hard_rules(
    policy: Policy, *, keep: Collection[str] = (), drop: Collection[str] = ()
) -> list[CompiledRule]:
    """The rules of ``policy`` kept ahead of a tuned score, in order (see the module notes).

    Examples
    --------
    >>> [r.id for r in hard_rules(load_policy("default"))]
    ['distressed', 'repeat-contact', 'unresolved-returning']

    A rule on a learned score is never kept: tuning a tuned policy replaces its score.

    >>> [r.id for r in hard_rules(load_policy("phone_bot"))]
    []
    """
    out = []
    for rule in policy.rules:
        if rule.id in drop:
            continue
        if _READS_SCORE.search(rule.expression.source) and rule.id not in keep:
            continue  # a rule on a learned score: the new score's rule replaces it
        hard = rule.action != "continue" and (
            bool(_HARD_ID.search(rule.id))
            or rule.priority == "urgent"
            or any(_is_hard_signal(n) for n in rule.expression.names)
        )
        if hard or rule.id in keep:
            out.append(rule)
    return out


def _hard_fired(
    features: TurnFeatures, rules: Sequence[CompiledRule], explicit: CompiledRule | None
) -> np.ndarray:
    """Per conversation: does a kept hard rule or the explicit-request guard hold at a turn?"""
    checks = [*rules, *([explicit] if explicit is not None else [])]
    fired = np.zeros(features.conversations, dtype=bool)
    if not checks:
        return fired
    names = sorted({n for r in checks for n in r.expression.names} & set(features.names))
    columns = [features.names.index(n) for n in names]
    for i in range(features.values.shape[0]):
        k = features.conversation[i]
        if fired[k]:
            continue
        row = features.values[i, columns]
        values = {n: (None if v != v else float(v)) for n, v in zip(names, row, strict=True)}
        if any(r.expression.evaluate(values) for r in checks):
            fired[k] = True
    return fired


# --------------------------------------------------------------------------------------
# The model
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Prep:
    """How raw columns become model inputs: fill, log1p, standardise."""

    columns: np.ndarray  # indices into features.names
    fill: np.ndarray
    log: np.ndarray  # bool
    mean: np.ndarray
    std: np.ndarray

    def transform(self, raw: np.ndarray) -> np.ndarray:
        x = raw[:, self.columns]
        x = np.where(np.isnan(x), self.fill, x)
        x = np.where(self.log, np.log1p(np.maximum(x, -1.0 + 1e-12)), x)
        return np.asarray((x - self.mean) / self.std)

    def subset(self, keep: np.ndarray) -> _Prep:
        return _Prep(
            self.columns[keep], self.fill[keep], self.log[keep], self.mean[keep], self.std[keep]
        )


def _prepare(raw: np.ndarray, candidates: np.ndarray) -> _Prep:
    cols, fills, logs, means, stds = [], [], [], [], []
    for j in candidates:
        x = raw[:, j]
        known = x[~np.isnan(x)]
        if known.size == 0:
            continue
        fill = float(known.mean()) if known.size < x.size else 0.0
        x = np.where(np.isnan(x), fill, x)
        log = bool(known.min() >= 0.0 and known.max() > 1.0)
        if log:
            x = np.log1p(x)
        std = float(x.std())
        if not std > 1e-9:
            continue
        cols.append(j)
        fills.append(fill)
        logs.append(log)
        means.append(float(x.mean()))
        stds.append(std)
    return _Prep(
        np.asarray(cols, dtype=np.int64),
        np.asarray(fills),
        np.asarray(logs, dtype=bool),
        np.asarray(means),
        np.asarray(stds),
    )


def _logistic(
    X: np.ndarray, y: np.ndarray, w: np.ndarray, l2: float, iterations: int = 50
) -> tuple[float, np.ndarray]:
    """Weighted L2 logistic regression by Newton's method; the intercept is not penalised."""
    n, d = X.shape
    A = np.column_stack([np.ones(n), X])
    beta = np.zeros(d + 1)
    penalty = np.full(d + 1, l2)
    penalty[0] = 0.0
    for _ in range(iterations):
        z = np.clip(A @ beta, -35.0, 35.0)
        p = 1.0 / (1.0 + np.exp(-z))
        grad = A.T @ (w * (p - y)) + penalty * beta
        hess = (A * (w * p * (1.0 - p))[:, None]).T @ A + np.diag(penalty) + 1e-9 * np.eye(d + 1)
        step = np.linalg.solve(hess, grad)
        beta -= step
        if np.abs(step).max() < 1e-8:
            break
    return float(beta[0]), beta[1:]


def _examples(
    features: TurnFeatures, conversations: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training rows, per-turn targets and weights for the given conversations."""
    take = np.zeros(features.conversations, dtype=bool)
    take[conversations] = True
    rows = np.flatnonzero(take[features.conversation])
    conv = features.conversation[rows]
    label = features.labels[conv]
    label_turn = features.label_turn[conv]
    user_turn = features.user_turn[rows]
    y = np.zeros(rows.size)
    timed = label & (label_turn >= 0)
    y[timed] = (user_turn[timed] >= label_turn[timed]).astype(np.float64)
    y[label & (label_turn < 0)] = 1.0
    per_conv = np.bincount(conv, minlength=features.conversations).astype(np.float64)
    weights = 1.0 / per_conv[conv]
    return rows, y, weights


@dataclass(frozen=True, slots=True)
class _Model:
    prep: _Prep
    intercept: float
    beta: np.ndarray  # standardised weights

    def logits(self, raw: np.ndarray) -> np.ndarray:
        return np.asarray(self.intercept + self.prep.transform(raw) @ self.beta)


def _fit(
    features: TurnFeatures,
    conversations: np.ndarray,
    candidates: np.ndarray,
    *,
    l2: float,
    max_features: int,
    min_weight: float,
) -> _Model:
    rows, y, w = _examples(features, conversations)
    raw = features.values[rows]
    prep = _prepare(raw, candidates)
    if prep.columns.size == 0:
        raise TuneError("no signal varies in the training data; nothing to fit")
    X = prep.transform(raw)
    intercept, beta = _logistic(X, y, w, l2)
    order = np.argsort(-np.abs(beta), kind="stable")
    corr = np.corrcoef(X, rowvar=False) if X.shape[1] > 1 else np.ones((1, 1))
    chosen: list[int] = []
    for j in order:
        if len(chosen) >= max_features or abs(beta[j]) < min_weight:
            break
        if all(abs(corr[j, c]) < _REDUNDANT for c in chosen):
            chosen.append(int(j))
    keep = np.sort(np.asarray(chosen or [int(order[0])], dtype=np.int64))
    intercept, beta = _logistic(X[:, keep], y, w, l2)
    strong = np.abs(beta) >= min_weight
    if 0 < strong.sum() < keep.size:  # weights that shrank below min_weight once refitted
        keep = keep[strong]
        intercept, beta = _logistic(X[:, keep], y, w, l2)
    return _Model(prep.subset(keep), intercept, beta)


def _conversation_max(features: TurnFeatures, logits: np.ndarray, rows: np.ndarray) -> np.ndarray:
    out = np.full(features.conversations, -np.inf)
    np.maximum.at(out, features.conversation[rows], logits)
    return out


def _folds(labels: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Fold of each conversation: stratified by label, seeded."""
    rng = np.random.default_rng(seed)
    fold = np.empty(labels.size, dtype=np.int64)
    for cls in (True, False):
        idx = np.flatnonzero(labels == cls)
        idx = idx[rng.permutation(idx.size)]
        fold[idx] = np.arange(idx.size) % k
    return fold


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return np.asarray(1.0 / (1.0 + np.exp(-np.clip(z, -35.0, 35.0))))


# --------------------------------------------------------------------------------------
# Thresholds
# --------------------------------------------------------------------------------------


def _operating(p: np.ndarray, hard: np.ndarray, y: np.ndarray, t: float) -> dict[str, Any]:
    flagged = hard | (p >= t)
    tp = int((flagged & y).sum())
    fp = int((flagged & ~y).sum())
    fn = int((~flagged & y).sum())
    precision, recall, f1 = prf(tp, fp, fn)
    return {
        "threshold": t,
        "escalation_rate": float(flagged.mean()),
        "precision": precision,
        "recall": recall,
        "f1": f1,
    }


def _choose_threshold(
    p: np.ndarray,
    hard: np.ndarray,
    y: np.ndarray,
    *,
    target_rate: float | None,
    target_recall: float | None,
    costs: Costs | None,
) -> float:
    candidates = np.unique(np.round(p, 4))
    candidates = np.concatenate([candidates, [1.0]])
    points = [_operating(p, hard, y, float(t)) for t in candidates]
    if target_recall is not None:
        good = [pt for pt in points if (pt["recall"] or 0.0) >= target_recall]
        return (
            float(max(good, key=lambda pt: pt["threshold"])["threshold"])
            if good
            else float(candidates[0])
        )
    if costs is not None:
        positives = int(y.sum())

        def cost(pt: dict[str, Any]) -> float:
            missed = positives - (pt["recall"] or 0.0) * positives
            return float(
                costs.human_per_handoff * pt["escalation_rate"] * y.size
                + costs.missed_escalation * missed
            )

        return float(min(points, key=lambda pt: (cost(pt), -pt["threshold"]))["threshold"])
    rate = 0.10 if target_rate is None else target_rate
    good = [pt for pt in points if pt["escalation_rate"] <= rate + 1e-12]
    return float(min(good, key=lambda pt: pt["threshold"])["threshold"]) if good else 1.0


# --------------------------------------------------------------------------------------
# The whole procedure on some conversations, and leave-one-domain-out
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Settings:
    """Everything that shapes a fit, so a held-out domain's model is fitted alike."""

    candidates: np.ndarray
    folds: int
    seed: int
    l2: float
    max_features: int
    min_weight: float
    target_rate: float | None
    target_recall: float | None
    costs: Costs | None


@dataclass(frozen=True, slots=True)
class _Calibrated:
    model: _Model  # fitted on every given conversation
    a: float  # Platt scaling of the out-of-fold logits
    b: float
    threshold: float
    scores: np.ndarray  # calibrated out-of-fold scores of the given conversations, in order
    crossfit: np.ndarray  # the same, with Platt parameters fitted on the other folds
    fold: np.ndarray


def _fit_calibrated(
    features: TurnFeatures, conversations: np.ndarray, hard: np.ndarray, settings: _Settings
) -> _Calibrated:
    """Cross-validate, calibrate, choose the threshold and fit on ``conversations``."""
    y = features.labels[conversations]
    fold = _folds(y, settings.folds, settings.seed)
    fold_of = np.full(features.conversations, -1, dtype=np.int64)
    fold_of[conversations] = fold
    row_fold = fold_of[features.conversation]
    logits = np.full(features.conversations, -np.inf)
    all_rows = np.arange(features.values.shape[0])
    for k in range(settings.folds):
        train = conversations[fold != k]
        model = _fit(
            features,
            train,
            settings.candidates,
            l2=settings.l2 * train.size / conversations.size,
            max_features=settings.max_features,
            min_weight=settings.min_weight,
        )
        test_rows = all_rows[row_fold == k]
        z = model.logits(features.values[test_rows])
        logits = np.maximum(logits, _conversation_max(features, z, test_rows))
    oof = logits[conversations]
    oof = np.where(np.isfinite(oof), oof, -35.0)
    a, b = fit_platt(oof, y)
    p = _sigmoid(a * oof + b)
    crossfit = np.empty(conversations.size)
    for k in range(settings.folds):
        other = fold != k
        ak, bk = fit_platt(oof[other], y[other])
        crossfit[fold == k] = _sigmoid(ak * oof[fold == k] + bk)
    threshold = _choose_threshold(
        p,
        hard[conversations],
        y,
        target_rate=settings.target_rate,
        target_recall=settings.target_recall,
        costs=settings.costs,
    )
    final = _fit(
        features,
        conversations,
        settings.candidates,
        l2=settings.l2,
        max_features=settings.max_features,
        min_weight=settings.min_weight,
    )
    return _Calibrated(final, a, b, threshold, p, crossfit, fold)


def _base_conversation_scores(features: TurnFeatures, base: Policy | None) -> np.ndarray | None:
    """The base policy's escalation score of each conversation: its highest over user turns
    (``-inf`` when never known), from the features or, failing that, from ``base``."""
    if features.base_score is not None:
        per_row = features.base_score
    elif base is not None:
        from escalate.replay.runner import escalation_score

        per_row = np.asarray(
            [
                np.nan if (v := escalation_score(base, features.row(i))) is None else v
                for i in range(features.values.shape[0])
            ],
            dtype=np.float64,
        )
    else:
        return None
    out = np.full(features.conversations, -np.inf)
    np.maximum.at(out, features.conversation, np.where(np.isnan(per_row), -np.inf, per_row))
    return out


def _leave_one_domain_out(
    features: TurnFeatures,
    hard: np.ndarray,
    settings: _Settings,
    base: Policy | None,
    pooled: np.ndarray,
) -> tuple[DomainFigures, ...]:
    """For each domain: the whole procedure on the other domains, scored on that one."""
    names = features.domain_names
    if len(names) < 2:
        return ()
    domain = [features.domain(k) for k in range(features.conversations)]
    y = features.labels
    base_scores = _base_conversation_scores(features, base)
    if features.base_escalated is not None:
        base_flagged: np.ndarray | None = features.base_escalated
    elif base_scores is not None:
        base_flagged = base_scores >= 0.0  # a rule held at some turn (guards not replayed)
    else:
        base_flagged = None
    all_rows = np.arange(features.values.shape[0])
    out = []
    for name in names:
        held = np.fromiter((d == name for d in domain), dtype=bool, count=len(domain))
        train = np.flatnonzero(~held)
        yd = y[held]
        base_auc = roc_auc(yd, base_scores[held]) if base_scores is not None else None
        base_rate = float(base_flagged[held].mean()) if base_flagged is not None else None
        base_recall = (
            float(base_flagged[held][yd].mean()) if base_flagged is not None and yd.any() else None
        )
        common: dict[str, Any] = {
            "domain": name,
            "conversations": int(held.sum()),
            "positives": int(yd.sum()),
            "base_roc_auc": base_auc,
            "base_escalation_rate": base_rate,
            "base_recall": base_recall,
            "pooled_roc_auc": roc_auc(yd, pooled[held]),
        }
        positives = int(y[train].sum())
        if (
            train.size < MIN_CONVERSATIONS
            or positives < MIN_POSITIVES
            or train.size - positives < MIN_POSITIVES
        ):
            out.append(
                DomainFigures(
                    **common,
                    note=f"not held out: the other domains hold {train.size} labelled "
                    f"conversations, {positives} that needed a person and "
                    f"{train.size - positives} that did not (at least {MIN_CONVERSATIONS} "
                    f"and {MIN_POSITIVES} of each kind are needed)",
                )
            )
            continue
        folds = min(settings.folds, positives, train.size - positives)
        fitted = _fit_calibrated(features, train, hard, replace(settings, folds=folds))
        rows = all_rows[held[features.conversation]]
        z = _conversation_max(features, fitted.model.logits(features.values[rows]), rows)[held]
        p = _sigmoid(fitted.a * np.where(np.isfinite(z), z, -35.0) + fitted.b)
        op = _operating(p, hard[held], yd, fitted.threshold)
        used = tuple(features.names[int(c)] for c in fitted.model.prep.columns)
        out.append(
            DomainFigures(
                **common,
                roc_auc=roc_auc(yd, p),
                threshold=round(fitted.threshold, 4),
                escalation_rate=op["escalation_rate"],
                precision=op["precision"],
                recall=op["recall"],
                signals=used,
            )
        )
    return tuple(out)


# --------------------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------------------


class TuneWarning(UserWarning):
    """A tuned score that may not transfer: fitted on the other domains, it ranks a
    held-out domain worse than the base policy does, or worse than chance.

    :func:`fit_score` issues one per problem with :func:`warnings.warn`; the same
    messages are :attr:`DomainFigures.problems`. Turn them into errors with
    ``warnings.simplefilter("error", TuneWarning)``.
    """


@dataclass(frozen=True, slots=True)
class DomainFigures:
    """Leave-one-domain-out figures of one domain: the whole procedure (cross-validation,
    feature selection, calibration, threshold at the same target) run on the other
    domains, its score applied to this domain's conversations.

    Attributes
    ----------
    domain, conversations, positives:
        The held-out domain and its size.
    roc_auc:
        Of the tuned score fitted without this domain (``None`` when not held out, or
        when the domain holds one class only).
    base_roc_auc:
        Of the base policy's own escalation score on this domain (replay's score: the
        highest rule margin over user turns), which needs no fitting.
    threshold:
        The threshold chosen on the other domains.
    escalation_rate, precision, recall:
        Of the tuned policy (hard rules or the score at that threshold) on this domain.
    base_escalation_rate, base_recall:
        Of the base policy's own decisions on this domain.
    pooled_roc_auc:
        Of the cross-validated scores of the ordinary fit (on every domain) on this
        domain: what the score does when it has seen the domain.
    signals:
        The signals the score fitted on the other domains weighs.
    note:
        Why the domain was not held out (too little data in the other domains).

    Examples
    --------
    >>> d = DomainFigures("shop", 120, 20, roc_auc=0.48, base_roc_auc=0.61)
    >>> d.problems[0]
    "held-out domain 'shop': the tuned score ranks it worse than the base policy (ROC-AUC 0.480 against 0.610)"
    """

    domain: str
    conversations: int
    positives: int
    roc_auc: float | None = None
    base_roc_auc: float | None = None
    threshold: float | None = None
    escalation_rate: float | None = None
    precision: float | None = None
    recall: float | None = None
    base_escalation_rate: float | None = None
    base_recall: float | None = None
    pooled_roc_auc: float | None = None
    signals: tuple[str, ...] = ()
    note: str = ""

    @property
    def problems(self) -> tuple[str, ...]:
        """Warnings: the tuned score ranks this domain worse than the base policy, or
        below chance (ROC-AUC under 0.5)."""
        out = []
        where = f"held-out domain {self.domain!r}"
        if (
            self.roc_auc is not None
            and self.base_roc_auc is not None
            and self.roc_auc < self.base_roc_auc
        ):
            out.append(
                f"{where}: the tuned score ranks it worse than the base policy "
                f"(ROC-AUC {self.roc_auc:.3f} against {self.base_roc_auc:.3f})"
            )
        if self.roc_auc is not None and self.roc_auc < 0.5:
            out.append(
                f"{where}: the tuned score ranks it worse than chance (ROC-AUC "
                f"{self.roc_auc:.3f} < 0.5)"
            )
        return tuple(out)

    def as_dict(self) -> dict[str, Any]:
        """The figures, with the warnings."""
        out = {f: getattr(self, f) for f in self.__dataclass_fields__}
        out["signals"] = list(self.signals)
        out["warnings"] = list(self.problems)
        return out


@dataclass(frozen=True, slots=True)
class CrossValidation:
    """Cross-validated figures, on conversations each fold's model never saw.

    Attributes
    ----------
    folds, seed:
        How the conversations were cut.
    roc_auc:
        Of the conversation score (the highest over user turns).
    recall_at_rate:
        Recall when the ``rate`` share of conversations with the highest scores escalate.
    rate:
        That share.
    ece:
        Expected calibration error of the calibrated conversation score (10 bins).
    escalation_rate, precision, recall, f1:
        Of the tuned policy (hard rules or the score rule) at the chosen threshold.
    fold_auc:
        ROC-AUC of each fold on its own.
    scores:
        The calibrated out-of-fold conversation scores, in conversation order.
    domains:
        :class:`DomainFigures` of each domain held out in turn, when the data names two
        or more domains (else empty).
    base_roc_auc:
        ROC-AUC of the base policy's own escalation score on the same conversations
        (``None`` without a base policy): the figure the tuned score has to beat.

    Examples
    --------
    >>> cv = CrossValidation(5, 0, 0.8, 0.4, 0.1, 0.02, 0.1, 0.5, 0.4, 0.44)
    >>> cv.roc_auc
    0.8
    >>> CrossValidation(5, 0, 0.6, 0.2, 0.1, 0.02, 0.1, 0.5, 0.4, 0.44,
    ...                 base_roc_auc=0.7).problems  # doctest: +ELLIPSIS
    ['the tuned score ranks conversations worse than the base policy ...']
    """

    folds: int
    seed: int
    roc_auc: float | None
    recall_at_rate: float | None
    rate: float
    ece: float
    escalation_rate: float
    precision: float | None
    recall: float | None
    f1: float | None
    fold_auc: tuple[float | None, ...] = ()
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    domains: tuple[DomainFigures, ...] = ()
    base_roc_auc: float | None = None

    @property
    def problems(self) -> list[str]:
        """Why the tuned score should not replace the base policy, if it should not."""
        if self.roc_auc is None or self.base_roc_auc is None:
            return []
        if self.roc_auc < self.base_roc_auc:
            return [
                "the tuned score ranks conversations worse than the base policy on folds it "
                f"never saw (ROC-AUC {self.roc_auc:.3f} against {self.base_roc_auc:.3f}): "
                "keep the base policy, or tune with fewer signals (--max-features) or a "
                "stronger --l2"
            ]
        return []

    def as_dict(self) -> dict[str, Any]:
        """The figures, without the scores; ``leave_one_domain_out`` lists each held-out
        domain's figures (empty for data of one domain)."""
        return {
            "folds": self.folds,
            "seed": self.seed,
            "roc_auc": self.roc_auc,
            "recall_at_rate": self.recall_at_rate,
            "rate": self.rate,
            "ece": self.ece,
            "escalation_rate": self.escalation_rate,
            "precision": self.precision,
            "recall": self.recall,
            "f1": self.f1,
            "fold_auc": list(self.fold_auc),
            "base_roc_auc": self.base_roc_auc,
            "warnings": self.problems,
            "leave_one_domain_out": [d.as_dict() for d in self.domains],
        }


@dataclass(frozen=True, slots=True)
class TunedScore:
    """A fitted, calibrated score, its threshold and its cross-validated figures.

    Attributes
    ----------
    spec:
        The score as written in the policy (raw-signal weights, calibrated).
    threshold:
        The chosen threshold on the score.
    cv:
        :class:`CrossValidation` figures.
    standardised:
        Each weighted signal's weight per standard deviation (its importance).
    conversations, positives, turns:
        The training data's size.
    target:
        How the threshold was chosen, in words.
    seconds:
        Fitting time (cross-validation included; features excluded).

    Examples
    --------
    >>> t = TunedScore(ScoreSpec(bias=-1.0, weights={"dialogue.fallbacks": 0.5}), 0.5,
    ...     CrossValidation(5, 0, 0.8, 0.4, 0.1, 0.02, 0.1, 0.5, 0.4, 0.44), {}, 60, 12, 300)
    >>> t.threshold
    0.5
    """

    spec: ScoreSpec
    threshold: float
    cv: CrossValidation
    standardised: dict[str, float]
    conversations: int
    positives: int
    turns: int
    target: str = ""
    seconds: float = 0.0


def _round(x: float, digits: int = 4) -> float:
    if x == 0 or not math.isfinite(x):
        return x
    return float(f"{x:.{digits}g}")


def fit_score(
    features: TurnFeatures,
    *,
    base: Policy | None = None,
    keep: Collection[str] = (),
    drop: Collection[str] = (),
    candidates: Sequence[str] | None = None,
    target_rate: float | None = None,
    target_recall: float | None = None,
    costs: Costs | None = None,
    folds: int = 5,
    seed: int = 0,
    l2: float = DEFAULT_L2,
    max_features: int = DEFAULT_MAX_FEATURES,
    min_weight: float = 0.05,
    rate: float | None = None,
    description: str | None = None,
    leave_one_domain_out: bool = True,
) -> TunedScore:
    """Fit, cross-validate and calibrate an escalation score (see the module notes).

    Parameters
    ----------
    features:
        Signal values at every user turn, from
        :func:`~escalate.replay.features.extract_features` with the base policy.
    base:
        The base policy: its hard rules (and explicit-request guard) count when the
        threshold is chosen; ``keep`` and ``drop`` override which rules are hard.
    candidates:
        Signals the score may weigh; default every signal of ``features`` but scores.
    target_rate, target_recall, costs:
        How the threshold is chosen (at most one; default ``target_rate=0.10``).
    folds, seed:
        Cross-validation by conversation.
    l2, max_features, min_weight:
        Ridge strength (on standardised features), most signals kept, smallest
        standardised weight kept.
    rate:
        The escalation rate for the reported recall (default ``target_rate`` or 0.10).
    leave_one_domain_out:
        When the features name two or more domains, also hold out each domain in turn
        (:attr:`CrossValidation.domains`); conversations without a domain are always
        trained on.

    Raises
    ------
    TuneError
        Fewer than :data:`MIN_CONVERSATIONS` labelled conversations, or fewer than
        :data:`MIN_POSITIVES` that needed a person (or that did not).

    Warns
    -----
    TuneWarning
        The cross-validated score ranks conversations worse than the base policy's own
        escalation score; a held-out domain that the score fitted on the other domains
        ranks worse than the base policy, or worse than chance.

    Examples
    --------
    See ``tests/replay/test_tune.py``; :func:`tuned_policy_text` writes the result.
    """
    start = time.perf_counter()
    chosen = [x is not None for x in (target_rate, target_recall, costs)]
    if sum(chosen) > 1:
        raise ValueError("give at most one of target_rate, target_recall and costs")
    if target_rate is not None and not 0.0 < target_rate < 1.0:
        raise ValueError(f"target_rate must be between 0 and 1, got {target_rate!r}")
    if target_recall is not None and not 0.0 < target_recall <= 1.0:
        raise ValueError(f"target_recall must be in (0, 1], got {target_recall!r}")
    if not isinstance(folds, int) or folds < 2:
        raise ValueError(f"folds must be an integer of at least 2, got {folds!r}")
    n, positives = features.conversations, int(features.labels.sum())
    if n < MIN_CONVERSATIONS or positives < MIN_POSITIVES or n - positives < MIN_POSITIVES:
        raise TuneError(
            f"too little labelled data to fit a score: {n} labelled conversations, "
            f"{positives} that needed a person and {n - positives} that did not; need at "
            f"least {MIN_CONVERSATIONS} conversations and {MIN_POSITIVES} of each kind"
        )
    names = list(features.names)
    wanted = [
        c
        for c in (candidates if candidates is not None else names)
        if c in names and not c.startswith(SCORE_PREFIX)
    ]
    cand = np.asarray([names.index(c) for c in wanted], dtype=np.int64)
    y = features.labels
    hard = (
        _hard_fired(features, hard_rules(base, keep=keep, drop=drop), base.explicit_request)
        if base is not None
        else np.zeros(n, dtype=bool)
    )

    settings = _Settings(
        cand, folds, seed, l2, max_features, min_weight, target_rate, target_recall, costs
    )
    fitted = _fit_calibrated(features, np.arange(n), hard, settings)
    p, fold, threshold = fitted.scores, fitted.fold, fitted.threshold
    shown_rate = rate if rate is not None else (target_rate if target_rate is not None else 0.10)
    op = _operating(p, hard, y, threshold)
    lodo = _leave_one_domain_out(features, hard, settings, base, p) if leave_one_domain_out else ()
    cv = CrossValidation(
        folds=folds,
        seed=seed,
        roc_auc=roc_auc(y, p),
        recall_at_rate=recall_at_rate(y, p, shown_rate),
        rate=shown_rate,
        ece=expected_calibration_error(fitted.crossfit, y),
        escalation_rate=op["escalation_rate"],
        precision=op["precision"],
        recall=op["recall"],
        f1=op["f1"],
        fold_auc=tuple(roc_auc(y[fold == k], p[fold == k]) for k in range(folds)),
        scores=p,
        domains=lodo,
        base_roc_auc=None
        if (mine := _base_conversation_scores(features, base)) is None
        else roc_auc(y, mine),
    )
    for message in cv.problems:
        warnings.warn(message, TuneWarning, stacklevel=2)
    for figures in lodo:
        for message in figures.problems:
            warnings.warn(message, TuneWarning, stacklevel=2)

    final, a, b = fitted.model, fitted.a, fitted.b
    prep = final.prep
    raw_w = final.beta / prep.std
    bias = final.intercept - float((final.beta * prep.mean / prep.std).sum())
    weights: dict[str, float] = {}
    standardised: dict[str, float] = {}
    log1p: list[str] = []
    fill: dict[str, float] = {}
    order = np.argsort(-np.abs(final.beta), kind="stable")
    for j in order:
        name = names[int(prep.columns[j])]
        weights[name] = _round(a * float(raw_w[j]))
        standardised[name] = round(a * float(final.beta[j]), 3)
        if prep.log[j]:
            log1p.append(name)
        if prep.fill[j] != 0.0:
            fill[name] = _round(float(prep.fill[j]))
    if target_recall is not None:
        target = f"recall >= {target_recall:g} on held-out folds"
    elif costs is not None:
        target = (
            f"lowest cost on held-out folds (handoff {costs.human_per_handoff:g}, "
            f"missed {costs.missed_escalation:g})"
        )
    else:
        target = f"escalation rate <= {target_rate if target_rate is not None else 0.10:g} on held-out folds"
    spec = ScoreSpec(
        description=description
        or f"fitted on {n:,} labelled conversations ({positives:,} needed a person), "
        f"{datetime.now(UTC):%Y-%m-%d}",
        bias=_round(a * bias + b),
        weights=weights,
        log1p=log1p,
        fill=fill,
    )
    return TunedScore(
        spec=spec,
        threshold=round(threshold, 4),
        cv=cv,
        standardised=standardised,
        conversations=n,
        positives=positives,
        turns=int(features.values.shape[0]),
        target=target,
        seconds=time.perf_counter() - start,
    )


# --------------------------------------------------------------------------------------
# Writing the policy
# --------------------------------------------------------------------------------------


def _dump(data: Any) -> str:
    return yaml.safe_dump(
        data, sort_keys=False, allow_unicode=True, width=100, default_flow_style=False
    )


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _printable(text: str) -> str:
    """``text`` fit for one comment line: no line breaks or control characters."""
    return "".join(c if c.isprintable() else "?" for c in text)


def _domain_lines(domains: Sequence[DomainFigures]) -> list[str]:
    if not domains:
        return []
    out = [
        "#",
        "# Leave-one-domain-out: each domain scored by a score fitted on the other domains",
        "# (threshold chosen there); beside it the base policy's own figures on that domain:",
    ]
    for d in domains:
        out.append(
            f"#   {_printable(d.domain)} ({d.conversations:,} conversations, "
            f"{d.positives:,} needed a person):"
        )
        if d.note:
            out.append(f"#     {d.note}.")
            continue
        out += [
            f"#     ROC-AUC {_fmt(d.roc_auc)} (base policy {_fmt(d.base_roc_auc)}); "
            f"escalation rate {_fmt(d.escalation_rate)},",
            f"#     recall {_fmt(d.recall)} (base policy: escalation rate "
            f"{_fmt(d.base_escalation_rate)}, recall {_fmt(d.base_recall)}).",
        ]
        out += [f"#     WARNING: {_printable(m.split(': ', 1)[-1])}." for m in d.problems]
    return out


def tuned_policy_text(
    tuned: TunedScore,
    base: Policy,
    *,
    name: str | None = None,
    score_name: str = "escalation",
    rule_id: str = "learned",
    action: Action = "handoff",
    keep: Collection[str] = (),
    drop: Collection[str] = (),
) -> str:
    """The tuned policy as commented YAML: the base policy's hard rules, then the score rule.

    Every section of the base policy but its rules (guards, dialogue, trajectory,
    packet, costs, on_error) is kept. The text loads with
    :func:`~escalate.policy.parse_policy`.
    """
    spec = base.spec
    kept = hard_rules(base, keep=keep, drop=drop)
    kept_ids = {r.id for r in kept}
    replaced = [r.id for r in spec.rules if r.id not in kept_ids]
    cv = tuned.cv
    title = name or f"{base.name}-tuned"
    head = [
        "# " + "=" * 78,
        f"# escalate policy: {title} (tuned by `escalate tune`, {datetime.now(UTC):%Y-%m-%d})",
        "# " + "=" * 78,
        "#",
        f"# Base policy: {base.name} ({base.source}).",
        f"# Fitted on {tuned.conversations:,} labelled conversations ({tuned.positives:,} needed "
        f"a person), {tuned.turns:,} user turns.",
        f"# Cross-validated ({cv.folds} folds by conversation, seed {cv.seed}), on conversations",
        "# each fold's model never saw:",
        f"#   score ROC-AUC {_fmt(cv.roc_auc)}; recall {_fmt(cv.recall_at_rate)} when the "
        f"{cv.rate:.0%} highest-scored conversations escalate;",
        f"#   calibration error (ECE) {cv.ece:.3f}; the base policy's own score: ROC-AUC "
        f"{_fmt(cv.base_roc_auc)}.",
        *(f"#   WARNING: {_printable(m)}." for m in cv.problems),
        f"#   This policy at threshold {tuned.threshold:g} ({tuned.target}):",
        f"#   escalation rate {cv.escalation_rate:.3f}, precision {_fmt(cv.precision)}, "
        f"recall {_fmt(cv.recall)}, F1 {_fmt(cv.f1)}.",
        *_domain_lines(cv.domains),
        "#",
        f"# score.{score_name} is a calibrated probability that the conversation needs a person:",
        "#   sigmoid(bias + sum(weight * x)), x = the signal's value at this turn (its `fill`",
        "#   when unknown, else 0 when unknown), log(1 + x) for signals listed in `log1p`.",
        "# Edit a weight to change how much a signal counts; raise the threshold in",
        f"# rule '{rule_id}' to escalate less often. Re-check with `escalate replay`.",
        "#",
        f"# Kept from the base policy, ahead of the score: "
        f"{', '.join(['explicit_request guard', *[r.id for r in kept]])}.",
        f"# Replaced by the score: {', '.join(replaced) or 'none'}.",
        "# " + "=" * 78,
        "",
    ]
    body: dict[str, Any] = {"version": 1, "name": title}
    body["description"] = (
        f"{base.name} with its soft rules replaced by a score fitted on labelled history."
    )
    if spec.default_queue:
        body["default_queue"] = spec.default_queue
    on_bot = "bot" in spec.decide_on
    if on_bot:
        body["decide_on"] = ["user", "bot"]
    parts = [_dump(body)]
    for section in ("dialogue", "trajectory"):
        dumped = getattr(spec, section).model_dump(mode="json", exclude_defaults=True)
        if dumped:
            parts.append(_dump({section: dumped}))
    s = tuned.spec
    score_lines = [
        "scores:",
        f"  {score_name}:",
        f"    description: {_dump(s.description).strip().removesuffix('...').strip()}",
        f"    bias: {s.bias!r}",
        "    weights:                # per unit of the signal; '# sd' = weight per standard deviation",
    ]
    width = max(len(k) for k in s.weights) + 1
    for signal, weight in s.weights.items():
        sd = tuned.standardised.get(signal)
        note = f"  # sd {sd:+.3f}" if sd is not None else ""
        score_lines.append(f"      {signal + ':':<{width}} {weight!r:<10}{note}".rstrip())
    if s.log1p:
        score_lines.append(f"    log1p: [{', '.join(s.log1p)}]")
    if s.fill:
        score_lines.append("    fill:                   # used when the signal is unknown")
        score_lines += [f"      {k}: {v!r}" for k, v in s.fill.items()]
    parts.append("\n".join(score_lines) + "\n")
    rules = [
        r.model_dump(mode="json", exclude_defaults=True) for r in spec.rules if r.id in kept_ids
    ]
    learned: dict[str, Any] = {
        "id": rule_id,
        "description": f"Learned score at or above the threshold chosen for {tuned.target}.",
    }
    if on_bot:  # a base that decides on bot turns scores them too: it can act before they are sent
        learned["on"] = "any"
    learned["when"] = f"score.{score_name} >= {tuned.threshold:g}"
    learned["then"] = {"action": action}
    rules.append(learned)
    parts.append(_dump({"rules": rules}))
    for section in ("guards", "packet"):
        dumped = getattr(spec, section).model_dump(mode="json", exclude_defaults=True)
        if dumped:
            parts.append(_dump({section: dumped}))
    parts.append(_dump({"on_error": spec.on_error}))
    if spec.costs is not None:
        parts.append(_dump({"costs": spec.costs.model_dump(mode="json")}))
    return "\n".join(head) + "\n".join(parts)


def write_tuned_policy(text: str, path: str | Path, *, affect: bool = True) -> Policy:
    """Write policy text and re-load it with :func:`~escalate.policy.load_policy`."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(text, encoding="utf-8")
    return load_policy(target, affect=affect)
