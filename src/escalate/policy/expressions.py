"""Safe policy conditions: a tiny expression language compiled to Python closures.

A rule's ``when`` is parsed with :func:`ast.parse` in ``eval`` mode and checked against a
strict whitelist; the syntax tree is then turned into a tree of small closures once, at
load time. Nothing is ever handed to ``eval``, ``exec`` or ``compile``.

Grammar
-------
* ``and``, ``or``, ``not`` and parentheses;
* comparisons ``<  <=  >  >=  ==  !=``, chained like ``0.2 <= x < 0.8``;
* numbers (``3``, ``0.75``, ``1e-3``), ``true`` / ``false`` (or ``True`` / ``False``,
  which count as 1 and 0 where a number is expected), unary ``-`` and ``+``;
* arithmetic ``+ - * /`` on numbers and the functions ``min(a, b, ...)``,
  ``max(a, b, ...)`` and ``abs(x)``;
* signal names, plain (``human_request``) or dotted (``trajectory.negative.streak``).

A bare signal name used as a condition holds when its value is known and non-zero.

Missing values
--------------
A signal may be unknown at a turn (its value is ``None``, or it is absent). Arithmetic
with an unknown value is unknown, division by zero is unknown, and *any comparison
involving an unknown value is false*; so ``not (x > 3)`` and ``not x`` hold when ``x`` is
unknown. A NaN value counts as unknown. Conditions themselves are always true or false.

Conditions and numbers are kept apart: a comparison, ``and``, ``or`` or ``not`` cannot be
used as a number (``(a > 1) + 2`` is rejected), while numbers and names may be used as
conditions (they hold when known and non-zero).

Examples
--------
>>> e = compile_expression("dialogue.consecutive_fallbacks >= 2 or human_request > 0.8")
>>> e.evaluate({"dialogue.consecutive_fallbacks": 2, "human_request": None})
True
>>> [str(c) for c in e.explain({"dialogue.consecutive_fallbacks": 3})]
['dialogue.consecutive_fallbacks=3 >= 2']
"""

from __future__ import annotations

import ast
import difflib
import math
import operator
import re
import warnings
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "MAX_EXPRESSION_CHARS",
    "Comparison",
    "Expression",
    "ExpressionError",
    "compile_expression",
]

#: Longest expression text accepted, in characters.
MAX_EXPRESSION_CHARS = 2000
#: Deepest nesting of operators accepted.
MAX_DEPTH = 100
#: The functions an expression may call.
FUNCTIONS: tuple[str, ...] = ("min", "max", "abs")

Values = Mapping[str, float | None]
_NumFn = Callable[[Values], float | None]
_BoolFn = Callable[[Values], bool]

_CMP_OPS: dict[type[ast.cmpop], str] = {
    ast.Lt: "<",
    ast.LtE: "<=",
    ast.Gt: ">",
    ast.GtE: ">=",
    ast.Eq: "==",
    ast.NotEq: "!=",
}
_CMP_FNS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
    "==": operator.eq,
    "!=": operator.ne,
}
_FLIPPED = {"<": ">", "<=": ">=", ">": "<", ">=": "<=", "==": "==", "!=": "!="}
_NEGATED = {"<": ">=", "<=": ">", ">": "<=", ">=": "<", "==": "!=", "!=": "=="}
_ARITH_OPS: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
}
_FORBIDDEN_OPS: dict[type[ast.AST], str] = {
    ast.Pow: "**",
    ast.Mod: "%",
    ast.FloorDiv: "//",
    ast.MatMult: "@",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.Invert: "~",
    ast.Is: "is",
    ast.IsNot: "is not",
    ast.In: "in",
    ast.NotIn: "not in",
}
_FORBIDDEN_NODES: dict[type[ast.AST], str] = {
    ast.Subscript: "indexing (x[...]) is not allowed",
    ast.List: "lists are not allowed",
    ast.Tuple: "tuples are not allowed",
    ast.Dict: "dicts are not allowed",
    ast.Set: "sets are not allowed",
    ast.ListComp: "comprehensions are not allowed",
    ast.SetComp: "comprehensions are not allowed",
    ast.DictComp: "comprehensions are not allowed",
    ast.GeneratorExp: "comprehensions are not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.IfExp: "conditional expressions (x if c else y) are not allowed",
    ast.NamedExpr: "assignment (:=) is not allowed",
    ast.JoinedStr: "strings are not allowed",
    ast.FormattedValue: "strings are not allowed",
    ast.Starred: "unpacking (*x) is not allowed",
    ast.Await: "await is not allowed",
    ast.Yield: "yield is not allowed",
    ast.YieldFrom: "yield is not allowed",
    ast.Slice: "slices are not allowed",
}
_TRUE_NAMES = {"true": 1.0, "false": 0.0}
_HINTS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"&&"), "use 'and' instead of '&&'"),
    (re.compile(r"\|\|"), "use 'or' instead of '||'"),
    (re.compile(r"!(?!=)"), "use 'not' instead of '!'"),
    (re.compile(r"(?<![<>=!])=(?!=)"), "use '==' to compare (a single '=' is not allowed)"),
)


