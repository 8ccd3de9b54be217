"""Scores: named, weighted combinations of signals that rules can compare like any signal.

A score is a logistic model written in the policy, readable and editable by a person::

    scores:
      escalation:
        description: fitted on 2,000 labelled chats
        bias: -3.1
        weights:                              # signal: weight (per unit of the signal)
          dialogue.consecutive_fallbacks: 0.9
          sentiment.negative: 2.2
          dialogue.failures: 0.4
        log1p: [dialogue.failures]            # optional: use log(1 + x) instead of x
        clip: {dialogue.failures: [0, 20]}    # optional: bound x to [low, high] first
        fill: {sentiment.negative: 0.3}       # optional: x when the signal is unknown
    rules:
      - id: learned
        when: score.escalation >= 0.62
        then: {action: handoff}

``score.escalation`` is then a signal of this policy, worth

    sigmoid(bias + sum(weight * x))

at every turn, between 0 and 1, where for each weighted signal ``x`` is its value at
that turn — the ``fill`` value when it is unknown (default 0: no fallbacks, no
negativity), then clipped to ``clip``, then ``log(1 + x)`` when listed in ``log1p``
(after clipping, and only for values above -1; use it for counts). A score is therefore
always known. Weights name catalogue signals only (not other scores); an unknown name is
a load-time problem with its file and line and a did-you-mean, and so is a signal the
engine cannot provide (an affect signal without an affect model).

Scores are computed when a condition that names them is evaluated, from the signal
values the engine passes, so every path that evaluates a rule
(:meth:`~escalate.policy.Policy.evaluate`, the explicit-request guard, margins, replay)
sees them without any change to the engine. The score's own inputs count among the
signals the policy reads (:attr:`~escalate.policy.Policy.signal_names`).
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from escalate.policy.expressions import Comparison, Expression, compile_expression

__all__ = [
    "SCORE_NAME_PATTERN",
    "SCORE_PREFIX",
    "CompiledScore",
    "ScoreSpec",
    "ScoredExpression",
    "bind_scores",
    "check_scores",
    "sigmoid",
]

#: What the ``<name>`` of ``score.<name>`` must look like.
SCORE_NAME_PATTERN = r"^[a-z][a-z0-9_]*$"
#: Scores are named ``score.<name>`` in conditions.
SCORE_PREFIX = "score."
#: At most this many weighted signals per score.
MAX_WEIGHTS = 200

Values = Mapping[str, float | None]
_NAME_RE = re.compile(SCORE_NAME_PATTERN)
_Finite = Annotated[float, Field(allow_inf_nan=False)]
_KEYS = ("description", "bias", "weights", "log1p", "clip", "fill")


def _problem(message: str) -> PydanticCustomError:
    return PydanticCustomError("policy", message)


def sigmoid(z: float) -> float:
    """The logistic function, without overflow.

    Examples
    --------
    >>> sigmoid(0.0), round(sigmoid(2.0), 4), sigmoid(-1000.0)
    (0.5, 0.8808, 0.0)
    """
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


class ScoreSpec(BaseModel):
    """One entry of the ``scores:`` section.

    ``description``
        Free text: what the score was fitted on, and when.
    ``bias``
        The intercept (a number).
    ``weights``
        At least one ``signal: weight`` pair.
    ``log1p``
        Signals whose ``log(1 + x)`` is weighted instead of ``x`` (counts).
    ``clip``
        ``signal: [low, high]``: bound the value first.
    ``fill``
        ``signal: value``: the value used when the signal is unknown (default 0).

    ``log1p``, ``clip`` and ``fill`` may only name weighted signals (the loader checks).

    Examples
    --------
    >>> s = ScoreSpec(bias=-1.0, weights={"dialogue.fallbacks": 0.5})
    >>> s.fill, s.log1p
    ({}, [])
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    description: str | None = None
    bias: float = Field(allow_inf_nan=False)
    weights: dict[str, _Finite] = Field(min_length=1, max_length=MAX_WEIGHTS)
    log1p: list[str] = Field(default_factory=list)
    clip: dict[str, tuple[float, float]] = Field(default_factory=dict)
    fill: dict[str, _Finite] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in data:
                if isinstance(key, str) and key not in _KEYS:
                    close = difflib.get_close_matches(key, _KEYS, n=1, cutoff=0.6)
                    hint = f" (did you mean '{close[0]}'?)" if close else ""
                    raise _problem(
                        f"unknown key {key!r} in a score{hint}; expected {', '.join(_KEYS)}"
                    )
        return data

    @field_validator("clip")
    @classmethod
    def _ordered(cls, value: dict[str, tuple[float, float]]) -> dict[str, tuple[float, float]]:
        for name, (low, high) in value.items():
            if not (math.isfinite(low) and math.isfinite(high)) or low > high:
                raise _problem(
                    f"expected [low, high] with finite low <= high for {name!r}; "
                    f"got [{low!r}, {high!r}]"
                )
        return value


