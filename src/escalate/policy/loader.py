"""Load a policy from YAML, check everything at once and compile it.

Every problem in a policy is collected and raised together in one
:class:`~escalate.errors.PolicyError`, each with its file name, line and
``path -> to -> key`` (list items are counted from 0). A policy that loads is fully
compiled: evaluating it never parses anything, so a bad policy fails at start-up, never
mid-conversation.

YAML is read safely and a little more strictly than PyYAML does by default: a key
repeated in one mapping is a problem (PyYAML silently keeps the last), tags other than
YAML's plain ones (``!!python/...``) are refused, mapping keys are kept exactly as
written, and only ``true``/``false`` are booleans (``yes``, ``no``, ``on`` and ``off``
stay text, so ``id: off`` is the id ``"off"``). Anchors, aliases and ``<<`` merge keys
work; top-level keys starting with ``x-`` are ignored, as a place for shared anchors.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ValidationError

from escalate._resources import shipped_dir
from escalate.errors import PolicyError, PolicyProblem
from escalate.models import Action, Priority, Reason
from escalate.policy.expressions import Expression, ExpressionError, compile_expression
from escalate.policy.schema import Costs, Guards, PacketConfig, PolicyDocument
from escalate.policy.scores import bind_scores, check_scores
from escalate.policy.shadowing import implies
from escalate.signals.catalog import CATALOG, requires_affect, requires_history
from escalate.signals.dialogue import DialogueConfig
from escalate.signals.trajectory import TrajectoryConfig

__all__ = [
    "MAX_POLICY_BYTES",
    "CompiledRule",
    "Policy",
    "RuleMatch",
    "load_policy",
    "parse_policy",
    "shipped_policies",
]

#: Largest policy file accepted.
MAX_POLICY_BYTES = 1_000_000
_MAX_NODES = 100_000
_MAX_YAML_DEPTH = 64
_MERGE_TAG = "tag:yaml.org,2002:merge"
_BOOL_TAG = "tag:yaml.org,2002:bool"
_PLAIN_TAGS = frozenset(
    f"tag:yaml.org,2002:{t}"
    for t in ("str", "int", "float", "bool", "null", "timestamp", "seq", "map", "merge")
)

Path_ = tuple[str | int, ...]
Values = Mapping[str, float | None]


# --------------------------------------------------------------------------------------
# Compiled policy
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CompiledRule:
    """A rule ready to evaluate.

    Attributes
    ----------
    id:
        The rule id (``"explicit_request"`` for the explicit-request guard).
    description:
        The rule's description, if any.
    expression:
        The compiled ``when``.
    action, queue, priority:
        The rule's ``then`` (``queue`` already falls back to the ``default_queue``).
    line:
        The line of the rule in its file, when known.
    on:
        The turns the rule applies to: ``user``, ``bot`` or ``any``.

    Examples
    --------
    >>> p = parse_policy('''
    ... version: 1
    ... rules:
    ...   - id: stuck
    ...     when: dialogue.consecutive_fallbacks >= 2
    ...     then: {action: offer_human}
    ... ''')
    >>> p.rules[0].id, p.rules[0].action, p.rules[0].line
    ('stuck', 'offer_human', 4)
    """

    id: str
    description: str | None
    expression: Expression
    action: Action
    queue: str | None
    priority: Priority
    line: int | None = None
    on: Literal["user", "bot", "any"] = "user"

    def applies_to(self, role: Literal["user", "bot"]) -> bool:
        """True when the rule is evaluated on turns of ``role``."""
        return self.on == "any" or self.on == role

    def match(self, values: Values) -> RuleMatch | None:
        """A :class:`RuleMatch` when the rule's condition holds, else ``None``."""
        if not self.expression.evaluate(values):
            return None
        return self._matched(values)

    def _matched(self, values: Values) -> RuleMatch:
        held = self.expression.explain(values)
        if held:
            reasons = [
                Reason(
                    code=self.id,
                    signal=c.signal,
                    op=c.op,
                    threshold=c.threshold,
                    value=c.value,
                )
                for c in held
            ]
        else:
            reasons = [Reason(code=self.id, detail="condition always holds")]
        return RuleMatch(self.id, self.action, self.queue, self.priority, reasons)