class ExpressionError(ValueError):
    """An expression is invalid.

    Attributes
    ----------
    message:
        What is wrong, without the column.
    column:
        1-based character column in the expression text, when known.

    Examples
    --------
    >>> try:
    ...     compile_expression("x > 1 or open(x)")
    ... except ExpressionError as e:
    ...     print(e.message, e.column)
    function calls other than min/max/abs are not allowed 10
    """

    def __init__(self, message: str, column: int | None = None) -> None:
        self.message = message
        self.column = column
        super().__init__(f"{message} (column {column})" if column is not None else message)


@dataclass(frozen=True, slots=True)
class Comparison:
    """One atomic condition that held, with the value that made it hold.

    ``signal`` is the signal name (or the source text of the left-hand side when it is
    not a plain name), ``op`` the operator as it held, ``threshold`` the value compared
    against, ``value`` the signal's value. A bare name that held reads ``name != 0``.

    Examples
    --------
    >>> str(Comparison("human_request", ">=", 0.8, 0.93))
    'human_request=0.93 >= 0.8'
    """

    signal: str | None
    op: str
    threshold: float | None
    value: float | None

    def __str__(self) -> str:
        return f"{self.signal}={_fmt(self.value)} {self.op} {_fmt(self.threshold)}"


def _fmt(x: float | None) -> str:
    if x is None:
        return "none"
    if isinstance(x, float) and x.is_integer() and abs(x) < 1e15:
        return str(int(x))
    return f"{x:.4g}"


# --------------------------------------------------------------------------------------
# The compiled tree. Number nodes yield float | None; condition nodes yield bool.
# --------------------------------------------------------------------------------------


class _Num:
    """A number-valued node; ``names`` are the signals it reads."""

    __slots__ = ("const", "fn", "is_bool_literal", "name", "names", "text")

    def __init__(
        self,
        fn: _NumFn,
        text: str,
        *,
        const: bool,
        name: str | None = None,
        is_bool_literal: bool = False,
        names: frozenset[str] = frozenset(),
    ) -> None:
        self.fn = fn
        self.text = text
        self.const = const
        self.name = name
        self.is_bool_literal = is_bool_literal
        self.names = names if name is None else names | {name}

    @property
    def label(self) -> str:
        return self.name if self.name is not None else self.text


class _Cond:
    """A condition node."""

    __slots__ = ("fn",)

    fn: _BoolFn

    def holds(self, values: Values) -> bool:
        return self.fn(values)

    def truth(self, values: Values, failed: Collection[str]) -> bool | None:
        """Kleene's three-valued truth: ``None`` when the outcome depends on a failed name."""
        raise NotImplementedError

    def explain(self, values: Values, negated: bool, out: list[Comparison]) -> None:
        raise NotImplementedError

    def margin(self, values: Values) -> float | None:
        raise NotImplementedError

    def always(self) -> bool | None:
        """True/False when the condition is the same for every input, else None."""
        return None


