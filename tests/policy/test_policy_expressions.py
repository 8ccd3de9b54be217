"""The expression language: each construct, missing values, explain, margin, rejections."""

from __future__ import annotations

import math
import warnings

import pytest

import escalate.policy
from escalate.policy.expressions import (
    MAX_EXPRESSION_CHARS,
    Comparison,
    Expression,
    ExpressionError,
    compile_expression,
)
from escalate.signals.catalog import CATALOG

KNOWN = sorted(CATALOG)


def ev(text: str, **values: float | None) -> bool:
    return compile_expression(text).evaluate(values)


# --- constructs ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("a >= 3", {"a": 3}, True),
        ("a >= 3", {"a": 2.9}, False),
        ("a > 3", {"a": 3}, False),
        ("a < 3", {"a": 2}, True),
        ("a <= 3", {"a": 3}, True),
        ("a == 3", {"a": 3.0}, True),
        ("a != 3", {"a": 3}, False),
        ("a != 3", {"a": 4}, True),
        ("a > 1 and b > 1", {"a": 2, "b": 2}, True),
        ("a > 1 and b > 1", {"a": 2, "b": 0}, False),
        ("a > 1 or b > 1", {"a": 0, "b": 2}, True),
        ("a > 1 or b > 1", {"a": 0, "b": 0}, False),
        ("not a > 1", {"a": 0}, True),
        ("not (a > 1 or b > 1)", {"a": 0, "b": 0}, True),
        ("(a > 1 or b > 1) and c > 1", {"a": 2, "c": 2}, True),
        ("a > 1 or b > 1 and c > 1", {"a": 2}, True),  # and binds tighter than or
        ("0.2 <= a < 0.8", {"a": 0.5}, True),
        ("0.2 <= a < 0.8", {"a": 0.8}, False),
        ("1 < a < b < 10", {"a": 2, "b": 3}, True),
        ("1 < a < b < 10", {"a": 3, "b": 2}, False),
        ("a + b >= 3", {"a": 1, "b": 2}, True),
        ("a - b > 0", {"a": 1, "b": 2}, False),
        ("a * 2 == 6", {"a": 3}, True),
        ("a / 2 == 1.5", {"a": 3}, True),
        ("-a < 0", {"a": 1}, True),
        ("+a > 0", {"a": 1}, True),
        ("- -a > 0", {"a": 1}, True),
        ("min(a, b) >= 2", {"a": 2, "b": 3}, True),
        ("max(a, b, c) >= 5", {"a": 2, "b": 3, "c": 5}, True),
        ("abs(a) > 1", {"a": -2}, True),
        ("a", {"a": 0.3}, True),
        ("a", {"a": 0}, False),
        ("not a", {"a": 0}, True),
        ("true", {}, True),
        ("false", {}, False),
        ("True and not False", {}, True),
        ("a == true", {"a": 1}, True),
        ("1e-3 < a", {"a": 0.01}, True),
        ("1_000 <= a", {"a": 1000}, True),
        ("dialogue.consecutive_fallbacks >= 2", {"dialogue.consecutive_fallbacks": 2}, True),
        ("trajectory.negative.streak >= 3", {"trajectory.negative.streak": 3}, True),
        ("(sentiment . negative) > 0.5", {"sentiment.negative": 0.6}, True),
    ],
)
def test_constructs(text: str, values: dict[str, float | None], expected: bool) -> None:
    assert compile_expression(text).evaluate(values) is expected


def test_line_breaks_read_as_spaces() -> None:
    text = "a >= 1\n  or b >= 1\r\n"
    assert compile_expression(text).evaluate({"b": 2})
    assert compile_expression(text).source == text


def test_leading_whitespace_is_fine() -> None:
    assert ev("   a > 1", a=2)


# --- missing values ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("x > 1", False),
        ("x < 1", False),
        ("x == 0", False),
        ("x != 0", False),
        ("not x > 1", True),
        ("not x", True),
        ("x", False),
        ("x + 1 > 0", False),
        ("-x < 0", False),
        ("min(x, 1) < 5", False),
        ("abs(x) >= 0", False),
        ("0 <= x <= 10", False),
        ("x > 1 or y > 1", True),
        ("x > 1 and y > 1", False),
        ("not (x > 1 and y > 1)", True),
    ],
)
def test_unknown_values(text: str, expected: bool) -> None:
    # x is None, y is absent except where set
    assert compile_expression(text).evaluate({"x": None, "y": 2}) is expected


