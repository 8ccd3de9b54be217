"""``escalate check`` and ``escalate decide``."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import typer
from rich.markup import escape

from escalate.cli._io import ErrorReport, err, read_records
from escalate.cli._options import (
    ColumnOption,
    FormatOption,
    HistoryOption,
    NoAffectOption,
    PolicyOption,
    csv_options,
    input_format,
)
from escalate.errors import AffectModelError, InputError, PolicyError

__all__ = ["check", "decide", "signals"]


class PacketFormatChoice(StrEnum):
    """Formats ``--packets`` can print."""

    json = "json"
    markdown = "markdown"
    bot_framework = "bot-framework"


def check(
    policies: Annotated[
        list[str], typer.Argument(help="Policy files (or shipped policy names) to check.")
    ],
    no_affect: NoAffectOption = False,
) -> None:
    """Check policies: exit 0 when every one is valid, 2 with every problem listed otherwise;
    a valid policy's warnings (a rule that never decides) are listed too."""
    from escalate.policy import load_policy

    failed = False
    for name in policies:
        try:
            policy = load_policy(name, affect=not no_affect)
        except PolicyError as exc:
            failed = True
            err.print(f"[red]✗[/] {escape(name)}: {len(exc.problems)} problem(s)")
            for problem in exc.problems:
                err.print(f"  {escape(str(problem))}")
            continue
        err.print(f"[green]✓[/] {escape(str(policy.source))}: valid, {len(policy.rules)} rules")
        for warning in policy.warnings:
            err.print(f"  [yellow]warning:[/] {escape(str(warning))}")
    if failed:
        raise typer.Exit(2)


def decide(
    file: Annotated[
        Path | None,
        typer.Argument(
            help="Conversations: JSON Lines or CSV (one turn per row), optionally .gz; "
            "standard input when absent or '-'."
        ),
    ] = None,
    policy: PolicyOption = "default",
    no_affect: NoAffectOption = False,
    history: HistoryOption = None,
    format: FormatOption = None,
    column: ColumnOption = None,
    packets: Annotated[
        bool,
        typer.Option(
            "--packets",
            help="Also print the handoff packet of every handed-off conversation, after its "
            'decisions, as {"conversation_id", "turn", "packet"}.',
        ),
    ] = False,
    packet_format: Annotated[
        PacketFormatChoice,
        typer.Option("--packet-format", help="How --packets prints each packet."),
    ] = PacketFormatChoice.json,
) -> None:
    """Print one JSON decision per user turn of every conversation.

    Each line is {"conversation_id", "turn", "action", "rule", "reasons", "queue",
    "priority", "guard"}, where "turn" indexes the conversation's "turns". Input is read
    as by escalate replay. Bad records are reported on standard error with their line
    and field (the first few of each kind, then a count); the rest are still decided,
    and the exit code is 1. Input that cannot be read at all exits with 2.
    """
    from escalate.cli.packets import print_packets
    from escalate.engine import Engine

    columns = csv_options(column)
    fmt = input_format(format)
    try:
        engine = Engine.from_policy(
            policy,
            affect=None if no_affect else "default",
            # As replay: earlier contacts come from --history only, never the default file.
            history=history if history is not None else "memory://",
        )
    except (PolicyError, AffectModelError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    source: Path | IO[bytes] = sys.stdin.buffer if file is None or str(file) == "-" else file
    report = ErrorReport()
    good = 0
    out = sys.stdout
    try:
        for record in read_records(source, fmt, columns, report):
            if record.conversation is None:
                continue
            good += 1
            decisions = engine.decide(record.conversation, history=engine.history)
            for decision in decisions:
                summary = decision.summary()
                summary["guard"] = decision.guard
                out.write(json.dumps(summary, ensure_ascii=False) + "\n")
            if packets:
                print_packets(decisions, out=out, fmt=packet_format.value)
    except InputError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    finally:
        engine.close()
    out.flush()
    err.print(f"{good:,} conversation(s) decided, {report.count:,} rejected")
    if report.count:
        raise typer.Exit(1)


def signals(
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")] = False,
) -> None:
    """List every signal a policy can name, with its source and meaning."""
    from rich.console import Console
    from rich.table import Table

    from escalate.signals.catalog import CATALOG

    if as_json:
        rows = [
            {"name": s.name, "source": s.source, "description": s.description}
            for s in CATALOG.values()
        ]
        sys.stdout.write(json.dumps(rows, indent=2) + "\n")
        return
    table = Table("signal", "source", "meaning", title="Signals a policy can name")
    for spec in CATALOG.values():
        table.add_row(spec.name, spec.source, spec.description)
    Console().print(table)