@dataclass(frozen=True, slots=True)
class CompiledScore:
    """A score ready to compute: ``sigmoid(bias + sum(weight * x))``.

    Attributes
    ----------
    name:
        The score's name; conditions read it as :attr:`signal`.
    bias:
        The intercept.
    terms:
        ``(signal, weight, fill, low, high, log1p)`` per weighted signal, in file order
        (``low``/``high`` are ``-inf``/``inf`` without a clip).
    description:
        The score's description.

    Examples
    --------
    >>> s = CompiledScore.from_spec("risk", ScoreSpec(bias=-2.0,
    ...     weights={"dialogue.fallbacks": 1.0, "sentiment.negative": 2.0}))
    >>> round(s.compute({"dialogue.fallbacks": 2, "sentiment.negative": 0.5}), 4)
    0.7311
    >>> s.signal, s.inputs
    ('score.risk', ('dialogue.fallbacks', 'sentiment.negative'))
    """

    name: str
    bias: float
    terms: tuple[tuple[str, float, float, float, float, bool], ...]
    description: str | None = None

    @classmethod
    def from_spec(cls, name: str, spec: ScoreSpec) -> CompiledScore:
        """Compile one validated :class:`ScoreSpec`."""
        terms = []
        for signal, weight in spec.weights.items():
            low, high = spec.clip.get(signal, (-math.inf, math.inf))
            terms.append(
                (signal, weight, spec.fill.get(signal, 0.0), low, high, signal in spec.log1p)
            )
        return cls(name, spec.bias, tuple(terms), spec.description)

    @property
    def signal(self) -> str:
        """The name conditions use: ``score.<name>``."""
        return SCORE_PREFIX + self.name

    @property
    def inputs(self) -> tuple[str, ...]:
        """The signals the score reads."""
        return tuple(t[0] for t in self.terms)

    def logit(self, values: Values) -> float:
        """``bias + sum(weight * x)``, before the sigmoid."""
        z = self.bias
        for signal, weight, fill, low, high, log in self.terms:
            x = values.get(signal)
            if x is None or x != x:  # unknown or NaN
                x = fill
            x = min(max(float(x), low), high)
            if log:
                x = math.log1p(x) if x > -1.0 else 0.0
            z += weight * x
        return z

    def compute(self, values: Values) -> float:
        """The score, between 0 and 1."""
        return sigmoid(self.logit(values))


class ScoredExpression(Expression):
    """A condition that names scores: computes them from the given values first.

    Built by :func:`bind_scores`; behaves exactly like the condition it wraps, except
    that ``score.<name>`` values are computed from the other signals at every call (a
    ``score.<name>`` value passed in is replaced). :attr:`names` lists the scores'
    inputs in place of the scores.

    Examples
    --------
    >>> from escalate.policy.expressions import compile_expression
    >>> s = CompiledScore.from_spec("risk", ScoreSpec(bias=0.0, weights={"dialogue.fallbacks": 1.0}))
    >>> e = bind_scores(compile_expression("score.risk >= 0.7"), {"risk": s})
    >>> e.evaluate({"dialogue.fallbacks": 1}), e.evaluate({"dialogue.fallbacks": 0})
    (True, False)
    >>> sorted(e.names)
    ['dialogue.fallbacks']
    """

    __slots__ = ("_scores",)

    _scores: tuple[CompiledScore, ...]

    def __init__(self, inner: Expression, scores: tuple[CompiledScore, ...]) -> None:
        names = {n for n in inner.names if not n.startswith(SCORE_PREFIX)}
        for score in scores:
            names.update(score.inputs)
        super().__init__(inner.source, inner._root, frozenset(names))
        object.__setattr__(self, "_scores", scores)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebind, (self.source, self._scores))

    @property
    def scores(self) -> tuple[CompiledScore, ...]:
        """The scores this condition reads."""
        return self._scores

    def with_scores(self, values: Values) -> dict[str, float | None]:
        """``values`` with this condition's scores added."""
        out = dict(values)
        for score in self._scores:
            out[score.signal] = score.compute(values)
        return out

    def evaluate(self, values: Values) -> bool:
        """Whether the condition holds (see :meth:`Expression.evaluate`)."""
        return self._fn(self.with_scores(values))

    def truth(self, values: Values, failed: Collection[str] = ()) -> bool | None:
        """See :meth:`Expression.truth`; a score that reads a failed signal is failed."""
        if not any(n in failed for n in self.names):
            return self.evaluate(values)
        lost = {s.signal for s in self._scores if any(n in failed for n in s.inputs)}
        return self._root.truth(self.with_scores(values), {*failed, *lost})

    def explain(self, values: Values) -> list[Comparison]:
        """See :meth:`Expression.explain`; scores report their computed value."""
        return super().explain(self.with_scores(values))

    def margin(self, values: Values) -> float | None:
        """See :meth:`Expression.margin`."""
        return super().margin(self.with_scores(values))


