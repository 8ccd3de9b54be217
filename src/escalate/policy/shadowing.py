"""Rules that can never decide: an earlier rule matches whenever they do.

The first matching rule decides, so a rule whose condition implies an earlier rule's
never decides. The common case is a threshold ladder written in the wrong order::

    - id: dissatisfied          # dissatisfaction >= 0.4: offer a person
    - id: unhappy-and-stuck     # dissatisfaction >= 0.45 and dialogue.failures >= 1: hand over

Whenever the second holds, so does the first, which comes first: the handoff never
happens. This module finds such pairs when the earlier rule is one comparison of a
signal with a number and the later rule's condition is a conjunction (``and``) that
compares the same signal the same way, at least as strictly. It answers only what it can
prove: any other form is left alone.

Examples
--------
>>> implies("dissatisfaction >= 0.45 and dialogue.failures >= 1", "dissatisfaction >= 0.4")
True
>>> implies("dissatisfaction >= 0.45 or dialogue.failures >= 1", "dissatisfaction >= 0.4")
False
>>> implies("distress > 0.9", "distress >= 0.95")
False
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

__all__ = ["Bound", "conjuncts", "dotted_name", "implies", "number"]


@dataclass(frozen=True)
class Bound:
    """``signal >= value`` (``lower``; ``>`` when ``strict``) or ``signal <= value``."""

    signal: str
    lower: bool
    value: float
    strict: bool

    def implies(self, other: Bound) -> bool:
        """Whether every value that meets this bound meets ``other`` too."""
        if self.signal != other.signal or self.lower != other.lower:
            return False
        if self.lower:
            if other.strict and not self.strict:
                return self.value > other.value
            return self.value >= other.value
        if other.strict and not self.strict:
            return self.value < other.value
        return self.value <= other.value


def dotted_name(node: ast.AST) -> str | None:
    """The signal name a node spells (``dialogue.failures``), or ``None``."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted_name(node.value)
        return None if base is None else f"{base}.{node.attr}"
    return None


def number(node: ast.AST) -> float | None:
    """The number a node spells (a minus sign included), or ``None``."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = number(node.operand)
        return None if inner is None else -inner
    if (
        isinstance(node, ast.Constant)
        and isinstance(node.value, int | float)
        and not isinstance(node.value, bool)
    ):
        return float(node.value)
    return None


_LOWER = {
    ast.GtE: (True, False),
    ast.Gt: (True, True),
    ast.LtE: (False, False),
    ast.Lt: (False, True),
}
_FLIPPED = {ast.GtE: ast.LtE, ast.Gt: ast.Lt, ast.LtE: ast.GtE, ast.Lt: ast.Gt}


def _bound(node: ast.expr) -> Bound | None:
    if not isinstance(node, ast.Compare) or len(node.ops) != 1:
        return None
    op, left, right = type(node.ops[0]), node.left, node.comparators[0]
    if op not in _LOWER:
        return None
    signal, value = dotted_name(left), number(right)
    if signal is None:  # written the other way round: 0.4 <= dissatisfaction
        signal, value, op = dotted_name(right), number(left), _FLIPPED[op]
    if signal is None or value is None:
        return None
    lower, strict = _LOWER[op]
    return Bound(signal, lower, value, strict)


def _parse(source: str) -> ast.expr | None:
    try:
        return ast.parse(source.strip(), mode="eval").body
    except SyntaxError:
        return None


def conjuncts(source: str) -> list[ast.expr] | None:
    """The parts of a condition joined by ``and`` (the whole condition when it has no
    top-level ``and``); ``None`` when it cannot be read."""
    node = _parse(source)
    if node is None:
        return None
    out: list[ast.expr] = []
    stack = [node]
    while stack:
        part = stack.pop()
        if isinstance(part, ast.BoolOp) and isinstance(part.op, ast.And):
            stack.extend(reversed(part.values))
        else:
            out.append(part)
    return out


def implies(later: str, earlier: str) -> bool:
    """Whether condition ``later`` can be shown to hold only when ``earlier`` holds
    (``earlier`` one comparison of a signal with a number; see the module notes)."""
    parts = conjuncts(earlier)
    if parts is None or len(parts) != 1:
        return False
    needed = _bound(parts[0])
    if needed is None:
        return False
    for part in conjuncts(later) or []:
        bound = _bound(part)
        if bound is not None and bound.implies(needed):
            return True
    return False
