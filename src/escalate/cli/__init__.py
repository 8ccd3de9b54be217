"""The ``escalate`` command line."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Annotated

import typer

from escalate.cli._io import user_errors
from escalate.cli.affect import classify, export, refit_head, train
from escalate.cli.engine import check, decide, signals
from escalate.cli.importers import import_command
from escalate.cli.replay import compare, replay, sweep
from escalate.cli.serve import serve
from escalate.cli.tune import tune

__all__ = ["app", "main"]

app = typer.Typer(
    name="escalate",
    help="Decide when a bot conversation should go to a human, and prove a policy on past chats.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
    # click's plain help: typer's rich help imports a Markdown renderer, which costs
    # more than the rest of `escalate --help` (benchmarks/startup.py)
    rich_markup_mode=None,
)


def _version() -> str:
    try:
        return package_version("escalate")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown"


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"escalate {_version()}")
        raise typer.Exit()


@app.callback()
def _main(
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            is_eager=True,
            callback=_show_version,
            help="Print the installed version and exit.",
        ),
    ] = False,
) -> None:
    """Decide when a bot conversation should go to a human, and prove a policy on past chats."""


for command in (
    check,
    decide,
    signals,
    replay,
    compare,
    sweep,
    tune,
    classify,
    train,
    export,
    serve,
):
    app.command()(user_errors(command))
app.command("import")(user_errors(import_command))
app.command("refit-head")(user_errors(refit_head))


def main() -> None:
    """Entry point of the ``escalate`` console script."""
    app()
