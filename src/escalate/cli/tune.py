"""``escalate tune``: fit an escalation score to labelled history, write a tuned policy."""

from __future__ import annotations

import json
import time
import warnings
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from escalate.cli._io import ReportedInputs, err
from escalate.cli._options import ClusterOption, ResumeOption, backend_options
from escalate.errors import AffectModelError, EscalateError, InputError, PolicyError

#: Defaults of ``--l2`` and ``--max-features`` (those of :func:`escalate.replay.tune.fit_score`;
#: kept here so that ``--help`` loads no numpy).
DEFAULT_L2 = 30.0
DEFAULT_MAX_FEATURES = 6

if TYPE_CHECKING:  # fitting (numpy, the engine) loads when the command runs, not for --help
    from escalate.models import Action
    from escalate.replay.readers import Record
    from escalate.replay.tune import TunedScore

__all__ = ["tune"]


def _fail(message: str) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(message)}")
    return typer.Exit(2)


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def _show(tuned: TunedScore, features_seconds: float) -> None:
    from rich.table import Table

    cv = tuned.cv
    f = _f

    table = Table(
        title=f"tune: cross-validated ({cv.folds} folds by conversation, seed {cv.seed})",
        show_header=False,
    )
    rows = [
        ("conversations", f"{tuned.conversations:,} ({tuned.positives:,} needed a person)"),
        ("user turns", f"{tuned.turns:,}"),
        ("score ROC-AUC", f(cv.roc_auc)),
        ("base policy ROC-AUC", f(cv.base_roc_auc)),
        (f"score recall @ {cv.rate:.0%} escalated", f(cv.recall_at_rate)),
        ("calibration error (ECE)", f"{cv.ece:.3f}"),
        ("threshold", f"{tuned.threshold:g} ({tuned.target})"),
        ("policy escalation rate", f(cv.escalation_rate)),
        ("policy precision", f(cv.precision)),
        ("policy recall", f(cv.recall)),
        ("policy F1", f(cv.f1)),
        ("signals weighed", ", ".join(tuned.spec.weights)),
        ("seconds", f"features {features_seconds:.1f}, fitting {tuned.seconds:.1f}"),
    ]
    for key, value in rows:
        table.add_row(key, escape(value))
    err.print(table)
    for problem in cv.problems:
        err.print(f"[yellow]warning:[/] {escape(problem)}")
    if cv.domains:
        _show_domains(tuned)


def _show_domains(tuned: TunedScore) -> None:
    from rich.table import Table

    table = Table(
        title="leave-one-domain-out: fitted on the other domains, threshold chosen there",
        caption="base = the base policy's own escalation score and decisions; "
        "seen = the cross-validated score fitted on every domain",
    )
    for column in (
        "held-out domain",
        "conversations",
        "ROC-AUC",
        "base ROC-AUC",
        "seen ROC-AUC",
        "escalation rate",
        "recall",
        "base rate",
        "base recall",
    ):
        table.add_column(column, justify="left" if column == "held-out domain" else "right")
    for d in tuned.cv.domains:
        auc = _f(d.roc_auc)
        if d.problems:
            auc = f"[yellow]{auc}[/]"
        table.add_row(
            escape(d.domain),
            f"{d.conversations:,} ({d.positives:,})",
            auc if not d.note else "not held out",
            _f(d.base_roc_auc),
            _f(d.pooled_roc_auc),
            _f(d.escalation_rate),
            _f(d.recall),
            _f(d.base_escalation_rate),
            _f(d.base_recall),
        )
    err.print(table)
    for d in tuned.cv.domains:
        if d.note:
            err.print(f"[yellow]note:[/] {escape(d.domain)}: {escape(d.note)}")
        for message in d.problems:
            err.print(f"[yellow]warning: {escape(message)}[/]")


def _stem(path: Path) -> str:
    """The file's name without ``.gz`` and its format extension: ``shop.jsonl.gz`` -> ``shop``."""
    name = path.name.removesuffix(".gz").removesuffix(".GZ")
    return (Path(name).stem or name)[:100]