def _nan_to_none(x: float) -> float | None:
    return None if x != x else x


def _const_num(value: float | None, text: str, *, is_bool_literal: bool = False) -> _Num:
    def fn(values: Values) -> float | None:
        return value

    return _Num(fn, text, const=True, is_bool_literal=is_bool_literal)


def _name_num(name: str) -> _Num:
    def fn(values: Values) -> float | None:
        v = values.get(name)
        if v is None or v != v:
            return None
        return v

    return _Num(fn, name, const=False, name=name)


def _arith(op: str, left: _NumFn, right: _NumFn) -> _NumFn:
    if op == "+":

        def add(values: Values) -> float | None:
            a = left(values)
            if a is None:
                return None
            b = right(values)
            if b is None:
                return None
            return _nan_to_none(a + b)

        return add
    if op == "-":

        def sub(values: Values) -> float | None:
            a = left(values)
            if a is None:
                return None
            b = right(values)
            if b is None:
                return None
            return _nan_to_none(a - b)

        return sub
    if op == "*":

        def mul(values: Values) -> float | None:
            a = left(values)
            if a is None:
                return None
            b = right(values)
            if b is None:
                return None
            return _nan_to_none(a * b)

        return mul

    def div(values: Values) -> float | None:
        a = left(values)
        if a is None:
            return None
        b = right(values)
        if b is None or b == 0:
            return None
        try:
            return _nan_to_none(a / b)
        except (OverflowError, ZeroDivisionError):
            return None

    return div


def _neg(inner: _NumFn) -> _NumFn:
    def neg(values: Values) -> float | None:
        a = inner(values)
        return None if a is None else -a

    return neg


def _func(name: str, args: Sequence[_NumFn]) -> _NumFn:
    if name == "abs":
        (only,) = args

        def absf(values: Values) -> float | None:
            a = only(values)
            return None if a is None else abs(a)

        return absf
    pick = min if name == "min" else max

    def minmax(values: Values) -> float | None:
        got: list[float] = []
        for f in args:
            v = f(values)
            if v is None:
                return None
            got.append(v)
        return pick(got)

    return minmax


class _Truthy(_Cond):
    """A number used as a condition: holds when known and non-zero."""

    __slots__ = ("num",)

    def __init__(self, num: _Num) -> None:
        self.num = num
        f = num.fn

        def fn(values: Values) -> bool:
            v = f(values)
            return v is not None and v != 0

        self.fn = fn

    def truth(self, values: Values, failed: Collection[str]) -> bool | None:
        if any(n in failed for n in self.num.names):
            return None
        return self.fn(values)

    def explain(self, values: Values, negated: bool, out: list[Comparison]) -> None:
        if self.num.const:
            return
        v = self.num.fn(values)
        out.append(Comparison(self.num.label, "==" if negated else "!=", 0.0, v))

    def margin(self, values: Values) -> float | None:
        # A truthy number holds by its size; a zero does not hold at all (margin -1).
        if self.num.const:
            return math.inf if self.fn(values) else -math.inf
        v = self.num.fn(values)
        if v is None:
            return None
        return abs(v) if v != 0 else -1.0

    def always(self) -> bool | None:
        return self.fn({}) if self.num.const else None