def _rebind(source: str, scores: tuple[CompiledScore, ...]) -> ScoredExpression:
    """A pickled :class:`ScoredExpression` compiled again."""
    return ScoredExpression(compile_expression(source), scores)


def bind_scores(expression: Expression, scores: Mapping[str, CompiledScore]) -> Expression:
    """The expression itself when it names no score, else a :class:`ScoredExpression`.

    Score names it reads that are not in ``scores`` are left alone (unknown).
    """
    used = tuple(
        scores[n[len(SCORE_PREFIX) :]]
        for n in sorted(expression.names)
        if n.startswith(SCORE_PREFIX) and n[len(SCORE_PREFIX) :] in scores
    )
    if not used:
        return expression
    return ScoredExpression(expression, used)


def _did_you_mean(name: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


Path_ = tuple[str | int, ...]


def check_scores(
    raw: Any,
    known: Collection[str],
    problem: Callable[[Path_, str], None],
    *,
    affect: bool = True,
    history: bool = True,
) -> tuple[set[str], dict[str, CompiledScore]]:
    """Check the raw ``scores:`` section and compile every valid score.

    Returns the score signal names the section declares (``score.<name>``, valid or
    not, so that rules naming a broken score are not reported twice) and the compiled
    scores by name. Problems of names go to ``problem(path, message)``: a malformed
    score name, a weight, ``log1p``, ``clip`` or ``fill`` naming an unknown signal (with a
    did-you-mean) or another score, and a weighted signal the engine cannot provide (an
    affect signal when ``affect`` is false, a history signal when ``history`` is false).
    Problems of values (a weight that is not a number) are the schema's to report.
    """
    from escalate.signals.catalog import requires_affect, requires_history

    def unavailable(signal: str) -> str | None:
        if not affect and requires_affect(signal):
            return (
                f"weighs the affect signal {signal!r}, but the engine has no affect model "
                "configured; configure an affect model or weigh only dialogue.* signals"
            )
        if not history and requires_history(signal):
            return (
                f"weighs the history signal {signal!r}, but the engine has no history store "
                "configured; configure one or remove the history.* weights"
            )
        return None

    declared: set[str] = set()
    compiled: dict[str, CompiledScore] = {}
    if not isinstance(raw, dict):
        return declared, compiled
    for name, body in raw.items():
        path: Path_ = ("scores", name)
        if not isinstance(name, str) or not _NAME_RE.match(name):
            problem(
                path,
                "expected a score name of lowercase letters, digits and '_' that starts "
                f"with a letter; got {name!r}",
            )
            continue
        declared.add(SCORE_PREFIX + name)
        if not isinstance(body, dict):
            continue
        ok = True
        for section in ("weights", "clip", "fill", "log1p"):
            entries = body.get(section)
            items = (
                entries
                if isinstance(entries, list)
                else list(entries or {})
                if isinstance(entries, dict)
                else []
            )
            for i, signal in enumerate(items):
                where: Path_ = (*path, section, i if isinstance(entries, list) else signal)
                if not isinstance(signal, str):
                    continue
                if signal.startswith(SCORE_PREFIX):
                    problem(where, f"a score cannot weigh another score; got {signal!r}")
                    ok = False
                elif section != "weights" and signal not in (body.get("weights") or {}):
                    problem(
                        where,
                        f"{section} names {signal!r}, which has no weight in this score; "
                        "add it to 'weights' or remove it",
                    )
                    ok = False
                elif signal not in known:
                    problem(where, f"unknown signal {signal!r}{_did_you_mean(signal, known)}")
                    ok = False
                elif section == "weights" and (message := unavailable(signal)) is not None:
                    problem(where, message)
                    ok = False
        if not ok:
            continue
        try:
            spec = ScoreSpec.model_validate(body)
        except Exception:
            continue  # reported by the schema
        compiled[name] = CompiledScore.from_spec(name, spec)
    return declared, compiled
