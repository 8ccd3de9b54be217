"""The ``escalate`` command line."""

from __future__ import annotations

import typer

from escalate.cli.affect import classify, export, train
from escalate.cli.engine import check, decide, signals
from escalate.cli.replay import compare, replay, sweep
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
app.command()(check)
app.command()(decide)
app.command()(signals)
app.command()(replay)
app.command()(compare)
app.command()(sweep)
app.command()(tune)
app.command()(classify)
app.command()(train)
app.command()(export)


def main() -> None:
    """Entry point of the ``escalate`` console script."""
    app()