class _Compare(_Cond):
    """A comparison, possibly chained."""

    __slots__ = ("operands", "ops")

    def __init__(self, operands: list[_Num], ops: list[str]) -> None:
        self.operands = operands
        self.ops = ops
        self.fn = self._build()

    def _build(self) -> _BoolFn:
        operands, ops = self.operands, self.ops
        if all(o.const for o in operands):
            result = self._static()

            def static(values: Values) -> bool:
                return result

            return static
        if len(ops) == 1:
            left, right = operands
            cmp = _CMP_FNS[ops[0]]
            lf, rf = left.fn, right.fn
            if right.const:
                t = rf({})
                if t is None:
                    return _never
                threshold: float = t

                def const_right(values: Values) -> bool:
                    a = lf(values)
                    return a is not None and cmp(a, threshold)

                return const_right

            def pair(values: Values) -> bool:
                a = lf(values)
                if a is None:
                    return False
                b = rf(values)
                return b is not None and cmp(a, b)

            return pair
        fns = [o.fn for o in operands]
        first = fns[0]
        rest = list(zip([_CMP_FNS[op] for op in ops], fns[1:], strict=True))

        def chain(values: Values) -> bool:
            prev = first(values)
            if prev is None:
                return False
            for cmp_, g in rest:
                cur = g(values)
                if cur is None or not cmp_(prev, cur):
                    return False
                prev = cur
            return True

        return chain

    def truth(self, values: Values, failed: Collection[str]) -> bool | None:
        # a chain is the "and" of its links: one link known to fail decides it
        unknown = False
        for i, op in enumerate(self.ops):
            left, right = self.operands[i], self.operands[i + 1]
            if any(n in failed for n in (*left.names, *right.names)):
                unknown = True
                continue
            a, b = left.fn(values), right.fn(values)
            if a is None or b is None or not _CMP_FNS[op](a, b):
                return False
        return None if unknown else True

    def _static(self) -> bool:
        got = [o.fn({}) for o in self.operands]
        if any(v is None for v in got):
            return False
        return all(
            _CMP_FNS[op](a, b)  # type: ignore[arg-type]
            for op, a, b in zip(self.ops, got, got[1:], strict=False)
        )

    def _pairs(
        self, values: Values
    ) -> list[tuple[str | None, str, float | None, float | None, bool]]:
        """Each link as (signal, op, threshold, value, held), normalised name-first."""
        got = [o.fn(values) for o in self.operands]
        links: list[tuple[str | None, str, float | None, float | None, bool]] = []
        for i, op in enumerate(self.ops):
            left, right = self.operands[i], self.operands[i + 1]
            lv, rv = got[i], got[i + 1]
            held = lv is not None and rv is not None and _CMP_FNS[op](lv, rv)
            if left.const and not right.const:
                links.append((right.label, _FLIPPED[op], lv, rv, held))
            else:
                links.append((left.label, op, rv, lv, held))
        return links

    def explain(self, values: Values, negated: bool, out: list[Comparison]) -> None:
        for signal, op, threshold, value, held in self._pairs(values):
            if held and not negated:
                out.append(Comparison(signal, op, threshold, value))
            elif negated and not held:
                out.append(Comparison(signal, _NEGATED[op], threshold, value))

    def margin(self, values: Values) -> float | None:
        worst: float | None = None
        for _, op, threshold, value, _held in self._pairs(values):
            if threshold is None or value is None:
                return None
            diff = value - threshold
            if op in ("<", "<="):
                diff = -diff
            elif op == "==":
                diff = -abs(diff)
            elif op == "!=":
                diff = abs(diff)
            m = _nan_to_none(diff / max(abs(threshold), 1.0))
            if m is None:
                return None
            worst = m if worst is None else min(worst, m)
        return worst

    def always(self) -> bool | None:
        if all(o.const for o in self.operands):
            return self._static()
        return None


def _never(values: Values) -> bool:
    return False


class _And(_Cond):
    __slots__ = ("items",)

    def __init__(self, items: list[_Cond]) -> None:
        self.items = items
        fns = [i.fn for i in items]
        fn = fns[-1]
        for f in reversed(fns[:-1]):
            fn = _and2(f, fn)
        self.fn = fn

    def truth(self, values: Values, failed: Collection[str]) -> bool | None:
        return _kleene(self.items, values, failed, decisive=False)

    def explain(self, values: Values, negated: bool, out: list[Comparison]) -> None:
        for item in self.items:
            if not negated:
                item.explain(values, False, out)
            elif not item.fn(values):
                item.explain(values, True, out)

    def margin(self, values: Values) -> float | None:
        ms = [i.margin(values) for i in self.items]
        if any(m is None for m in ms):
            return None
        return min(m for m in ms if m is not None)

    def always(self) -> bool | None:
        got = [i.always() for i in self.items]
        if any(g is False for g in got):
            return False
        if all(g is True for g in got):
            return True
        return None


