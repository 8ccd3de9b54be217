"""Options several commands share, declared once so that they read and behave alike."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from escalate.cli._io import err

if TYPE_CHECKING:  # the readers load with the command that reads, not with --help
    from escalate.replay.readers import Format

__all__ = [
    "BuildHistoryOption",
    "ClusterOption",
    "ColumnOption",
    "FormatOption",
    "HistoryOption",
    "NoAffectOption",
    "PolicyOption",
    "ResumeOption",
    "backend_options",
    "csv_options",
    "input_format",
]

PolicyOption = Annotated[
    str,
    typer.Option(
        "--policy",
        "-p",
        help="A policy file, or the name of a shipped policy (default, retail, ...).",
    ),
]
NoAffectOption = Annotated[
    bool, typer.Option("--no-affect", help="Run without the affect model (dialogue signals only).")
]
FormatOption = Annotated[
    str | None, typer.Option("--format", help="jsonl or csv (default: from the file).")
]
ColumnOption = Annotated[
    list[str] | None,
    typer.Option(
        "--column",
        help="CSV column name as FIELD=NAME (conversation_id, role, text, timestamp, intent, "
        "event, customer_id, label, label_turn, channel, domain; also delimiter=;). Repeatable.",
    ),
]
HistoryOption = Annotated[
    str | None,
    typer.Option(
        "--history",
        help="History store URL with the earlier contacts (sqlite:///history.db, "
        "postgresql+psycopg://...), read for repeat contacts and never written. "
        "Default: an empty history, every customer is new.",
    ),
]


ClusterOption = Annotated[
    str | None,
    typer.Option(
        "--cluster",
        help="Replay on Ray: 'ray' starts Ray on this machine, 'ray://HOST:PORT' (or "
        "'ray:auto') joins a running cluster. Needs pip install 'escalate[ray]'.",
    ),
]
ResumeOption = Annotated[
    Path | None,
    typer.Option(
        "--resume",
        help="Write each finished shard's results into this folder; run again with the "
        "same folder to go on from the last finished shard after a stop.",
    ),
]
BuildHistoryOption = Annotated[
    bool,
    typer.Option(
        "--build-history",
        help="Record each replayed conversation so later ones of the same customer see it "
        "(repeat contacts within the archive): partitioned by customer, in time order.",
    ),
]


def backend_options(cluster: str | None) -> dict[str, Any]:
    """``--cluster`` as the runner's ``backend`` and ``address``."""
    if cluster is None:
        return {}
    if cluster == "ray":
        return {"backend": "ray"}
    if cluster == "ray:auto":
        return {"backend": "ray", "address": "auto"}
    if cluster.startswith("ray://") and len(cluster) > len("ray://"):
        return {"backend": "ray", "address": cluster}
    err.print(
        f"[red]error:[/] --cluster must be ray, ray:auto or ray://HOST:PORT, got "
        f"{escape(cluster)!r}"
    )
    raise typer.Exit(2)


def csv_options(columns: list[str] | None) -> dict[str, str]:
    """``--column FIELD=NAME`` options as keyword arguments of the CSV reader."""
    options: dict[str, str] = {}
    for item in columns or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            err.print(f"[red]error:[/] --column expects FIELD=NAME, got {escape(item)!r}")
            raise typer.Exit(2)
        options[key.strip()] = value
    return options


def input_format(value: str | None) -> Format | None:
    """The ``--format`` option, checked."""
    if value is None:
        return None
    if value not in ("jsonl", "csv"):
        err.print(f"[red]error:[/] --format must be jsonl or csv, got {escape(value)!r}")
        raise typer.Exit(2)
    return value  # type: ignore[return-value]
