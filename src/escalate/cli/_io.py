"""Input and output helpers shared by the commands: reading records, reporting their
errors without flooding the terminal, and turning expected failures into one line."""

from __future__ import annotations

import functools
import os
import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from escalate.errors import EscalateError, InputError

if TYPE_CHECKING:  # the readers load with the command that reads, not with --help
    from escalate.replay.readers import Format, Record

__all__ = ["ErrorReport", "ReportedInputs", "err", "open_input", "read_records", "user_errors"]

#: Diagnostics go to standard error so that standard output stays machine-readable.
err = Console(stderr=True, highlight=False, soft_wrap=True)

#: Errors of one kind printed before the rest are only counted.
ERRORS_SHOWN = 10
#: Kinds of error told apart; beyond this many, new kinds are counted together.
_MAX_KINDS = 50


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


def _kind(error: InputError) -> str:
    """What makes two record errors alike: the field (any index) and the message up to
    its first detail, numbers left out."""
    field = re.sub(r"\.\d+(?=\.|$)", ".*", error.field or "")
    message = re.split(r"[:;(]", error.detail, maxsplit=1)[0].strip()
    message = re.sub(r"\d[\d,.]*", "N", message)
    return f"{field}: {message}" if field else message


class ErrorReport:
    """Prints the errors of bad records on standard error, at most ``shown`` of each kind,
    and counts the rest; :meth:`finish` prints one summary line per kind cut short.

    A file of binary junk or of a thousand records that are all wrong in the same way
    gives a screenful, not a thousand lines; every error is still counted.

    Examples
    --------
    >>> import io
    >>> from escalate.errors import InputError
    >>> screen = io.StringIO()
    >>> report = ErrorReport(shown=2, console=Console(file=screen, width=200))
    >>> for line in range(1, 6):
    ...     report.add(InputError(f"not valid JSON: Expecting value at column {line}", line=line))
    >>> report.finish()
    >>> screen.getvalue().splitlines()  # doctest: -ELLIPSIS
    ['error: line 1: not valid JSON: Expecting value at column 1', 'error: line 2: not valid JSON: Expecting value at column 2', '... and 3 more errors like this (not valid JSON)']
    >>> report.count
    5
    """

    def __init__(self, label: str = "error", *, shown: int = ERRORS_SHOWN, console: Console = err):
        self.label = label
        self.shown = shown
        self.count = 0
        self._console = console
        self._seen: dict[str, int] = {}

    def add(self, error: InputError | None) -> None:
        """Count one bad record, and print it while its kind has been printed less than
        ``shown`` times."""
        self.count += 1
        if error is None:
            error = InputError("rejected")
        kind = _kind(error)
        if kind not in self._seen and len(self._seen) >= _MAX_KINDS:
            kind = "other errors"
        seen = self._seen.get(kind, 0)
        self._seen[kind] = seen + 1
        if seen < self.shown:
            colour = "red" if self.label == "error" else "yellow"
            self._console.print(f"[{colour}]{self.label}:[/] {escape(str(error))}")

    def finish(self) -> None:
        """Print how many errors of each kind were counted but not printed."""
        for kind, seen in self._seen.items():
            hidden = seen - self.shown
            if hidden > 0:
                plural = "s" if hidden != 1 else ""
                self._console.print(
                    f"... and {hidden:,} more error{plural} like this ({escape(kind)})"
                )


def read_records(
    source: Path | IO[bytes], fmt: Format | None, columns: dict[str, str], report: ErrorReport
) -> Iterator[Record]:
    """Every record of ``source`` (a file, or standard input), the bad ones reported.

    Raises
    ------
    InputError
        The input cannot be read at all (missing, binary, not gzip although named so).
    """
    try:
        from escalate.replay.readers import open_conversations

        for record in open_conversations(source, fmt, **columns):
            if record.error is not None:
                report.add(record.error)
            yield record
    finally:
        report.finish()


class ReportedInputs:
    """Many files, globs and folders read as one stream (``escalate.replay.Inputs``), each
    bad record reported as it is read; the size of the input and how much of it has been
    read pass through, for the progress bar and for resuming.

    Raises
    ------
    InputError
        A name matches no file (at once), or a file cannot be read at all (when reached).
    """

    def __init__(
        self, sources: list[str], fmt: Format | None, columns: dict[str, str], label: str
    ) -> None:
        from escalate.replay.readers import Inputs

        self._inputs = Inputs(sources, fmt, **columns)
        self._label = label
        self.total_bytes = self._inputs.total_bytes
        self.files = self._inputs.files

    @property
    def bytes_read(self) -> int:
        return self._inputs.bytes_read

    def fingerprint(self) -> list[dict[str, Any]]:
        return self._inputs.fingerprint()

    def __iter__(self) -> Iterator[Record]:
        report = ErrorReport(self._label)
        try:
            for record in self._inputs:
                if record.error is not None:
                    report.add(record.error)
                yield record
        finally:
            report.finish()


F = TypeVar("F", bound=Callable[..., Any])


def user_errors(command: F) -> F:
    """Wrap a command so that an expected failure prints one line, never a traceback.

    escalate's own errors (a bad policy, an unreadable input, a missing extra...) and
    operating-system errors (a folder that cannot be written) exit with status 2; a
    closed pipe (``escalate decide ... | head``) ends the command quietly.
    """

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except EscalateError as exc:
            err.print(f"[red]error:[/] {escape(str(exc))}")
            raise typer.Exit(2) from None
        except KeyboardInterrupt:
            err.print("[yellow]interrupted[/]")
            raise typer.Exit(130) from None
        except BrokenPipeError:
            _silence_stdout()  # whoever read standard output has gone
            raise typer.Exit(0) from None
        except OSError as exc:
            what = exc.strerror or str(exc)
            message = f"{exc.filename}: {what}" if exc.filename else what
            err.print(f"[red]error:[/] {escape(message)}")
            raise typer.Exit(2) from None

    return run  # type: ignore[return-value]


def _silence_stdout() -> None:
    """Point standard output at the null device, so the interpreter's final flush of a
    closed pipe raises nothing."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError, AttributeError):  # not a real file (tests, embedding)
        pass
