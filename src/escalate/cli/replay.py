"""``escalate replay``, ``escalate compare`` and ``escalate sweep``."""

from __future__ import annotations

import json
import sys
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from escalate.cli._io import ReportedInputs, err
from escalate.cli._options import (
    BuildHistoryOption,
    ClusterOption,
    ColumnOption,
    FormatOption,
    HistoryOption,
    NoAffectOption,
    PolicyOption,
    ResumeOption,
    backend_options,
    csv_options,
    input_format,
)
from escalate.errors import AffectModelError, EscalateError, InputError, PolicyError

if TYPE_CHECKING:  # replay (numpy, the engine) loads when a command runs, not for --help
    from escalate.policy import Policy
    from escalate.policy.schema import Costs
    from escalate.replay.readers import Format
    from escalate.replay.runner import ConversationResult

__all__ = ["compare", "replay", "sweep"]

DataArgument = Annotated[
    list[str],
    typer.Argument(
        help="Conversations: JSON Lines or CSV files (one turn per row), optionally .gz; "
        "several files, glob patterns ('logs/*.jsonl.gz') and folders are read as one input.",
        show_default=False,
    ),
]
WorkersOption = Annotated[
    int | None,
    typer.Option("--workers", "-w", min=1, help="Worker processes (default: every core)."),
]
AffectBatchOption = Annotated[
    int,
    typer.Option(
        "--affect-batch",
        min=1,
        help="Messages per affect-model call. 1 (default) reproduces live decisions exactly; "
        "32 is faster, but int8 noise lets a score depend on its batch.",
    ),
]
BotCost = Annotated[
    float | None, typer.Option("--bot-cost", min=0, help="Cost of the bot per conversation.")
]
HumanCost = Annotated[
    float | None, typer.Option("--human-cost", min=0, help="Cost of one handoff to a person.")
]
MissedCost = Annotated[
    float | None, typer.Option("--missed-cost", min=0, help="Cost of one missed escalation.")
]
ProgressOption = Annotated[
    bool | None,
    typer.Option("--progress/--no-progress", help="Progress bar (default: on a terminal)."),
]


def _costs(
    base: Costs | None, bot: float | None, human: float | None, missed: float | None
) -> Costs | None:
    from escalate.policy.schema import Costs

    if base is None and bot is None and human is None and missed is None:
        return None
    values = base.model_dump() if base is not None else {}
    for key, value in (
        ("bot_per_conversation", bot),
        ("human_per_handoff", human),
        ("missed_escalation", missed),
    ):
        if value is not None:
            values[key] = value
    return Costs(**values)


def _fail(exc: Exception) -> typer.Exit:
    err.print(f"[red]error:[/] {escape(str(exc))}")
    return typer.Exit(2)


def _records(data: list[str], fmt: Format | None, columns: dict[str, str]) -> Any:
    """A function that opens the input afresh (files, patterns and folders) each call."""
    try:
        ReportedInputs(data, fmt, columns, "skipped")  # fail now on a name that matches nothing
    except (InputError, TypeError) as exc:
        raise _fail(exc) from None

    def make() -> ReportedInputs:
        return ReportedInputs(data, fmt, columns, "skipped")

    return make


def _name(data: list[str]) -> str:
    return Path(data[0]).name if len(data) == 1 else f"{len(data)} inputs"


def _print_summary(metrics: dict[str, Any], name: str) -> None:
    from rich.table import Table

    table = Table(title=f"replay: {name}", show_header=False)
    keys = [
        "conversations",
        "rejected",
        "user_turns",
        "escalated",
        "escalation_rate",
        "deflection_rate",
        "precision",
        "recall",
        "f1",
        "roc_auc",
        "gt_i",
        "gt_ii",
        "gt_iii",
    ]
    for key in keys:
        value = metrics.get(key)
        if value is None:
            continue
        table.add_row(key, f"{value:.3f}" if isinstance(value, float) else f"{value:,}")
    if metrics.get("costs"):
        table.add_row("cost_per_1000", f"{metrics['costs']['cost_per_1000']:,.2f}")
    err.print(table)