class _Or(_Cond):
    __slots__ = ("items",)

    def __init__(self, items: list[_Cond]) -> None:
        self.items = items
        fns = [i.fn for i in items]
        fn = fns[-1]
        for f in reversed(fns[:-1]):
            fn = _or2(f, fn)
        self.fn = fn

    def truth(self, values: Values, failed: Collection[str]) -> bool | None:
        return _kleene(self.items, values, failed, decisive=True)

    def explain(self, values: Values, negated: bool, out: list[Comparison]) -> None:
        for item in self.items:
            if negated:
                item.explain(values, True, out)
            elif item.fn(values):
                item.explain(values, False, out)

    def margin(self, values: Values) -> float | None:
        known: list[float] = []
        for item in self.items:
            m = item.margin(values)
            if m is not None:
                known.append(m)
            elif item.fn(values):
                return None  # holds through an unknown value: no meaningful distance
        return max(known) if known else None

    def always(self) -> bool | None:
        got = [i.always() for i in self.items]
        if any(g is True for g in got):
            return True
        if all(g is False for g in got):
            return False
        return None


def _kleene(
    items: Sequence[_Cond], values: Values, failed: Collection[str], *, decisive: bool
) -> bool | None:
    """``and`` (one false side decides) or ``or`` (one true side decides) in
    three-valued logic: otherwise unknown when a side is unknown."""
    unknown = False
    for item in items:
        got = item.truth(values, failed)
        if got is decisive:
            return decisive
        unknown = unknown or got is None
    return None if unknown else not decisive


def _and2(a: _BoolFn, b: _BoolFn) -> _BoolFn:
    def fn(values: Values) -> bool:
        return a(values) and b(values)

    return fn


def _or2(a: _BoolFn, b: _BoolFn) -> _BoolFn:
    def fn(values: Values) -> bool:
        return a(values) or b(values)

    return fn


class _Not(_Cond):
    __slots__ = ("item",)

    def __init__(self, item: _Cond) -> None:
        self.item = item
        f = item.fn

        def fn(values: Values) -> bool:
            return not f(values)

        self.fn = fn

    def truth(self, values: Values, failed: Collection[str]) -> bool | None:
        got = self.item.truth(values, failed)
        return None if got is None else not got

    def explain(self, values: Values, negated: bool, out: list[Comparison]) -> None:
        self.item.explain(values, not negated, out)

    def margin(self, values: Values) -> float | None:
        m = self.item.margin(values)
        return None if m is None else -m

    def always(self) -> bool | None:
        got = self.item.always()
        return None if got is None else not got


# --------------------------------------------------------------------------------------
# From Python's syntax tree to the compiled tree.
# --------------------------------------------------------------------------------------


