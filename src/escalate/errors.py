"""Every exception escalate raises on purpose.

The tree::

    EscalateError                 base of everything below; catch this to catch them all
    ├── PolicyError               a policy file (or text) is invalid; ``.problems`` lists every problem
    ├── InputError                an input (record, turn, argument) is invalid; names the field (a ValueError too)
    ├── AffectModelError          the affect model failed to load or to predict
    ├── StoreError                a session or history store failed
    └── MissingExtraError         an optional dependency is not installed; says which ``pip install`` fixes it

Errors raised while *observing* a turn (model or store failures) never reach the
caller's bot: the engine turns them into a decision that follows the policy's
``on_error`` and records the failure in the decision's reasons.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = [
    "AffectModelError",
    "EscalateError",
    "InputError",
    "MissingExtraError",
    "PolicyError",
    "PolicyProblem",
    "StoreError",
]


class EscalateError(Exception):
    """Base class of every error escalate raises on purpose."""


@dataclass(frozen=True, slots=True)
class PolicyProblem:
    """One problem found in a policy.

    Attributes
    ----------
    source:
        The file name, or ``"<string>"`` for policy text given directly.
    line:
        1-based line of the offending YAML node, or ``None`` when unknown.
    path:
        Where in the document, e.g. ``("rules", 2, "when")``.
    message:
        What was expected and what was found.

    Examples
    --------
    >>> str(PolicyProblem("p.yaml", 7, ("rules", 0, "when"), "unknown signal 'x'"))
    "p.yaml:7: rules -> 0 -> when: unknown signal 'x'"
    """

    source: str
    line: int | None
    path: tuple[str | int, ...]
    message: str

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}" if self.line is not None else self.source
        path = " -> ".join(str(p) for p in self.path) if self.path else "(document)"
        return f"{where}: {path}: {self.message}"


class PolicyError(EscalateError):
    """A policy is invalid. ``problems`` lists every problem found, not only the first.

    The message reads one problem per line as ``file:line: path -> key: message``.
    """

    def __init__(self, problems: list[PolicyProblem]) -> None:
        self.problems = list(problems)
        count = len(self.problems)
        head = f"invalid policy: {count} problem{'s' if count != 1 else ''}"
        super().__init__("\n".join([head, *(f"  {p}" for p in self.problems)]))


class InputError(EscalateError, ValueError):
    """An input is invalid: a conversation record, a turn, or an argument.

    Every model escalate takes in (``Turn``, ``Conversation``, ``Label``,
    ``ContactRecord``...) raises it when built from invalid values, as do the engine's
    and the sessions' arguments. It is also a :class:`ValueError`.

    Attributes
    ----------
    line:
        1-based line (or row) number in the input, when reading a file.
    field:
        Dotted path of the offending field, e.g. ``turns.3.role``, or the argument's name.
    """

    def __init__(self, message: str, *, line: int | None = None, field: str | None = None) -> None:
        self.line = line
        self.field = field
        self.detail = message
        parts = []
        if line is not None:
            parts.append(f"line {line}")
        if field:
            parts.append(field)
        prefix = ": ".join(parts)
        super().__init__(f"{prefix}: {message}" if prefix else message)

    @classmethod
    def from_validation(cls, exc: ValidationError, *, line: int | None = None) -> InputError:
        """The first problem of a pydantic validation error, naming its field and what it
        got, and how many more there are.

        Examples
        --------
        >>> from pydantic import BaseModel, ValidationError
        >>> class Point(BaseModel):
        ...     x: int
        >>> try:
        ...     Point(x="left")
        ... except ValidationError as exc:
        ...     print(InputError.from_validation(exc))
        x: Input should be a valid integer, unable to parse string as an integer; got 'left'
        """
        problems = exc.errors(include_url=False)
        first = problems[0]
        field = ".".join(str(p) for p in first["loc"]) or None
        message = str(first["msg"]).removeprefix("Value error, ")
        given = first.get("input")
        if first["type"] != "missing" and not isinstance(given, dict | list | tuple):
            shown = repr(given)
            message += f"; got {shown if len(shown) <= 60 else shown[:57] + '...'}"
        if len(problems) > 1:
            more = len(problems) - 1
            message += f" (and {more} more problem{'s' if more > 1 else ''})"
        return cls(message, line=line, field=field)


class AffectModelError(EscalateError):
    """The affect model could not be loaded or failed to score a text."""


class StoreError(EscalateError):
    """A session or history store failed (unreachable, timed out or returned garbage)."""


class MissingExtraError(EscalateError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` that fixes it."""

    def __init__(self, what: str, extra: str) -> None:
        self.extra = extra
        super().__init__(f"{what} needs the '{extra}' extra: pip install 'escalate[{extra}]'")