def test_absent_and_none_are_alike() -> None:
    e = compile_expression("x >= 1 or not x")
    assert e.evaluate({}) == e.evaluate({"x": None}) is True


def test_nan_counts_as_unknown() -> None:
    assert not ev("x > 0", x=math.nan)
    assert not ev("x", x=math.nan)
    assert ev("not x", x=math.nan)


@pytest.mark.parametrize("text", ["a / 0 > 0", "a / 0 < 0", "a / 0 == 0", "a / b >= 0"])
def test_division_by_zero_is_unknown(text: str) -> None:
    assert not compile_expression(text).evaluate({"a": 1, "b": 0})
    assert compile_expression(f"not ({text})").evaluate({"a": 1, "b": 0})


def test_constant_division_by_zero_is_unknown() -> None:
    assert not ev("a > 1 / 0", a=5)
    assert not ev("1 / 0")


def test_infinities_do_not_raise() -> None:
    assert ev("a > 1e308 * 10", a=math.inf) is False  # inf > inf
    assert ev("a - a > 0", a=math.inf) is False  # nan is unknown
    assert ev("a * 0 == 0", a=math.inf) is False


# --- names and immutability ------------------------------------------------------------------


def test_names_and_source() -> None:
    e = compile_expression("max(a.b, c) > 1 and not d or true")
    assert e.names == frozenset({"a.b", "c", "d"})
    assert e.source == "max(a.b, c) > 1 and not d or true"
    assert repr(e) == "Expression('max(a.b, c) > 1 and not d or true')"


def test_true_false_are_not_signal_names() -> None:
    assert compile_expression("true or false", known=[]).names == frozenset()


def test_expression_is_immutable() -> None:
    e = compile_expression("a > 1")
    with pytest.raises(AttributeError):
        e.source = "b > 1"
    with pytest.raises(AttributeError):
        del e.names


def test_equality_and_hash_by_source() -> None:
    assert compile_expression("a > 1") == compile_expression("a > 1")
    assert compile_expression("a > 1") != compile_expression("a > 2")
    assert len({compile_expression("a > 1"), compile_expression("a > 1")}) == 1


def test_evaluate_returns_bool() -> None:
    for text in ["a", "a + 1", "a > 1", "a and b", "not a", "true", "3"]:
        assert type(compile_expression(text).evaluate({"a": 2, "b": 3})) is bool


@pytest.mark.parametrize(
    ("text", "always"),
    [
        ("true", True),
        ("false", False),
        ("1 < 2", True),
        ("2 < 1", False),
        ("a > 1 or true", True),
        ("a > 1 and false", False),
        ("not false", True),
        ("a > 1", None),
        ("a > 1 and true", None),
        ("1 / 0 > 1", False),
        ("min(1, 2) == 1", True),
    ],
)
def test_always(text: str, always: bool | None) -> None:
    assert compile_expression(text).always is always


def test_not_exported_from_the_package() -> None:
    assert "ExpressionError" not in escalate.policy.__all__
    assert issubclass(ExpressionError, ValueError)