class _Builder:
    def __init__(self, text: str, offset: int) -> None:
        self.text = text
        self.offset = offset
        self.names: dict[str, int | None] = {}

    def column(self, node: ast.AST) -> int | None:
        col = getattr(node, "col_offset", None)
        if not isinstance(col, int):
            return None
        prefix = self.text.encode("utf-8", "surrogatepass")[:col]
        return len(prefix.decode("utf-8", "ignore")) + 1 + self.offset

    def fail(self, message: str, node: ast.AST) -> ExpressionError:
        return ExpressionError(message, self.column(node))

    def source(self, node: ast.AST) -> str:
        try:
            return ast.unparse(node)
        except Exception:  # pragma: no cover - unparse of a checked tree does not fail
            return "<expression>"

    # conditions ------------------------------------------------------------------
    def cond(self, node: ast.AST, depth: int) -> _Cond:
        if depth > MAX_DEPTH:
            raise self.fail(f"the expression is nested too deeply (over {MAX_DEPTH} levels)", node)
        if isinstance(node, ast.BoolOp):
            items = [self.cond(v, depth + 1) for v in node.values]
            return _And(items) if isinstance(node.op, ast.And) else _Or(items)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            return _Not(self.cond(node.operand, depth + 1))
        if isinstance(node, ast.Compare):
            ops: list[str] = []
            for op in node.ops:
                name = _CMP_OPS.get(type(op))
                if name is None:
                    shown = _FORBIDDEN_OPS.get(type(op), type(op).__name__)
                    raise self.fail(
                        f"the operator '{shown}' is not allowed; use one of < <= > >= == !=",
                        node,
                    )
                ops.append(name)
            operands = [self.num(node.left, depth + 1)]
            operands += [self.num(c, depth + 1) for c in node.comparators]
            return _Compare(operands, ops)
        return _Truthy(self.num(node, depth + 1))

    # numbers ---------------------------------------------------------------------
    def num(self, node: ast.AST, depth: int) -> _Num:
        if depth > MAX_DEPTH:
            raise self.fail(f"the expression is nested too deeply (over {MAX_DEPTH} levels)", node)
        if isinstance(node, ast.Constant):
            return self.constant(node)
        if isinstance(node, ast.Name):
            if node.id in _TRUE_NAMES:
                return _const_num(_TRUE_NAMES[node.id], node.id, is_bool_literal=True)
            return self.signal(node.id, node)
        if isinstance(node, ast.Attribute):
            return self.signal(self.dotted(node), node)
        if isinstance(node, ast.BinOp):
            op = _ARITH_OPS.get(type(node.op))
            if op is None:
                shown = _FORBIDDEN_OPS.get(type(node.op), type(node.op).__name__)
                raise self.fail(f"the operator '{shown}' is not allowed; use + - * /", node)
            left = self.num(node.left, depth + 1)
            right = self.num(node.right, depth + 1)
            return self.fold(_arith(op, left.fn, right.fn), node, (left, right))
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, ast.Not):
                raise self.fail(
                    "a condition (comparison, and, or, not) cannot be used as a number", node
                )
            if isinstance(node.op, ast.Invert):
                raise self.fail("the operator '~' is not allowed", node)
            inner = self.num(node.operand, depth + 1)
            fn = _neg(inner.fn) if isinstance(node.op, ast.USub) else inner.fn
            return self.fold(fn, node, (inner,))
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        if isinstance(node, ast.BoolOp | ast.Compare):
            raise self.fail(
                "a condition (comparison, and, or, not) cannot be used as a number", node
            )
        raise self.fail(self.forbidden(node), node)

    def fold(self, fn: _NumFn, node: ast.AST, parts: Sequence[_Num]) -> _Num:
        text = self.source(node)
        if all(p.const for p in parts):
            return _const_num(fn({}), text)
        names = frozenset().union(*(p.names for p in parts))
        return _Num(fn, text, const=False, names=names)

    def constant(self, node: ast.Constant) -> _Num:
        value = node.value
        if isinstance(value, bool):
            return _const_num(1.0 if value else 0.0, str(value).lower(), is_bool_literal=True)
        if isinstance(value, int | float):
            try:
                number = float(value)
            except OverflowError:
                raise self.fail("the number is too large", node) from None
            return _const_num(number, self.source(node))
        if isinstance(value, str | bytes):
            raise self.fail("strings are not allowed; compare signals with numbers", node)
        if value is None:
            raise self.fail(
                "None is not allowed; a missing value makes any comparison false, "
                "and 'not name' holds when the signal is missing or zero",
                node,
            )
        if isinstance(value, complex):
            raise self.fail("complex numbers are not allowed", node)
        raise self.fail(f"the constant {value!r} is not allowed", node)

    def dotted(self, node: ast.Attribute) -> str:
        parts = [node.attr]
        base: ast.expr = node.value
        while isinstance(base, ast.Attribute):
            parts.append(base.attr)
            base = base.value
        if not isinstance(base, ast.Name):
            raise self.fail(
                "attribute access on a non-name is not allowed; signal names are "
                "dotted identifiers such as dialogue.consecutive_fallbacks",
                node,
            )
        parts.append(base.id)
        return ".".join(reversed(parts))

    def signal(self, name: str, node: ast.AST) -> _Num:
        self.names.setdefault(name, self.column(node))
        return _name_num(name)

    def call(self, node: ast.Call, depth: int) -> _Num:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            raise self.fail("function calls other than min/max/abs are not allowed", node)
        if node.keywords:
            raise self.fail(f"{func.id}() takes no keyword arguments", node)
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise self.fail("unpacking (*x) is not allowed", arg)
        if func.id == "abs" and len(node.args) != 1:
            raise self.fail(f"abs() takes exactly one argument; got {len(node.args)}", node)
        if func.id != "abs" and len(node.args) < 2:
            raise self.fail(f"{func.id}() takes at least two arguments; got {len(node.args)}", node)
        args = [self.num(a, depth + 1) for a in node.args]
        return self.fold(_func(func.id, [a.fn for a in args]), node, args)

    def forbidden(self, node: ast.AST) -> str:
        message = _FORBIDDEN_NODES.get(type(node))
        if message is not None:
            return message
        return f"'{type(node).__name__}' expressions are not allowed"