def tune(
    data: Annotated[
        list[str],
        typer.Argument(
            help="Labelled conversations: JSON Lines or CSV files, glob patterns or folders; "
            "several files: one domain each, unless a conversation names its own.",
            show_default=False,
        ),
    ],
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="Base policy: a file or a shipped name.")
    ] = "default",
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Where to write the tuned policy.")
    ] = Path("tuned.yaml"),
    target_rate: Annotated[
        float | None,
        typer.Option(
            "--target-rate", min=0.0, max=1.0, help="Escalate at most this share (default 0.10)."
        ),
    ] = None,
    target_recall: Annotated[
        float | None,
        typer.Option("--target-recall", min=0.0, max=1.0, help="Reach at least this recall."),
    ] = None,
    min_cost: Annotated[
        bool,
        typer.Option("--min-cost", help="Lowest expected cost (policy costs: or the options)."),
    ] = False,
    human_cost: Annotated[
        float | None, typer.Option("--human-cost", min=0, help="Cost of one escalation.")
    ] = None,
    missed_cost: Annotated[
        float | None, typer.Option("--missed-cost", min=0, help="Cost of one missed escalation.")
    ] = None,
    folds: Annotated[int, typer.Option("--folds", min=2, help="Cross-validation folds.")] = 5,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the folds.")] = 0,
    max_features: Annotated[
        int, typer.Option("--max-features", min=1, help="Most signals the score weighs.")
    ] = DEFAULT_MAX_FEATURES,
    l2: Annotated[float, typer.Option("--l2", min=0.0, help="Ridge strength.")] = DEFAULT_L2,
    action: Annotated[
        str, typer.Option("--action", help="Action of the score rule: handoff or offer_human.")
    ] = "handoff",
    keep: Annotated[
        list[str] | None, typer.Option("--keep", help="Also keep this rule ahead of the score.")
    ] = None,
    drop: Annotated[
        list[str] | None, typer.Option("--drop", help="Replace this rule even if it is hard.")
    ] = None,
    no_affect: Annotated[
        bool,
        typer.Option("--no-affect", help="Run without the affect model (dialogue signals only)."),
    ] = False,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Also write the figures as JSON here.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", "-w", min=1, help="Worker processes or Ray actors (default 1)."),
    ] = None,
    cluster: ClusterOption = None,
    resume: ResumeOption = None,
) -> None:
    """Fit an escalation score to labelled conversations and write a tuned policy.

    Replays DATA through the base policy (in one process by default; --workers, --cluster
    and --resume as for replay), fits a calibrated logistic score on the signals
    at each user turn (cross-validated by conversation), and writes a policy that keeps
    the base policy's hard rules ahead of one rule on the score. When the conversations
    name two or more domains (their `domain` field, else the file's name when several
    files are given), each domain is also held out in turn and a warning names any
    domain the score ranks worse than the base policy or than chance. Exit 2 on bad
    input or too little labelled data.
    """
    if sum([target_rate is not None, target_recall is not None, min_cost]) > 1:
        raise _fail("give at most one of --target-rate, --target-recall and --min-cost")
    if action not in ("handoff", "offer_human", "offer_callback"):
        raise _fail(f"--action must be handoff, offer_human or offer_callback; got {action!r}")
    from escalate.policy import load_policy
    from escalate.policy.schema import Costs
    from escalate.replay.features import features_from_results
    from escalate.replay.runner import Runner
    from escalate.replay.tune import TuneError, TuneWarning, fit_score, tuned_policy_text

    backend = backend_options(cluster)
    try:
        source = _DomainInputs(data)
        base = load_policy(policy, affect=not no_affect)
        runner = Runner(
            base,
            affect=None if no_affect else "default",
            workers=workers or (None if backend else 1),
            keep_signals="all",
            progress=False,
            checkpoint=resume,
            **backend,
        )
    except (PolicyError, AffectModelError, InputError) as exc:
        raise _fail(str(exc)) from None
    costs: Costs | None = None
    if min_cost:
        given = base.costs.model_dump() if base.costs is not None else {}
        if human_cost is not None:
            given["human_per_handoff"] = human_cost
        if missed_cost is not None:
            given["missed_escalation"] = missed_cost
        costs = Costs(**given)
        if costs.human_per_handoff == 0 and costs.missed_escalation == 0:
            raise _fail(
                "--min-cost needs costs: give --human-cost and --missed-cost, or a "
                "policy with a costs: section"
            )
    start = time.perf_counter()
    try:
        features = features_from_results(runner.run(source), base)
    except EscalateError as exc:
        raise _fail(str(exc)) from None
    feature_seconds = time.perf_counter() - start
    try:
        with warnings.catch_warnings():  # the CLI shows them in its own words
            warnings.simplefilter("ignore", TuneWarning)
            tuned = fit_score(
                features,
                base=base,
                keep=keep or (),
                drop=drop or (),
                target_rate=target_rate,
                target_recall=target_recall,
                costs=costs,
                folds=folds,
                seed=seed,
                l2=l2,
                max_features=max_features,
            )
    except TuneError as exc:
        raise _fail(str(exc)) from None
    text = tuned_policy_text(tuned, base, action=_action(action), keep=keep or (), drop=drop or ())
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    try:
        load_policy(out, affect=not no_affect)
    except PolicyError as exc:  # pragma: no cover - a bug, not bad input
        raise _fail(f"the tuned policy does not load:\n{exc}") from None
    _show(tuned, feature_seconds)
    err.print(f"wrote {escape(str(out))}")
    if json_out is not None:
        figures = {
            **tuned.cv.as_dict(),
            "threshold": tuned.threshold,
            "target": tuned.target,
            "conversations": tuned.conversations,
            "positives": tuned.positives,
            "weights": tuned.spec.weights,
            "bias": tuned.spec.bias,
        }
        json_out.write_text(json.dumps(figures, indent=2), encoding="utf-8")


class _DomainInputs(ReportedInputs):
    """The inputs, each conversation without a ``domain`` given its file's name when
    there are several files (``shop.jsonl.gz`` -> ``shop``)."""

    def __init__(self, sources: list[str]) -> None:
        super().__init__(sources, None, {}, "skipped")

    def __iter__(self) -> Iterator[Record]:
        several = len(self.files) > 1
        for record in super().__iter__():
            c = record.conversation
            if several and c is not None and c.domain is None and record.source is not None:
                named = c.model_copy(update={"domain": _stem(Path(record.source))})
                record = replace(record, conversation=named)
            yield record


def _action(value: str) -> Action:
    return (
        "offer_human"
        if value == "offer_human"
        else "offer_callback"
        if value == ("offer_callback")
        else "handoff"
    )
