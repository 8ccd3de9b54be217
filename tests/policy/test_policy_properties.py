"""Properties of the expression compiler and the loader on generated input."""

from __future__ import annotations

import itertools
import operator
from collections.abc import Callable, Mapping
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from escalate.errors import PolicyError
from escalate.policy import Policy, parse_policy
from escalate.policy.expressions import Expression, ExpressionError, compile_expression

SETTINGS = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
NAMES = ["a", "b.c", "trajectory.negative.streak"]
Tree = tuple[Any, ...]
Values = Mapping[str, float | None]

# --- arbitrary text never escapes as anything but ExpressionError ----------------------------

TOKENS = [
    "a", "b.c", "x.y.z", "1", "0.5", "-", "+", "*", "/", "**", "%", "(", ")", "[", "]",
    "and", "or", "not", "<", "<=", ">", ">=", "==", "!=", "=", "true", "false", "None",
    "min", "max", "abs", "foo", ",", ".", "'s'", "lambda", ":", "if", "else", "is", "in",
    "1e999", "0x1f", "1j", "\\", "\n", "\t", "\x00", "#", "@", "~", "&&", "||", "!", "{", "}",
    "9" * 400, "yield", "await", "f'x'",
]  # fmt: skip


def _compiles_or_rejects(text: str) -> None:
    try:
        result = compile_expression(text, known=None)
    except ExpressionError as e:
        assert isinstance(e.message, str) and e.message
        assert e.column is None or e.column >= 1
    else:
        assert isinstance(result, Expression)
        values = dict.fromkeys(result.names, 1.0)
        assert isinstance(result.evaluate(values), bool)
        assert isinstance(result.evaluate({}), bool)
        result.explain(values)
        result.margin(values)


@SETTINGS
@given(st.text(max_size=300))
def test_any_text_compiles_or_raises_expression_error(text: str) -> None:
    _compiles_or_rejects(text)


@SETTINGS
@given(st.lists(st.sampled_from(TOKENS), max_size=40), st.sampled_from([" ", ""]))
def test_token_soup_compiles_or_raises_expression_error(tokens: list[str], sep: str) -> None:
    _compiles_or_rejects(sep.join(tokens))


@SETTINGS
@given(st.text(alphabet="()notand-+a<1 ", max_size=2100))
def test_deep_or_long_text_compiles_or_raises_expression_error(text: str) -> None:
    _compiles_or_rejects(text)


def test_pathological_texts() -> None:
    for text in [
        "(" * 1000,
        "not " * 499 + "a",
        "-" * 1999 + "a",
        "a" + "+a" * 999,
        "a<" * 999 + "a",
        "min(" * 500 + "a" + ")" * 500,
        "a." * 999 + "a",
        "\ud800",
        "a > 1 # comment",
        "\\",
    ]:
        _compiles_or_rejects(text)


# --- generated expression trees against a straightforward reference evaluator --------------

_CMP: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt, "<=": operator.le, ">": operator.gt,
    ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
}  # fmt: skip

numbers_leaf = st.one_of(
    st.builds(lambda v: ("const", v), st.integers(0, 5)),
    st.builds(lambda v: ("const", v), st.floats(0, 10, allow_nan=False).map(lambda f: round(f, 2))),
    st.builds(lambda n: ("name", n), st.sampled_from(NAMES)),
)


