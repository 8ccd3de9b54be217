"""Input and output helpers shared by the commands."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import typer
from rich.console import Console

__all__ = ["err", "open_input"]

#: Diagnostics go to standard error so that standard output stays machine-readable.
err = Console(stderr=True, highlight=False, soft_wrap=True)


@contextmanager
def open_input(path: Path | None) -> Iterator[IO[bytes]]:
    """A binary stream for ``path``, or standard input when it is ``None`` or ``-``."""
    if path is None or str(path) == "-":
        yield sys.stdin.buffer
        return
    try:
        stream = path.open("rb")
    except OSError as exc:
        err.print(f"[red]error:[/] cannot read {path}: {exc.strerror}")
        raise typer.Exit(2) from None
    with stream:
        yield stream