# --------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------


class Expression:
    """A compiled, immutable condition.

    Attributes
    ----------
    source:
        The expression text as written.
    names:
        Every signal name the expression reads.

    Examples
    --------
    >>> e = compile_expression("3 <= dialogue.user_turns and not sentiment.positive > 0.5")
    >>> sorted(e.names)
    ['dialogue.user_turns', 'sentiment.positive']
    >>> e.evaluate({"dialogue.user_turns": 4})
    True
    >>> e.margin({"dialogue.user_turns": 4, "sentiment.positive": 0.2})
    0.3
    """

    __slots__ = ("_fn", "_root", "names", "source")

    source: str
    names: frozenset[str]
    _root: _Cond
    _fn: _BoolFn

    def __init__(self, source: str, root: _Cond, names: frozenset[str]) -> None:
        object.__setattr__(self, "source", source)
        object.__setattr__(self, "names", names)
        object.__setattr__(self, "_root", root)
        object.__setattr__(self, "_fn", root.fn)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Expression is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Expression is immutable")

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Expression):
            return NotImplemented
        return self.source == other.source

    def __hash__(self) -> int:
        return hash(("Expression", self.source))

    def __reduce__(self) -> tuple[Any, ...]:
        # The compiled tree is closures, which do not pickle: pickle the text, compile again.
        return (compile_expression, (self.source,))

    def evaluate(self, values: Values) -> bool:
        """Whether the condition holds for these signal values (absent names are unknown)."""
        return self._fn(values)

    def truth(self, values: Values, failed: Collection[str] = ()) -> bool | None:
        """Whether the condition holds when the signals in ``failed`` could not be computed.

        Kleene's three-valued logic: a comparison that reads a failed signal is unknown;
        ``a and b`` is false when either side is false, ``a or b`` true when either side
        is true, and otherwise unknown when a side is. ``None`` means the outcome depends
        on a failed signal; ``True`` or ``False`` that it does not (then it equals
        :meth:`evaluate`). A failed signal is not an unknown value: a value that is
        merely unknown (``None``) makes comparisons false, as in :meth:`evaluate`.

        Examples
        --------
        >>> e = compile_expression("human_request >= 0.8 or dialogue.asked_for_human")
        >>> e.truth({"dialogue.asked_for_human": 1}, failed={"human_request"})
        True
        >>> e.truth({"dialogue.asked_for_human": 0}, failed={"human_request"}) is None
        True
        """
        if not any(n in failed for n in self.names):
            return self.evaluate(values)
        return self._root.truth(values, failed)

    def explain(self, values: Values) -> list[Comparison]:
        """The atomic comparisons (and truthy names) that made the condition hold.

        ``a and b`` reports both sides, ``a or b`` the sides that held. Under ``not``
        the failed comparisons are reported with the negated operator (``not x > 3``
        with ``x = 2`` reads ``x=2 <= 3``). Empty when the condition does not hold, or
        holds without reading any signal (``true``).
        """
        if not self._fn(values):
            return []
        out: list[Comparison] = []
        self._root.explain(values, False, out)
        return out

    def margin(self, values: Values) -> float | None:
        """How close the condition is to holding: positive when it holds.

        A comparison ``x >= t`` scores ``(x - t) / max(|t|, 1)`` (``<``/``<=`` the
        opposite; ``==`` scores ``-|x - t|``, ``!=`` ``|x - t|``, both scaled alike);
        ``and`` takes the lowest side, ``or`` the highest known side (unknown sides are
        skipped while they do not hold), ``not`` negates,
        a bare name scores its value; ``true``/``false`` score +inf/-inf. ``None`` when
        a value it depends on is unknown.
        """
        return self._root.margin(values)

    @property
    def always(self) -> bool | None:
        """``True`` or ``False`` when the condition never depends on signal values."""
        return self._root.always()


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def compile_expression(text: str, *, known: Collection[str] | None = None) -> Expression:
    """Parse, check and compile one condition.

    Parameters
    ----------
    text:
        The condition, e.g. ``"human_request >= 0.8 or dialogue.asked_for_human"``.
        Line breaks are read as spaces.
    known:
        The signal names allowed; ``None`` allows any name.

    Raises
    ------
    ExpressionError
        For any invalid input (and never anything else): bad syntax, a construct
        outside the grammar, unknown signal names (all listed, with a did-you-mean),
        text over :data:`MAX_EXPRESSION_CHARS` characters or nesting over
        :data:`MAX_DEPTH` levels.

    Examples
    --------
    >>> compile_expression("min(a, b) > 1").evaluate({"a": 2, "b": 3})
    True
    """
    try:
        return _compile(text, known)
    except ExpressionError:
        raise
    except (RecursionError, MemoryError):
        raise ExpressionError(
            f"the expression is nested too deeply (over {MAX_DEPTH} levels)"
        ) from None
    except Exception as e:  # a safety net: no input may escape as another error
        raise ExpressionError(f"invalid expression: {type(e).__name__}") from None