def replay(
    data: DataArgument,
    policy: PolicyOption = "default",
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the metrics as JSON here.")
    ] = None,
    report: Annotated[
        Path | None, typer.Option("--report", help="Write an HTML report into this folder.")
    ] = None,
    workers: WorkersOption = None,
    no_affect: NoAffectOption = False,
    affect_batch: AffectBatchOption = 1,
    format: FormatOption = None,
    column: ColumnOption = None,
    sweep_rule: Annotated[
        str | None, typer.Option("--sweep-rule", help="Rule whose threshold the report sweeps.")
    ] = None,
    sweep_signal: Annotated[
        str | None, typer.Option("--sweep-signal", help="Signal of the swept threshold.")
    ] = None,
    bot_cost: BotCost = None,
    human_cost: HumanCost = None,
    missed_cost: MissedCost = None,
    history: HistoryOption = None,
    progress: ProgressOption = None,
    cluster: ClusterOption = None,
    resume: ResumeOption = None,
    build_history: BuildHistoryOption = False,
) -> None:
    """Replay stored conversations through a policy and measure deflection and escalation.

    Prints the metrics as JSON on standard output unless --json is given; --report also
    writes an HTML report with plots and a conversation explorer (one folder that opens
    from disk). Bad records are reported on standard error with their line; the rest are
    replayed, and the exit code is 1.
    """
    from escalate.replay.explorer import ExplorerWriter
    from escalate.replay.metrics import MetricsAccumulator
    from escalate.replay.readers import Record
    from escalate.replay.report import report_sweep, write_json, write_report
    from escalate.replay.runner import Runner

    columns = csv_options(column)
    fmt = input_format(format)
    if report is not None and build_history:
        raise _fail(ValueError("--report and --build-history do not go together yet"))
    make = _records(data, fmt, columns)
    try:
        runner = Runner(
            policy,
            affect=None if no_affect else "default",
            workers=workers,
            history=history,
            keep_signals=report is not None,
            progress=progress,
            affect_batch=affect_batch,
            checkpoint=resume,
            build_history=build_history,
            **backend_options(cluster),
        )
    except (PolicyError, AffectModelError, InputError, ValueError) as exc:
        raise _fail(exc) from None
    costs = _costs(runner.policy.costs, bot_cost, human_cost, missed_cost)
    acc = MetricsAccumulator(costs=costs)
    results: list[ConversationResult] = []
    title = f"Replay of {_name(data)}: {runner.policy.name}"
    explorer = (
        ExplorerWriter(report, runner.policy, title=f"Conversations of {_name(data)}: "
                       f"{runner.policy.name}")
        if report is not None
        else None
    )  # fmt: skip
    waiting: deque[Record] = deque()

    def tee() -> Any:
        for record in make():
            if explorer is not None and record.conversation is not None:
                waiting.append(record)
            yield record

    try:
        for item in runner.run(tee()):
            if isinstance(item, Record):
                acc.add_rejected()
                continue
            acc.add(item)
            if explorer is not None:
                results.append(item)
                while waiting and waiting[0].line != item.line:
                    waiting.popleft()
                conversation = waiting.popleft().conversation if waiting else None
                assert conversation is not None, "the runner yields results in input order"
                explorer.add(conversation, item)
    except (InputError, EscalateError, TypeError) as exc:
        raise _fail(exc) from None
    metrics = acc.result()
    metrics["policy"] = runner.policy.name
    metrics["seconds"] = runner.stats["seconds"]
    if json_out is not None:
        write_json(metrics, json_out)
    else:
        sys.stdout.write(json.dumps(metrics, indent=2, default=str) + "\n")
    if report is not None and explorer is not None:
        try:
            swept = report_sweep(
                runner.policy, results, metrics, rule=sweep_rule, signal=sweep_signal, costs=costs
            )
        except ValueError as exc:
            raise _fail(exc) from None
        page = write_report(
            metrics,
            report,
            title=title,
            sweep=swept,
            source=" ".join(data),
            scores=_score_calibration(runner.policy, results),
            explorer=explorer.close(),
        )
        err.print(f"report: {escape(str(page))}")
    _print_summary(metrics, runner.policy.name)
    if acc.rejected:
        raise typer.Exit(1)


def _score_calibration(
    policy: Policy, results: list[ConversationResult]
) -> dict[str, tuple[list[float], list[bool]]]:
    """Each labelled conversation's highest value of each of the policy's scores."""
    from escalate.replay.calibration import conversation_scores

    labelled = [r for r in results if r.label is not None]
    out: dict[str, tuple[list[float], list[bool]]] = {}
    for name in policy.spec.scores:
        values = conversation_scores(policy, labelled, name)
        out[name] = (values, [bool(r.label and r.label.escalate) for r in labelled])
    return out