def _num_children(children: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    return st.one_of(
        st.builds(lambda c: ("neg", c), children),
        st.builds(lambda op, a, b: ("bin", op, a, b), st.sampled_from("+-*/"), children, children),
        st.builds(lambda a: ("call", "abs", [a]), children),
        st.builds(
            lambda f, args: ("call", f, args),
            st.sampled_from(["min", "max"]),
            st.lists(children, min_size=2, max_size=3),
        ),
    )


numbers = st.recursive(numbers_leaf, _num_children, max_leaves=6)


def _comparisons(ops: list[str]) -> st.SearchStrategy[Tree]:
    return st.integers(1, 3).flatmap(
        lambda k: st.builds(
            lambda operands, chosen: ("cmp", operands, chosen),
            st.lists(numbers, min_size=k + 1, max_size=k + 1),
            st.lists(st.sampled_from(ops), min_size=k, max_size=k),
        )
    )


def _conditions(leaves: st.SearchStrategy[Tree]) -> st.SearchStrategy[Tree]:
    return st.recursive(
        leaves,
        lambda children: st.one_of(
            st.builds(lambda items: ("and", items), st.lists(children, min_size=2, max_size=3)),
            st.builds(lambda items: ("or", items), st.lists(children, min_size=2, max_size=3)),
            st.builds(lambda c: ("not", c), children),
        ),
        max_leaves=8,
    )


conditions = _conditions(
    st.one_of(
        _comparisons(list(_CMP)),
        st.builds(lambda n: ("truthy", n), numbers),
        st.builds(lambda b: ("bool", b), st.booleans()),
    )
)
comparison_conditions = _conditions(_comparisons(list(_CMP)))

values_strategy = st.fixed_dictionaries(
    {},
    optional={
        n: st.one_of(
            st.none(),
            st.integers(-3, 3).map(float),
            st.floats(-10, 10, allow_nan=False).map(lambda f: round(f, 3)),
        )
        for n in NAMES
    },
)


def render(t: Tree) -> str:
    kind = t[0]
    if kind == "const":
        return repr(t[1])
    if kind == "name":
        return str(t[1])
    if kind == "neg":
        return f"(-{render(t[1])})"
    if kind == "bin":
        return f"({render(t[2])} {t[1]} {render(t[3])})"
    if kind == "call":
        return f"{t[1]}({', '.join(render(a) for a in t[2])})"
    if kind == "cmp":
        parts = [render(t[1][0])]
        for op, operand in zip(t[2], t[1][1:], strict=True):
            parts += [op, render(operand)]
        return "(" + " ".join(parts) + ")"
    if kind in ("and", "or"):
        return "(" + f" {kind} ".join(render(i) for i in t[1]) + ")"
    if kind == "not":
        return f"(not {render(t[1])})"
    if kind == "truthy":
        return render(t[1])
    if kind == "bool":
        return "true" if t[1] else "false"
    raise AssertionError(kind)


def ref_num(t: Tree, values: Values) -> float | None:
    kind = t[0]
    if kind == "const":
        return float(t[1])
    if kind == "name":
        v = values.get(t[1])
        return None if v is None or v != v else v
    if kind == "neg":
        a = ref_num(t[1], values)
        return None if a is None else -a
    if kind == "bin":
        a, b = ref_num(t[2], values), ref_num(t[3], values)
        if a is None or b is None:
            return None
        if t[1] == "/":
            if b == 0:
                return None
            result = a / b
        else:
            result = {"+": a + b, "-": a - b, "*": a * b}[t[1]]
        return None if result != result else result
    if kind == "call":
        args = [ref_num(a, values) for a in t[2]]
        if any(a is None for a in args):
            return None
        known = [a for a in args if a is not None]
        return {"abs": lambda: abs(known[0]), "min": lambda: min(known),
                "max": lambda: max(known)}[t[1]]()  # fmt: skip
    raise AssertionError(kind)


def ref_cond(t: Tree, values: Values) -> bool:
    kind = t[0]
    if kind == "cmp":
        got = [ref_num(o, values) for o in t[1]]
        if any(g is None for g in got):
            return False
        return all(_CMP[op](a, b) for op, a, b in zip(t[2], got, got[1:], strict=False))  # type: ignore[arg-type]
    if kind == "and":
        return all(ref_cond(i, values) for i in t[1])
    if kind == "or":
        return any(ref_cond(i, values) for i in t[1])
    if kind == "not":
        return not ref_cond(t[1], values)
    if kind == "truthy":
        v = ref_num(t[1], values)
        return v is not None and v != 0
    if kind == "bool":
        return bool(t[1])
    raise AssertionError(kind)


@SETTINGS
@given(conditions, values_strategy)
def test_evaluation_matches_reference_and_is_deterministic(tree: Tree, values: Values) -> None:
    text = render(tree)
    expression = compile_expression(text, known=NAMES)
    first = expression.evaluate(values)
    assert first is expression.evaluate(values)
    assert first is ref_cond(tree, values)
    assert first is compile_expression(text).evaluate(dict(values))
    held = expression.explain(values)
    if not first:
        assert held == []


@SETTINGS
@given(comparison_conditions, values_strategy)
def test_margin_sign_agrees_with_evaluation(tree: Tree, values: Values) -> None:
    expression = compile_expression(render(tree))
    margin = expression.margin(values)
    if margin is not None and margin > 0:
        assert expression.evaluate(values)
    if margin is not None and margin < 0:
        assert not expression.evaluate(values)


@SETTINGS
@given(comparison_conditions, values_strategy)
def test_explained_comparisons_hold(tree: Tree, values: Values) -> None:
    expression = compile_expression(render(tree))
    for c in expression.explain(values):
        if c.value is not None and c.threshold is not None:
            assert _CMP[c.op](c.value, c.threshold), c


# --- the loader never raises anything but PolicyError ------------------------------------------

YAML_TOKENS = [
    "version: 1\n", "rules:\n", "  - id: a\n", "    when: a > 1\n", "    then: {action: handoff}\n",
    "guards:\n", "  cooldown_turns: 2\n", "  business_hours: {timezone: X}\n", "- ", ": ", "{", "}",
    "[", "]", "&x ", "*x ", "<<: *x\n", "!!python/object:os.system ", "'", '"', "\n", "  ",
    "2026-13-45", "on_error: handoff\n", "version: 1\nversion: 1\n", "\t", "%YAML 1.1\n---\n",
]  # fmt: skip


@settings(max_examples=150, deadline=None)
@given(st.one_of(st.text(max_size=200), st.lists(st.sampled_from(YAML_TOKENS)).map("".join)))
def test_parse_policy_raises_only_policy_error(text: str) -> None:
    try:
        result = parse_policy(text)
    except PolicyError as e:
        assert e.problems
    else:
        assert isinstance(result, Policy)


# --- three-valued truth when some signals failed ----------------------------------------------

SUBSTITUTES: list[float | None] = [None, -3.0, 0.0, 1.0, 2.5, 10.0]


@SETTINGS
@given(conditions, values_strategy, st.sets(st.sampled_from(NAMES)))
def test_a_known_truth_holds_whatever_the_failed_signals_are(
    tree: Tree, values: Values, failed: set[str]
) -> None:
    expression = compile_expression(render(tree))
    truth = expression.truth(values, failed)
    if not failed & expression.names:
        assert truth is expression.evaluate(values)
    if truth is None:
        assert failed & expression.names
        return
    lost = sorted(failed & expression.names)
    for combination in itertools.product(SUBSTITUTES, repeat=len(lost)):
        substituted = {**values, **dict(zip(lost, combination, strict=True))}
        assert expression.evaluate(substituted) is truth, (render(tree), substituted)


def test_a_comparison_with_a_failed_signal_is_unknown_and_logic_decides_around_it() -> None:
    e = compile_expression("a > 1 or (b.c >= 2 and not trajectory.negative.streak)")
    assert e.truth({"b.c": 3, "trajectory.negative.streak": 0}, {"a"}) is True
    assert e.truth({"b.c": 1}, {"a"}) is None
    assert e.truth({"a": 5}, {"b.c"}) is True
    assert e.truth({"a": 0}, {"b.c"}) is None
    assert compile_expression("a > 1 and b.c > 1").truth({"b.c": 0}, {"a"}) is False
    assert compile_expression("0 < a < b.c").truth({"a": -1}, {"b.c"}) is False