# --- explain ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("a >= 3", {"a": 4}, [Comparison("a", ">=", 3, 4)]),
        ("3 <= a", {"a": 4}, [Comparison("a", ">=", 3, 4)]),
        ("0.5 > a", {"a": 0.1}, [Comparison("a", "<", 0.5, 0.1)]),
        ("a >= 3", {"a": 1}, []),
        (
            "a >= 3 and b < 1",
            {"a": 4, "b": 0},
            [Comparison("a", ">=", 3, 4), Comparison("b", "<", 1, 0)],
        ),
        ("a >= 3 or b < 1", {"a": 4, "b": 5}, [Comparison("a", ">=", 3, 4)]),
        (
            "a >= 3 or b < 1",
            {"a": 4, "b": 0},
            [Comparison("a", ">=", 3, 4), Comparison("b", "<", 1, 0)],
        ),
        ("a", {"a": 0.5}, [Comparison("a", "!=", 0, 0.5)]),
        ("not a", {"a": 0}, [Comparison("a", "==", 0, 0)]),
        ("not a > 3", {"a": 2}, [Comparison("a", "<=", 3, 2)]),
        ("not a > 3", {}, [Comparison("a", "<=", 3, None)]),
        (
            "not (a > 3 and b > 3)",
            {"a": 5, "b": 1},
            [Comparison("b", "<=", 3, 1)],
        ),
        (
            "not (a > 3 or b > 3)",
            {"a": 1, "b": 1},
            [Comparison("a", "<=", 3, 1), Comparison("b", "<=", 3, 1)],
        ),
        (
            "1 <= a < 3",
            {"a": 2},
            [Comparison("a", ">=", 1, 2), Comparison("a", "<", 3, 2)],
        ),
        ("a > b", {"a": 2, "b": 1}, [Comparison("a", ">", 1, 2)]),
        ("a + b >= 3", {"a": 2, "b": 1}, [Comparison("a + b", ">=", 3, 3)]),
        ("min(a, b) > 0", {"a": 2, "b": 1}, [Comparison("min(a, b)", ">", 0, 1)]),
        ("a > -1", {"a": 0}, [Comparison("a", ">", -1, 0)]),
        ("true", {}, []),
        ("a > 1 and true", {"a": 2}, [Comparison("a", ">", 1, 2)]),
    ],
)
def test_explain(text: str, values: dict[str, float | None], expected: list[Comparison]) -> None:
    assert compile_expression(text).explain(values) == expected


def test_comparison_str() -> None:
    assert str(Comparison("a", ">=", 3.0, 4.5)) == "a=4.5 >= 3"
    assert str(Comparison("a", "<=", 3.0, None)) == "a=none <= 3"


# --- margin ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("a >= 3", {"a": 6}, 1.0),  # (6 - 3) / 3
        ("a >= 3", {"a": 0}, -1.0),
        ("a > 0.5", {"a": 0.7}, 0.2),  # scale is max(|t|, 1) = 1
        ("a <= 2", {"a": 1}, 0.5),
        ("a < 2", {"a": 3}, -0.5),
        ("3 <= a", {"a": 6}, 1.0),
        ("a == 2", {"a": 3}, -0.5),
        ("a != 2", {"a": 3}, 0.5),
        ("a >= 3 and b >= 3", {"a": 6, "b": 3}, 0.0),
        ("a >= 3 or b >= 3", {"a": 6, "b": 0}, 1.0),
        ("a >= 3 or b >= 3", {"a": 6}, 1.0),
        ("not a >= 3", {"a": 6}, -1.0),
        ("a", {"a": 0.4}, 0.4),
        ("not a", {"a": 0.4}, -0.4),
        ("true", {}, math.inf),
        ("false", {}, -math.inf),
        ("a >= 3", {}, None),
        ("a >= 3 and b >= 3", {"a": 6}, None),
        ("a >= 3 or b >= 3", {}, None),
        ("a / b > 1", {"a": 1, "b": 0}, None),
        ("1 < a < 5", {"a": 2}, 0.6),  # min(2 - 1, (5 - 2) / 5)
    ],
)
def test_margin(text: str, values: dict[str, float | None], expected: float | None) -> None:
    got = compile_expression(text).margin(values)
    if expected is None:
        assert got is None
    else:
        assert got == pytest.approx(expected)