def _compile(text: str, known: Collection[str] | None) -> Expression:
    if not isinstance(text, str):
        raise ExpressionError(f"expected the expression as text; got {type(text).__name__}")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(
            f"the expression is too long ({len(text)} characters; at most {MAX_EXPRESSION_CHARS})"
        )
    flat = text.replace("\r", " ").replace("\n", " ")
    body = flat.lstrip()
    offset = len(flat) - len(body)
    if not body.strip():
        raise ExpressionError("the expression is empty")
    if "\x00" in body:
        raise ExpressionError("the expression contains a null character", body.index("\x00") + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(body, mode="eval")
    except SyntaxError as e:
        hint = next((h for pattern, h in _HINTS if pattern.search(body)), None)
        detail = e.msg if isinstance(e.msg, str) else ""
        message = hint or (
            "invalid syntax" if detail in ("", "invalid syntax") else f"invalid syntax: {detail}"
        )
        column = e.offset + offset if isinstance(e.offset, int) and e.offset > 0 else None
        if column is not None:
            column = min(column, len(flat) + 1)
        raise ExpressionError(message, column) from None
    except (ValueError, TypeError, OverflowError):
        raise ExpressionError("invalid syntax") from None
    builder = _Builder(body, offset)
    root = builder.cond(tree.body, 0)
    if known is not None:
        unknown = [n for n in builder.names if n not in known]
        if unknown:
            pieces = [f"'{n}'{_did_you_mean(n, known)}" for n in unknown]
            noun = "signal" if len(unknown) == 1 else "signals"
            raise ExpressionError(f"unknown {noun} {', '.join(pieces)}", builder.names[unknown[0]])
    return Expression(text, root, frozenset(builder.names))
