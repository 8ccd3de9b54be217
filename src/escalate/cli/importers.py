"""``escalate import``: other frameworks' logs as escalate's JSON Lines."""

from __future__ import annotations

import sys
from contextlib import ExitStack
from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from escalate.cli._io import err
from escalate.errors import MissingExtraError

__all__ = ["import_command"]

#: The formats :data:`escalate.integrations.importers.FORMATS` reads, named here so that
#: ``escalate --help`` does not import the readers (tests check the two agree).
FORMAT_NAMES = ("rasa", "botframework", "langchain", "intercom")


def import_command(
    fmt: Annotated[
        str,
        typer.Argument(
            metavar="FORMAT",
            help=f"The source's format: {', '.join(FORMAT_NAMES)}.",
            show_default=False,
        ),
    ],
    source: Annotated[
        Path,
        typer.Argument(
            metavar="SRC",
            help="A file, a folder (Bot Framework transcripts), or - for standard input.",
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write the JSON Lines here (default: standard output)."),
    ] = None,
    labels: Annotated[
        bool,
        typer.Option(
            "--labels/--no-labels",
            help="Label each conversation from its agent takeover (default), or leave labels out.",
        ),
    ] = True,
) -> None:
    """Convert Rasa tracker dumps, Bot Framework transcripts, LangChain message lists or an
    Intercom export into conversations for replay.

    Agent takeovers become labels (escalate: true at the turn before a person took over).
    Bad records are reported on standard error with their position and field; every other
    record is converted, and the exit code is 1.
    """
    from escalate.integrations.importers import FORMATS, read, write_jsonl

    if fmt not in FORMATS:
        err.print(f"[red]error:[/] FORMAT must be one of {', '.join(FORMATS)}, got {escape(fmt)!r}")
        raise typer.Exit(2)
    stdin = str(source) == "-"
    if not stdin and not source.exists():
        err.print(f"[red]error:[/] cannot read {escape(str(source))}: no such file or folder")
        raise typer.Exit(2)
    with ExitStack() as stack:
        stream = sys.stdout
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            stream = stack.enter_context(out.open("w", encoding="utf-8"))
        try:
            records = read(fmt, sys.stdin.buffer if stdin else source, labelled=labels)
            written, rejected = write_jsonl(records, stream)
        except MissingExtraError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        except OSError as exc:
            err.print(f"[red]error:[/] cannot read {escape(str(source))}: {exc.strerror}")
            raise typer.Exit(2) from None
    for record in rejected:
        err.print(f"[yellow]skipped:[/] {escape(str(record))}")
    err.print(f"imported {written:,} conversation(s), {len(rejected):,} rejected")
    if rejected:
        raise typer.Exit(1)