# --- rejections ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "empty"),
        ("   \n ", "empty"),
        ("a >", "invalid syntax"),
        ("(a > 1", "never closed"),
        ("a && b", "use 'and'"),
        ("a || b", "use 'or'"),
        ("!a", "use 'not'"),
        ("a = 3", "use '=='"),
        ("foo(a)", "function calls other than min/max/abs are not allowed"),
        ("a.b(1)", "function calls other than min/max/abs are not allowed"),
        ("__import__('os')", "function calls other than min/max/abs are not allowed"),
        ("min(a)", "at least two arguments"),
        ("abs(a, b)", "exactly one argument"),
        ("min(a, key=b)", "keyword arguments"),
        ("max(*a)", "unpacking"),
        ("'a' > 1", "strings are not allowed"),
        ("a == b'x'", "strings are not allowed"),
        ("f'{a}'", "strings are not allowed"),
        ("(a + 1).b > 1", "attribute access on a non-name"),
        ("a[0] > 1", "indexing"),
        ("[a] > 1", "lists are not allowed"),
        ("(a, b)", "tuples are not allowed"),
        ("{a: 1}", "dicts are not allowed"),
        ("{a}", "sets are not allowed"),
        ("[x for x in a]", "comprehensions are not allowed"),
        ("lambda: 1", "lambda is not allowed"),
        ("a if b else c", "conditional expressions"),
        ("(a := 1)", "assignment"),
        ("a ** 2 > 1", "'**' is not allowed"),
        ("a % 2 > 1", "'%' is not allowed"),
        ("a // 2 > 1", "'//' is not allowed"),
        ("a & b", "'&' is not allowed"),
        ("~a", "'~' is not allowed"),
        ("a is None", "'is' is not allowed"),
        ("a in b", "'in' is not allowed"),
        ("a not in b", "'not in' is not allowed"),
        ("a == None", "None is not allowed"),
        ("a > 1j", "complex numbers"),
        ("a > ...", "is not allowed"),
        ("(a > 1) + 1 > 0", "cannot be used as a number"),
        ("(a and b) > 1", "cannot be used as a number"),
        ("min(a > 1, b)", "cannot be used as a number"),
        ("-(not a)", "cannot be used as a number"),
        ("a > " + "9" * 400, "too large"),
        ("a\x00 > 1", "null character"),
        ("a " * 1500, "too long"),
        ("-" * 150 + "a", "nested too deeply"),
        ("a" + " + a" * 150 + " > 1", "nested too deeply"),
        ("not " * 400 + "a", "nested too deeply"),
        ("(" * 300 + "a" + ")" * 300, "invalid syntax"),
        ("yield a", "invalid syntax"),
        ("await a", "await is not allowed"),
    ],
)
def test_rejections(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(text)
    assert fragment in info.value.message


def test_too_long_limit_is_exact() -> None:
    ok = "a > 1 " + " " * (MAX_EXPRESSION_CHARS - 6)
    assert len(ok) == MAX_EXPRESSION_CHARS
    compile_expression(ok)
    with pytest.raises(ExpressionError, match="too long"):
        compile_expression(ok + " ")


def test_non_text_is_rejected() -> None:
    with pytest.raises(ExpressionError, match="expected the expression as text"):
        compile_expression(3)  # type: ignore[arg-type]


def test_unknown_names_all_listed_with_did_you_mean() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression(
            "dialogue.consecutive_fallback >= 2 or human_reqest > 0.5 or zzz", known=KNOWN
        )
    message = info.value.message
    assert message.startswith("unknown signals ")
    assert "'dialogue.consecutive_fallback' (did you mean 'dialogue.consecutive_fallbacks'?)" in (
        message
    )
    assert "'human_reqest' (did you mean 'human_request'?)" in message
    assert "'zzz'" in message and "'zzz' (did" not in message
    assert info.value.column == 1


def test_unknown_name_singular_and_column() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("human_request > 0.5 or sentiment.negativ > 0.5", known=KNOWN)
    assert info.value.message == (
        "unknown signal 'sentiment.negativ' (did you mean 'sentiment.negative'?)"
    )
    assert info.value.column == 24
    assert str(info.value).endswith("(column 24)")


def test_columns_count_characters_not_bytes() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("a > 1 or 'é' > 1")
    assert info.value.column == 10
    with pytest.raises(ExpressionError) as info:
        compile_expression("é == 1 or foo(1)")
    assert info.value.column == 11


def test_column_counts_leading_whitespace() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_expression("  foo(1)")
    assert info.value.column == 3


def test_known_names_pass() -> None:
    e = compile_expression("dialogue.asked_for_human or human_request >= 0.8", known=KNOWN)
    assert e.names == {"dialogue.asked_for_human", "human_request"}


def test_parse_warnings_are_silenced() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for text in ["'\\d' > 1", "1 is 1", "a(1)(2)", "(1)(2)"]:
            with pytest.raises(ExpressionError):
                compile_expression(text)
    assert caught == []


def test_expression_type_is_public() -> None:
    assert isinstance(compile_expression("a"), Expression)