def compare(
    policy_a: Annotated[str, typer.Argument(help="Policy A (file or shipped name).")],
    policy_b: Annotated[str, typer.Argument(help="Policy B (file or shipped name).")],
    data: DataArgument,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the comparison as JSON here.")
    ] = None,
    workers: WorkersOption = None,
    no_affect: NoAffectOption = False,
    affect_batch: AffectBatchOption = 1,
    format: FormatOption = None,
    column: ColumnOption = None,
    limit: Annotated[
        int, typer.Option("--limit", min=0, help="Changed conversations to list.")
    ] = 50,
    progress: ProgressOption = None,
    cluster: ClusterOption = None,
    resume: ResumeOption = None,
    build_history: BuildHistoryOption = False,
) -> None:
    """Replay two policies on the same data: the conversations that changed, metric deltas.

    A conversation changed when it is escalated under one policy only, or its first
    escalation moves to another turn or rule. Deltas are B minus A.
    """
    from rich.table import Table

    from escalate.replay.compare import compare as compare_policies
    from escalate.replay.report import write_json

    make = _records(data, input_format(format), csv_options(column))
    try:
        result = compare_policies(
            policy_a,
            policy_b,
            make,
            affect=None if no_affect else "default",
            workers=workers,
            progress=progress,
            affect_batch=affect_batch,
            checkpoint=resume,
            build_history=build_history,
            **backend_options(cluster),
        )
    except (PolicyError, AffectModelError, InputError, ValueError) as exc:
        raise _fail(exc) from None
    payload = result.to_dict()
    if json_out is not None:
        write_json(payload, json_out)
    table = Table(
        "conversation",
        "label",
        f"A: {result.name_a}",
        f"B: {result.name_b}",
        title=f"{len(result.changes):,} conversation(s) changed",
    )

    def show(side: dict[str, Any]) -> str:
        if not side["escalated"]:
            return "continue"
        return f"{side['action']} @ turn {side['turn']} ({side['rule']})"

    for change in result.changes[:limit]:
        table.add_row(
            escape(change.id),
            "–" if change.label is None else str(change.label),
            escape(show(change.a)),
            escape(show(change.b)),
        )
    out = Table("metric", result.name_a, result.name_b, "B − A", title="metrics")
    for key, delta in result.deltas.items():
        a = result.a.get(key, result.a.get("costs", {}).get(key))
        b = result.b.get(key, result.b.get("costs", {}).get(key))
        out.add_row(key, _num(a), _num(b), _num(delta, signed=True))
    from rich.console import Console

    console = Console()
    console.print(table)
    console.print(out)


def _num(value: Any, *, signed: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:+.3f}" if signed else f"{value:.3f}"
    return f"{value:+,}" if signed else f"{value:,}"


def sweep(
    policy: Annotated[str, typer.Argument(help="Policy file or shipped name.")],
    data: DataArgument,
    rule: Annotated[str, typer.Option("--rule", help="Id of the rule whose threshold varies.")],
    signal: Annotated[
        str | None,
        typer.Option("--signal", help="Signal of the threshold, when the rule has several."),
    ] = None,
    occurrence: Annotated[
        int | None,
        typer.Option("--occurrence", min=0, help="Which threshold of that signal (0-based)."),
    ] = None,
    values: Annotated[
        list[float] | None,
        typer.Option("--values", help="Thresholds to try (repeatable; default: quantiles)."),
    ] = None,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="Write the sweep as JSON here.")
    ] = None,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write the sweep curves as a PNG here.")
    ] = None,
    workers: WorkersOption = None,
    no_affect: NoAffectOption = False,
    affect_batch: AffectBatchOption = 1,
    format: FormatOption = None,
    column: ColumnOption = None,
    bot_cost: BotCost = None,
    human_cost: HumanCost = None,
    missed_cost: MissedCost = None,
    progress: ProgressOption = None,
    cluster: ClusterOption = None,
    resume: ResumeOption = None,
) -> None:
    """Vary one threshold of a rule: deflection, recall and cost at each value.

    The model runs once; every value is evaluated on the stored signal values.
    """
    from rich.table import Table

    from escalate.replay.report import sweep_figure, write_json
    from escalate.replay.runner import ConversationResult, Runner
    from escalate.replay.sweep import sweep as run_sweep

    make = _records(data, input_format(format), csv_options(column))
    try:
        runner = Runner(
            policy,
            affect=None if no_affect else "default",
            workers=workers,
            keep_signals=True,
            progress=progress,
            affect_batch=affect_batch,
            checkpoint=resume,
            **backend_options(cluster),
        )
        results = [r for r in runner.run(make()) if isinstance(r, ConversationResult)]
        costs = _costs(runner.policy.costs, bot_cost, human_cost, missed_cost)
        threshold, points = run_sweep(
            runner.policy,
            results,
            rule,
            values,
            signal=signal,
            occurrence=occurrence,
            costs=costs,
        )
    except (PolicyError, AffectModelError, InputError, ValueError) as exc:
        raise _fail(exc) from None
    payload = {
        "policy": runner.policy.name,
        "rule": rule,
        "signal": threshold.signal,
        "current": threshold.value,
        "points": [{"value": p.value, **p.metrics} for p in points],
    }
    if json_out is not None:
        write_json(payload, json_out)
    if plot is not None:
        plot.parent.mkdir(parents=True, exist_ok=True)
        plot.write_bytes(sweep_figure(threshold, points, rule))
    table = Table(
        "threshold",
        "escalation",
        "deflection",
        "recall",
        "precision",
        "cost/1000",
        title=f"{runner.policy.name}: {rule} on {threshold.signal} (now {threshold.value:g})",
    )
    for p in points:
        m = p.metrics
        table.add_row(
            f"{p.value:g}",
            _num(m.get("escalation_rate")),
            _num(m.get("deflection_rate")),
            _num(m.get("recall")),
            _num(m.get("precision")),
            _num((m.get("costs") or {}).get("cost_per_1000")),
        )
    from rich.console import Console

    Console().print(table)