@dataclass(frozen=True, slots=True)
class RuleMatch:
    """The rule that matched and why.

    ``reasons`` holds one :class:`~escalate.models.Reason` per comparison that held,
    with ``code`` set to the rule id.

    Examples
    --------
    >>> p = parse_policy('''
    ... version: 1
    ... rules:
    ...   - id: asked
    ...     when: human_request >= 0.8
    ...     then: {action: handoff, queue: general, priority: high}
    ... ''')
    >>> m = p.evaluate({"human_request": 0.93})
    >>> m.rule, m.action, str(m.reasons[0])
    ('asked', 'handoff', 'asked: human_request=0.93 >= 0.8')
    """

    rule: str
    action: Action
    queue: str | None
    priority: Priority
    reasons: list[Reason]


class Policy:
    """A validated, compiled policy.

    Build one with :func:`load_policy` or :func:`parse_policy`. Immutable.

    Attributes
    ----------
    name:
        The document's ``name``, or the file's stem, or ``"policy"``.
    source:
        The file path, or ``"<string>"``.
    spec:
        The validated :class:`~escalate.policy.schema.PolicyDocument`.
    rules:
        The enabled rules, in order (first match wins).
    explicit_request:
        The explicit-request guard as a rule with id ``"explicit_request"``, or ``None``.
    guards, dialogue, trajectory, on_error, packet:
        The document's sections (``packet`` is a
        :class:`~escalate.policy.schema.PacketConfig`).
    costs:
        The document's :class:`~escalate.policy.schema.Costs`, or ``None``.
    signal_names:
        Every signal any condition reads.
    requires_affect:
        True when a condition reads an affect or trajectory signal.
    decide_on:
        The roles of the turns the policy decides on (``{"user"}``, or ``{"user", "bot"}``).
    warnings:
        What is valid but most likely a mistake, as :class:`~escalate.errors.PolicyProblem`
        items: a rule that never decides because an earlier rule holds whenever it does
        (:mod:`escalate.policy.shadowing`). ``escalate check`` prints them.

    Examples
    --------
    >>> p = load_policy("default")
    >>> p.name
    'default'
    >>> p.evaluate({"dialogue.consecutive_fallbacks": 2}).rule
    'bot-stuck'
    >>> p.match_explicit_request({"dialogue.asked_for_human": 1}).action
    'handoff'
    """

    __slots__ = (
        "_checks",
        "costs",
        "decide_on",
        "dialogue",
        "explicit_request",
        "guards",
        "name",
        "on_error",
        "packet",
        "requires_affect",
        "rules",
        "signal_names",
        "source",
        "spec",
        "trajectory",
        "warnings",
    )

    name: str
    source: str
    spec: PolicyDocument
    rules: tuple[CompiledRule, ...]
    explicit_request: CompiledRule | None
    guards: Guards
    dialogue: DialogueConfig
    trajectory: TrajectoryConfig
    on_error: Action
    packet: PacketConfig
    costs: Costs | None
    signal_names: frozenset[str]
    requires_affect: bool
    decide_on: frozenset[str]
    warnings: tuple[PolicyProblem, ...]
    _checks: tuple[tuple[Any, CompiledRule], ...]

    def __init__(
        self,
        spec: PolicyDocument,
        rules: tuple[CompiledRule, ...],
        explicit_request: CompiledRule | None,
        *,
        name: str,
        source: str,
        warnings: tuple[PolicyProblem, ...] = (),
    ) -> None:
        names: set[str] = set()
        for rule in (*rules, *([explicit_request] if explicit_request else [])):
            names |= rule.expression.names
        fields: dict[str, Any] = {
            "name": name,
            "source": source,
            "spec": spec,
            "rules": rules,
            "explicit_request": explicit_request,
            "guards": spec.guards,
            "dialogue": spec.dialogue,
            "trajectory": spec.trajectory,
            "on_error": spec.on_error,
            "packet": spec.packet,
            "costs": spec.costs,
            "signal_names": frozenset(names),
            "requires_affect": any(requires_affect(n) for n in names),
            "decide_on": frozenset(spec.decide_on),
            "warnings": warnings,
            "_checks": tuple((r.expression.evaluate, r) for r in rules if r.applies_to("user")),
        }
        for key, value in fields.items():
            object.__setattr__(self, key, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Policy is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError("Policy is immutable")

    def __repr__(self) -> str:
        return f"Policy(name={self.name!r}, source={self.source!r}, rules={len(self.rules)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # A policy travels as itself (its document and rules, each condition as its text,
        # compiled again on arrival), never as a path to be read again: a variant built
        # in memory reaches a worker process unchanged.
        return (
            _restore_policy,
            (self.spec, self.rules, self.explicit_request, self.name, self.source, self.warnings),
        )

    @property
    def decides_on_bot_turns(self) -> bool:
        """True when the policy also decides on bot turns (``decide_on: [user, bot]``)."""
        return "bot" in self.decide_on

    def evaluate(self, values: Values) -> RuleMatch | None:
        """The first rule for customer turns whose condition holds, or ``None``.

        Guards (explicit request, cooldown, single handoff, business hours) are applied by
        :func:`~escalate.policy.decide.decide`; this only runs the rules.
        """
        for holds, rule in self._checks:
            if holds(values):
                return rule._matched(values)
        return None

    def match_explicit_request(self, values: Values) -> RuleMatch | None:
        """A match of the explicit-request guard (rule id ``"explicit_request"``), if any."""
        if self.explicit_request is None:
            return None
        return self.explicit_request.match(values)

    def margins(
        self, values: Values, role: Literal["user", "bot"] = "user"
    ) -> dict[str, float | None]:
        """Each rule's :meth:`~escalate.policy.expressions.Expression.margin`, by rule id,
        for the rules evaluated on turns of ``role``."""
        return {
            rule.id: rule.expression.margin(values) for rule in self.rules if rule.applies_to(role)
        }


def _restore_policy(
    spec: PolicyDocument,
    rules: tuple[CompiledRule, ...],
    explicit_request: CompiledRule | None,
    name: str,
    source: str,
    warnings: tuple[PolicyProblem, ...] = (),
) -> Policy:
    return Policy(spec, rules, explicit_request, name=name, source=source, warnings=warnings)


# --------------------------------------------------------------------------------------
# Shipped policies and entry points
# --------------------------------------------------------------------------------------


def shipped_policies() -> dict[str, Path]:
    """The policies shipped with escalate, by name (``"default"``, ``"retail"``, ...).

    Examples
    --------
    >>> "default" in shipped_policies()
    True
    """
    try:
        folder = shipped_dir("policies")
    except FileNotFoundError:
        return {}
    return {p.stem: p for p in sorted(folder.glob("*.yaml"))}


def load_policy(path: str | Path, *, affect: bool = True, history: bool = True) -> Policy:
    """Load, validate and compile a policy file.

    Parameters
    ----------
    path:
        A YAML file, or the name of a shipped policy (``"default"``, ``"retail"``,
        ``"financial_services"``, ``"dialogue_only"``) when no such file exists.
    affect:
        Whether the engine has an affect model; when false, a policy that reads an
        affect or trajectory signal is rejected.
    history:
        Whether the engine has a history store; when false, a policy that reads a
        ``history.*`` signal is rejected.

    Raises
    ------
    PolicyError
        Listing every problem found, each with file and line.

    Examples
    --------
    >>> load_policy("dialogue_only", affect=False).requires_affect
    False
    """
    given = Path(path)
    if not given.exists():
        shipped = shipped_policies()
        if isinstance(path, str) and path in shipped:
            given = shipped[path]
        else:
            hint = ""
            if isinstance(path, str) and shipped:
                close = difflib.get_close_matches(path, list(shipped), n=1, cutoff=0.6)
                hint = f" (did you mean the shipped policy '{close[0]}'?)" if close else ""
            names = ", ".join(shipped) or "none"
            raise PolicyError(
                [
                    PolicyProblem(
                        str(path),
                        None,
                        (),
                        "expected a policy file or the name of a shipped policy "
                        f"({names}); no such file{hint}",
                    )
                ]
            ) from None
    source = str(given)
    if given.is_dir():
        raise PolicyError([PolicyProblem(source, None, (), "expected a file; got a directory")])
    try:
        raw = given.read_bytes()
    except OSError as e:
        raise PolicyError(
            [PolicyProblem(source, None, (), f"cannot read the file: {e.strerror or e}")]
        ) from None
    if len(raw) > MAX_POLICY_BYTES:
        raise PolicyError(
            [
                PolicyProblem(
                    source,
                    None,
                    (),
                    f"expected a file of at most {MAX_POLICY_BYTES} bytes; got {len(raw)}",
                )
            ]
        )
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise PolicyError(
            [
                PolicyProblem(
                    source,
                    line,
                    (),
                    f"expected UTF-8 text; got the byte 0x{raw[e.start]:02x} "
                    f"at offset {e.start} ({e.reason})",
                )
            ]
        ) from None
    return _parse(text, source, affect=affect, history=history, default_name=given.stem)


def parse_policy(
    text: str, *, source: str = "<string>", affect: bool = True, history: bool = True
) -> Policy:
    """Validate and compile policy YAML given as text.

    Parameters
    ----------
    text:
        The YAML document.
    source:
        The name reported in problems (a file name, or ``"<string>"``).
    affect, history:
        See :func:`load_policy`.

    Raises
    ------
    PolicyError
        Listing every problem found, each with its line.

    Examples
    --------
    >>> parse_policy("version: 1\\nrules: []")
    Traceback (most recent call last):
    ...
    escalate.errors.PolicyError: invalid policy: 1 problem
      <string>:2: rules: expected at least 1 item; got an empty list
    """
    return _parse(text, source, affect=affect, history=history, default_name=None)


# --------------------------------------------------------------------------------------
# YAML -> (data, line map), with duplicate keys detected
# --------------------------------------------------------------------------------------


class _TooBig(Exception):
    pass


class _Composer:
    def __init__(self, source: str) -> None:
        self.source = source
        self.lines: dict[Path_, int] = {}
        self.problems: list[PolicyProblem] = []
        self.count = 0
        self.constructor = yaml.SafeLoader("")

    def problem(self, line: int | None, path: Path_, message: str) -> None:
        self.problems.append(PolicyProblem(self.source, line, path, message))

    def pairs(self, node: yaml.MappingNode) -> list[tuple[yaml.Node, yaml.Node]]:
        own = [(k, v) for k, v in node.value if k.tag != _MERGE_TAG]
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for k, v in node.value:
            if k.tag != _MERGE_TAG:
                continue
            sources = v.value if isinstance(v, yaml.SequenceNode) else [v]
            for src in sources:
                if isinstance(src, yaml.MappingNode):
                    merged.extend(self.pairs(src))
                else:
                    self.problem(
                        _line(src), (), "expected a mapping (or a list of mappings) after '<<'"
                    )
        taken = {k.value for k, _ in own if isinstance(k, yaml.ScalarNode)}
        extra: list[tuple[yaml.Node, yaml.Node]] = []
        for k, v in merged:
            if isinstance(k, yaml.ScalarNode) and k.value not in taken:
                taken.add(k.value)
                extra.append((k, v))
        return own + extra

    def walk(self, node: yaml.Node, path: Path_, depth: int) -> Any:
        self.count += 1
        if depth > _MAX_YAML_DEPTH or self.count > _MAX_NODES:
            raise _TooBig
        self.lines.setdefault(path, _line(node))
        if node.tag not in _PLAIN_TAGS:
            shown = node.tag.replace("tag:yaml.org,2002:", "!!")
            self.problem(_line(node), path, f"expected plain YAML; got the tag {shown!r}")
            return None
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            first: dict[str, int] = {}
            for key_node, value_node in self.pairs(node):
                if not isinstance(key_node, yaml.ScalarNode):
                    self.problem(
                        _line(key_node), path, "expected a plain key; got a list or mapping"
                    )
                    continue
                key = key_node.value
                if key in first:
                    self.problem(
                        _line(key_node),
                        (*path, key),
                        f"duplicate key (first at line {first[key]}); "
                        "each key may appear once in a mapping",
                    )
                    continue
                first[key] = _line(key_node)
                self.lines[(*path, key)] = _line(key_node)
                out[key] = self.walk(value_node, (*path, key), depth + 1)
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.walk(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        if node.tag == _BOOL_TAG and node.value.lower() not in ("true", "false"):
            return node.value  # yes/no/on/off stay text; only true and false are booleans
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception as e:
            reason = getattr(e, "problem", None) or str(e) or type(e).__name__
            self.problem(_line(node), path, f"cannot read the value {node.value!r}: {reason}")
            return node.value


def _line(node: yaml.Node) -> int:
    return int(node.start_mark.line) + 1


def _compose(text: str, source: str) -> tuple[Any, dict[Path_, int], list[PolicyProblem]]:
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = int(mark.line) + 1 if mark is not None else None
        what = e.problem or "invalid YAML"
        context = f" ({e.context})" if e.context else ""
        return None, {}, [PolicyProblem(source, line, (), f"invalid YAML: {what}{context}")]
    except yaml.YAMLError as e:
        return None, {}, [PolicyProblem(source, None, (), f"invalid YAML: {e}")]
    except RecursionError:
        return None, {}, [PolicyProblem(source, None, (), "invalid YAML: nested too deeply")]
    if root is None or (isinstance(root, yaml.ScalarNode) and root.value == ""):
        return (
            None,
            {},
            [
                PolicyProblem(
                    source,
                    None,
                    (),
                    "the policy is empty; expected a mapping with at least 'version' and 'rules'",
                )
            ],
        )
    composer = _Composer(source)
    try:
        data = composer.walk(root, (), 0)
    except (_TooBig, RecursionError):
        return (
            None,
            {},
            [
                PolicyProblem(
                    source,
                    None,
                    (),
                    f"the document is too large or nested too deeply (over {_MAX_YAML_DEPTH} "
                    f"levels or {_MAX_NODES} values, counting aliases)",
                )
            ],
        )
    return data, composer.lines, composer.problems


# --------------------------------------------------------------------------------------
# Pydantic errors -> "what was expected, what was found"
# --------------------------------------------------------------------------------------

_EXPECTED: dict[str, str] = {
    "int_type": "expected a whole number",
    "int_parsing": "expected a whole number",
    "int_from_float": "expected a whole number",
    "float_type": "expected a number",
    "float_parsing": "expected a number",
    "finite_number": "expected a finite number",
    "bool_type": "expected true or false",
    "bool_parsing": "expected true or false",
    "string_type": "expected text",
    "list_type": "expected a list",
    "model_type": "expected a mapping",
    "model_attributes_type": "expected a mapping",
    "dict_type": "expected a mapping",
    "date_type": "expected a date such as 2026-12-25",
    "date_parsing": "expected a date such as 2026-12-25",
    "date_from_datetime_parsing": "expected a date such as 2026-12-25",
    "date_from_datetime_inexact": "expected a date such as 2026-12-25",
    "missing": "",
}


def _got(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "an empty list" if not value else "a list"
    if value is None:
        return "nothing (null)"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _annotation_model(annotation: Any) -> Any:
    """Unwrap ``X | None`` and ``list[X]`` down to X."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _annotation_model(args[0]) if len(args) == 1 else None
    if origin is list:
        return _annotation_model(typing.get_args(annotation)[0])
    return annotation


def _model_at(loc: Path_) -> type[BaseModel] | None:
    current: Any = PolicyDocument
    for part in loc:
        if isinstance(part, int):
            continue
        if not (isinstance(current, type) and issubclass(current, BaseModel)):
            return None
        field = current.model_fields.get(part)
        if field is None:
            return None
        current = _annotation_model(field.annotation)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return current
    return None


def _suggest(value: Any, options: list[str]) -> str:
    if not isinstance(value, str):
        return ""
    close = difflib.get_close_matches(value, options, n=1, cutoff=0.6)
    return f" (did you mean '{close[0]}'?)" if close else ""


def _message(err: Mapping[str, Any]) -> str:
    kind = str(err.get("type", ""))
    loc: Path_ = tuple(err.get("loc", ()))
    value = err.get("input")
    ctx: Mapping[str, Any] = err.get("ctx") or {}
    if kind == "policy":
        return str(err.get("msg", ""))
    if kind == "missing":
        return "required key is missing"
    if kind == "extra_forbidden":
        model = _model_at(loc[:-1])
        allowed = sorted(model.model_fields) if model is not None else []
        hint = _suggest(loc[-1] if loc else None, allowed)
        if hint:
            return f"unknown key{hint}"
        return f"unknown key; expected one of {', '.join(allowed)}" if allowed else "unknown key"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        options = re.findall(r"'([^']*)'", expected) or [expected]
        shown = ", ".join(options)
        head = f"expected one of {shown}" if len(options) > 1 else f"expected {shown}"
        return f"{head}; got {_got(value)}{_suggest(value, options)}"
    if kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
        sign = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=",
                "less_than": "<"}[kind]  # fmt: skip
        bound = next(iter(ctx.values()), "?")
        return f"expected a number {sign} {bound}; got {_got(value)}"
    if kind in ("too_short", "string_too_short"):
        n = ctx.get("min_length", 1)
        if kind == "string_too_short":
            chars = "character" if n == 1 else "characters"
            return f"expected text of at least {n} {chars}; got {_got(value)}"
        return f"expected at least {n} item{'s' if n != 1 else ''}; got {_got(value)}"
    if kind in ("too_long", "string_too_long"):
        n = ctx.get("max_length", "?")
        unit = "characters" if kind == "string_too_long" else "items"
        return f"expected at most {n} {unit}; got {_got(value)}"
    if kind in _EXPECTED:
        return f"{_EXPECTED[kind]}; got {_got(value)}"
    msg = str(err.get("msg", "invalid value"))
    msg = msg.removeprefix("Value error, ").removeprefix("Assertion failed, ")
    return f"{msg}; got {_got(value)}"


def _check_shadowed(
    rules_list: list[Any],
    compiled: Mapping[int, Expression],
    lines: Any,
    note: Any,
) -> None:
    """Note each rule that never decides because an earlier rule, on the same turns,
    holds whenever it does (:mod:`escalate.policy.shadowing`). A warning, not a
    problem: the policy means what it says (a threshold sweep builds such variants on
    purpose), but a rule that never decides is most often a mistake."""
    earlier: list[tuple[str, str, str, int | None]] = []
    for i, raw in enumerate(rules_list):
        if not isinstance(raw, dict) or raw.get("enabled") is False or i not in compiled:
            continue
        when, on = raw.get("when"), str(raw.get("on", "user"))
        if not isinstance(when, str):
            continue
        label = repr(raw["id"]) if isinstance(raw.get("id"), str) else f"number {i}"
        for other, other_when, other_on, other_line in earlier:
            if other_on in ("any", on) and implies(when, other_when):
                at = f" (line {other_line})" if other_line is not None else ""
                note(
                    ("rules", i, "when"),
                    f"rule {label} never decides: whenever it holds, rule {other!r}{at} before "
                    "it holds too, and the first matching rule wins; move this rule above it",
                )
                break
        earlier.append((str(raw.get("id")), when, on, _line_for(("rules", i), lines)))


def _line_for(path: Path_, lines: Mapping[Path_, int]) -> int | None:
    for end in range(len(path), -1, -1):
        line = lines.get(path[:end])
        if line is not None:
            return line
    return None


def _clean_loc(loc: tuple[Any, ...], data: Any) -> Path_:
    """A pydantic location as a document path (keys and 0-based list indices)."""
    return tuple(part for part in loc if isinstance(part, str | int))


# --------------------------------------------------------------------------------------
# The whole check
# --------------------------------------------------------------------------------------


def _parse(
    text: str, source: str, *, affect: bool, history: bool = True, default_name: str | None
) -> Policy:
    if not isinstance(text, str):
        raise PolicyError([PolicyProblem(source, None, (), "expected the policy as text")])
    if "\x00" in text:
        line = text[: text.index("\x00")].count("\n") + 1
        raise PolicyError([PolicyProblem(source, line, (), "expected text; got a null character")])
    data, lines, problems = _compose(text, source)
    if data is None and problems:
        raise PolicyError(problems) from None
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else _got(data)
        raise PolicyError(
            [
                PolicyProblem(
                    source,
                    lines.get((), None),
                    (),
                    f"expected a mapping with at least 'version' and 'rules'; got {kind}",
                )
            ]
        ) from None

    # top-level keys starting with "x-" are free space for YAML anchors and notes
    data = {k: v for k, v in data.items() if not (isinstance(k, str) and k.startswith("x-"))}

    def problem(path: Path_, message: str) -> None:
        problems.append(PolicyProblem(source, _line_for(path, lines), path, message))

    notes: list[PolicyProblem] = []

    def note(path: Path_, message: str) -> None:
        notes.append(PolicyProblem(source, _line_for(path, lines), path, message))

    spec: PolicyDocument | None = None
    try:
        spec = PolicyDocument.model_validate(data)
    except ValidationError as e:
        for err in e.errors():
            loc = _clean_loc(tuple(err.get("loc", ())), data)
            if err.get("type") == "policy" and not loc and "duplicate rule id" in err["msg"]:
                continue  # reported below, with the line of each duplicate
            problem(loc, _message(err))

    known = set(CATALOG) | _counter_signals(data.get("dialogue"))
    declared, scores = check_scores(
        data.get("scores"), known, problem, affect=affect, history=history
    )
    known |= declared
    compiled: dict[int, Expression] = {}
    raw_rules = data.get("rules")
    rules_list: list[Any] = raw_rules if isinstance(raw_rules, list) else []
    seen_ids: dict[str, int | None] = {}
    for i, raw in enumerate(rules_list):
        if not isinstance(raw, dict):
            continue
        rule_id = raw.get("id")
        if isinstance(rule_id, str):
            if rule_id in seen_ids:
                where = seen_ids[rule_id]
                first = f" (first at line {where})" if where is not None else ""
                problem(("rules", i, "id"), f"duplicate rule id {rule_id!r}{first}")
            else:
                seen_ids[rule_id] = _line_for(("rules", i, "id"), lines)
        expression = _check_when(
            raw.get("when"), ("rules", i, "when"), known, affect, problem, history=history
        )
        if expression is not None:
            compiled[i] = bind_scores(expression, scores)

    _check_opener_rules(data.get("packet"), seen_ids, problem)

    explicit_expr: Expression | None = None
    guards = data.get("guards")
    if isinstance(guards, dict) and isinstance(guards.get("explicit_request"), dict):
        path: Path_ = ("guards", "explicit_request", "when")
        explicit_expr = _check_when(
            guards["explicit_request"].get("when"), path, known, affect, problem, history=history
        )
        if explicit_expr is not None:
            explicit_expr = bind_scores(explicit_expr, scores)
        if explicit_expr is not None and explicit_expr.always is True:
            problem(
                path,
                "expected a condition that depends on the conversation; got one that always "
                "holds, which would hand every conversation to a person",
            )

    always_rule: tuple[str, int | None] | None = None
    for i, raw in enumerate(rules_list):
        if not isinstance(raw, dict):
            continue
        rule_id = raw.get("id")
        label = repr(rule_id) if isinstance(rule_id, str) else f"number {i}"
        if always_rule is not None:
            other, other_line = always_rule
            at = f" (line {other_line})" if other_line is not None else ""
            problem(
                ("rules", i),
                f"rule {label} is unreachable: rule {other!r}{at} before it always matches "
                "and the first matching rule wins; move this rule above it or narrow that one",
            )
            continue
        expression = compiled.get(i)
        if expression is not None and expression.always is True and raw.get("enabled") is not False:
            always_rule = (str(rule_id), _line_for(("rules", i), lines))

    _check_shadowed(rules_list, compiled, lines, note)

    raw_roles = data.get("decide_on", ["user"])
    roles = set(raw_roles) if isinstance(raw_roles, list) else {"user"}
    for i, raw in enumerate(rules_list):
        on = raw.get("on", "user") if isinstance(raw, dict) else "user"
        needs = {"bot": ["bot"], "user": ["user"], "any": ["user", "bot"]}.get(str(on), [])
        missing = [role for role in needs if role not in roles]
        if missing and raw.get("enabled") is not False:
            label = repr(raw.get("id")) if isinstance(raw.get("id"), str) else f"number {i}"
            problem(
                ("rules", i, "on"),
                f"rule {label} acts on {' and '.join(missing)} turns, which the policy does "
                f"not decide on; add {' and '.join(missing)} to decide_on "
                "(decide_on: [user, bot])",
            )

    if problems or spec is None:
        problems.sort(key=lambda p: (p.line is None, p.line or 0))
        raise PolicyError(problems) from None

    default_queue = spec.default_queue
    rules: list[CompiledRule] = []
    for i, rule in enumerate(spec.rules):
        if not rule.enabled:
            continue
        rules.append(
            CompiledRule(
                id=rule.id,
                description=rule.description,
                expression=compiled[i],
                action=rule.then.action,
                queue=rule.then.queue or default_queue,
                priority=rule.then.priority,
                line=_line_for(("rules", i), lines),
                on=rule.on,
            )
        )
    explicit: CompiledRule | None = None
    request = spec.guards.explicit_request
    if request is not None and explicit_expr is not None:
        explicit = CompiledRule(
            id="explicit_request",
            description="the customer asked for a person",
            expression=explicit_expr,
            action=request.then.action,
            queue=request.then.queue or default_queue,
            priority=request.then.priority,
            line=_line_for(("guards", "explicit_request"), lines),
        )
    name = spec.name or default_name or "policy"
    return Policy(spec, tuple(rules), explicit, name=name, source=source, warnings=tuple(notes))


def _counter_signals(dialogue: Any) -> set[str]:
    """The ``dialogue.count.<name>`` signals a policy's ``dialogue.counters`` declare."""
    from escalate.signals.dialogue import COUNTER_PREFIX

    counters = dialogue.get("counters") if isinstance(dialogue, dict) else None
    if not isinstance(counters, dict):
        return set()
    return {COUNTER_PREFIX + name for name in counters if isinstance(name, str)}


def _check_when(
    value: Any,
    path: Path_,
    known: set[str],
    affect: bool,
    problem: Any,
    *,
    history: bool = True,
) -> Expression | None:
    if isinstance(value, bool):
        value = "true" if value else "false"
    elif isinstance(value, int | float):
        value = repr(value)
    if not isinstance(value, str) or value == "":
        return None  # the schema reports a missing or non-text condition
    try:
        expression = compile_expression(value, known=known)
    except ExpressionError as e:
        problem(path, str(e))
        return None
    if not affect:
        needs = sorted(n for n in expression.names if requires_affect(n))
        if needs:
            listed = ", ".join(f"'{n}'" for n in needs)
            noun = "signal" if len(needs) == 1 else "signals"
            problem(
                path,
                f"names the affect {noun} {listed}, but the engine has no affect model "
                "configured; configure an affect model or use only dialogue.* signals",
            )
    if not history:
        needs = sorted(n for n in expression.names if requires_history(n))
        if needs:
            listed = ", ".join(f"'{n}'" for n in needs)
            noun = "signal" if len(needs) == 1 else "signals"
            problem(
                path,
                f"names the history {noun} {listed}, but the engine has no history store "
                "configured; configure one (history='sqlite:///history.db', a URL, or "
                "ESCALATE_HISTORY_URL) or remove the history.* conditions",
            )
    return expression


def _check_opener_rules(packet: Any, rule_ids: Mapping[str, Any], problem: Any) -> None:
    """Every ``when_rule`` of an opener template names a rule of this policy (or a guard)."""
    openers = packet.get("openers") if isinstance(packet, dict) else None
    if not isinstance(openers, list):
        return
    known = [*rule_ids, "explicit_request", "on_error"]
    for i, opener in enumerate(openers):
        names = opener.get("when_rule") if isinstance(opener, dict) else None
        names = [names] if isinstance(names, str) else names
        if not isinstance(names, list):
            continue
        for j, name in enumerate(names):
            if isinstance(name, str) and name not in known:
                path: Path_ = ("packet", "openers", i, "when_rule")
                if isinstance(opener.get("when_rule"), list):
                    path = (*path, j)
                problem(path, f"no rule with the id {name!r}{_suggest(name, known)}")
