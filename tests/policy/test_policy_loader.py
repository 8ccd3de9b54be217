"""Loading policies: every problem with its file and line, all at once, and the Policy API."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

import pytest

from escalate.errors import PolicyError, PolicyProblem
from escalate.models import Reason
from escalate.policy import (
    CompiledRule,
    Policy,
    RuleMatch,
    load_policy,
    parse_policy,
    shipped_policies,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "policies"


def problems(text: str, *, affect: bool = True, source: str = "<string>") -> list[PolicyProblem]:
    with pytest.raises(PolicyError) as info:
        parse_policy(textwrap.dedent(text), source=source, affect=affect)
    return info.value.problems


def only(text: str, **kwargs: bool) -> PolicyProblem:
    found = problems(text, **kwargs)  # type: ignore[arg-type]
    assert len(found) == 1, found
    return found[0]


GOOD = """\
version: 1
rules:
  - id: asked
    when: human_request >= 0.8 or dialogue.asked_for_human
    then: {action: handoff, queue: general, priority: high}
  - id: stuck
    description: The bot keeps failing.
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: offer_human}
"""


# --- one problem of each kind, with its line ------------------------------------------------


def test_unknown_action_with_did_you_mean() -> None:
    p = only(GOOD.replace("action: offer_human", "action: hand_off"))
    assert p.line == 9
    assert p.path == ("rules", 1, "then", "action")
    assert p.message == (
        "expected one of continue, offer_human, handoff, offer_callback; got 'hand_off' "
        "(did you mean 'handoff'?)"
    )
    assert str(p) == (
        "<string>:9: rules -> 1 -> then -> action: expected one of continue, offer_human, "
        "handoff, offer_callback; got 'hand_off' (did you mean 'handoff'?)"
    )


def test_unknown_key_with_did_you_mean() -> None:
    p = only(GOOD + "guards:\n  cooldown: 2\n")
    assert (p.line, p.path) == (11, ("guards", "cooldown"))
    assert p.message == "unknown key (did you mean 'cooldown_turns'?)"


def test_unknown_key_without_close_match_lists_keys() -> None:
    p = only(GOOD + "colour: blue\n")
    assert (p.line, p.path) == (10, ("colour",))
    assert p.message.startswith("unknown key; expected one of ")
    assert "rules" in p.message and "on_error" in p.message


def test_unknown_signal_with_did_you_mean() -> None:
    p = only(GOOD.replace("consecutive_fallbacks", "consecutive_fallback"))
    assert (p.line, p.path) == (8, ("rules", 1, "when"))
    assert p.message.startswith(
        "unknown signal 'dialogue.consecutive_fallback' "
        "(did you mean 'dialogue.consecutive_fallbacks'?)"
    )


def test_bad_expression_syntax() -> None:
    p = only(GOOD.replace(">= 2", ">= "))
    assert (p.line, p.path) == (8, ("rules", 1, "when"))
    assert p.message.startswith("invalid syntax")


def test_disallowed_expression_construct() -> None:
    p = only(GOOD.replace(">= 2", "== 'two'"))
    assert p.line == 8
    assert "strings are not allowed" in p.message


def test_affect_signals_rejected_without_affect_model() -> None:
    p = only(GOOD, affect=False)
    assert (p.line, p.path) == (4, ("rules", 0, "when"))
    assert "affect signal 'human_request'" in p.message
    assert "no affect model configured" in p.message


def test_affect_rejection_lists_every_affect_signal() -> None:
    text = GOOD.replace(
        "human_request >= 0.8", "sentiment.negative > 0.5 and trajectory.negative.streak >= 2"
    )
    p = only(text, affect=False)
    assert "affect signals 'sentiment.negative', 'trajectory.negative.streak'" in p.message


def test_affect_rejection_covers_explicit_request() -> None:
    text = (
        GOOD.replace("human_request >= 0.8 or ", "")
        + "guards:\n  explicit_request:\n    when: human_request > 0.9\n"
        "    then: {action: handoff}\n"
    )
    p = only(text, affect=False)
    assert (p.line, p.path) == (12, ("guards", "explicit_request", "when"))


def test_dialogue_only_policy_loads_without_affect() -> None:
    policy = parse_policy(GOOD.replace("human_request >= 0.8 or ", ""), affect=False)
    assert not policy.requires_affect


def test_yaml_syntax_error_has_its_line() -> None:
    p = only("version: 1\nrules:\n  - id: a\n    when: [a\n  - id: b\n")
    assert p.line is not None and p.line >= 4
    assert p.message.startswith("invalid YAML:")
    assert p.path == ()


def test_yaml_bad_indentation() -> None:
    p = only("version: 1\nrules:\n  - id: a\n   when: x\n")
    assert p.line == 4
    assert p.message.startswith("invalid YAML:")


def test_duplicate_keys_are_detected() -> None:
    p = only(
        GOOD.replace(
            "    then: {action: offer_human}", "    when: true\n    then: {action: offer_human}"
        )
    )
    assert (p.line, p.path) == (9, ("rules", 1, "when"))
    assert p.message.startswith("duplicate key (first at line 8)")


def test_duplicate_top_level_key() -> None:
    p = only("version: 1\n" + GOOD)
    assert (p.line, p.path) == (2, ("version",))
    assert "first at line 1" in p.message


def test_duplicate_keys_in_flow_mapping() -> None:
    p = only(GOOD.replace("{action: offer_human}", "{action: offer_human, action: handoff}"))
    assert p.line == 9 and p.path == ("rules", 1, "then", "action")


def test_non_mapping_document() -> None:
    p = only("- version: 1\n")
    assert p.message == "expected a mapping with at least 'version' and 'rules'; got a list"
    assert p.line == 1
    p = only("just text\n")
    assert p.message.startswith("expected a mapping") and "'just text'" in p.message


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n", "---\n"])
def test_empty_document(text: str) -> None:
    p = only(text)
    assert p.message.startswith("the policy is empty")
    assert p.line is None


def test_null_document() -> None:
    p = only("null\n")
    assert "expected a mapping" in p.message


def test_multiple_documents() -> None:
    p = only(GOOD + "---\nversion: 1\n")
    assert p.message.startswith("invalid YAML:")
    assert p.line == 10


def test_duplicate_rule_ids() -> None:
    p = only(GOOD.replace("id: stuck", "id: asked"))
    assert (p.line, p.path) == (6, ("rules", 1, "id"))
    assert p.message == "duplicate rule id 'asked' (first at line 3)"


def test_bad_rule_id() -> None:
    p = only(GOOD.replace("id: stuck", "id: Bot Stuck"))
    assert (p.line, p.path) == (6, ("rules", 1, "id"))
    assert "lowercase letters" in p.message and "'Bot Stuck'" in p.message


def test_unreachable_rule_after_always_true_rule() -> None:
    text = GOOD.replace("human_request >= 0.8 or dialogue.asked_for_human", "true")
    p = only(text)
    assert (p.line, p.path) == (6, ("rules", 1))
    assert "rule 'stuck' is unreachable" in p.message
    assert "rule 'asked' (line 3)" in p.message


def test_unreachable_also_after_or_true() -> None:
    text = GOOD.replace("dialogue.asked_for_human", "(1 > 0)")
    assert "unreachable" in only(text).message


def test_always_true_last_rule_is_fine() -> None:
    text = GOOD + "  - id: otherwise\n    when: true\n    then: {action: continue}\n"
    assert [r.id for r in parse_policy(text).rules] == ["asked", "stuck", "otherwise"]


def test_disabled_always_true_rule_does_not_shadow() -> None:
    text = GOOD.replace(
        "rules:\n",
        "rules:\n  - id: off\n    when: true\n    enabled: false\n    then: {action: handoff}\n",
    )
    policy = parse_policy(text)
    assert [r.id for r in policy.rules] == ["asked", "stuck"]


def test_explicit_request_always_true_is_a_problem() -> None:
    text = GOOD + "guards:\n  explicit_request:\n    when: true\n    then: {action: handoff}\n"
    p = only(text)
    assert p.path == ("guards", "explicit_request", "when")
    assert "always holds" in p.message


def test_explicit_request_must_involve_a_person() -> None:
    text = GOOD + (
        "guards:\n  explicit_request:\n    when: dialogue.asked_for_human\n"
        "    then: {action: continue}\n"
    )
    p = only(text)
    assert (p.line, p.path) == (13, ("guards", "explicit_request", "then"))
    assert "got 'continue'" in p.message


@pytest.mark.parametrize(
    ("text", "path", "fragment"),
    [
        (GOOD.replace("version: 1\n", ""), ("version",), "required key is missing"),
        (GOOD.replace("version: 1", "version: 2"), ("version",), "expected 1; got 2"),
        (GOOD.replace("version: 1", "version: '1'"), ("version",), "expected 1; got '1'"),
        ("version: 1\n", ("rules",), "required key is missing"),
        ("version: 1\nrules: []\n", ("rules",), "expected at least 1 item; got an empty list"),
        ("version: 1\nrules: {a: 1}\n", ("rules",), "expected a list; got a mapping"),
        (GOOD.replace("    then: {action: offer_human}\n", ""), ("rules", 1, "then"), "missing"),
        (GOOD + "on_error: explode\n", ("on_error",), "got 'explode'"),
        (GOOD + "guards:\n  cooldown_turns: -1\n", ("guards", "cooldown_turns"), ">= 0"),
        (GOOD + "guards:\n  cooldown_turns: two\n", ("guards", "cooldown_turns"), "whole number"),
        (GOOD + "guards:\n  single_handoff: maybe\n", ("guards", "single_handoff"),
         "true or false"),
        (GOOD + "trajectory: {window: 0}\n", ("trajectory", "window"), ">= 1"),
        (GOOD + "trajectory: {treshold: 0.4}\n", ("trajectory", "treshold"), "'threshold'"),
        (GOOD + "dialogue: {fallback_event: [x]}\n", ("dialogue", "fallback_event"),
         "did you mean"),
        (GOOD + "default_queue: 7\n", ("default_queue",), "expected text; got 7"),
        (GOOD.replace("queue: general", "queue: ''"), ("rules", 0, "then", "queue"), "at least 1"),
        (GOOD.replace("priority: high", "priority: hihg"), ("rules", 0, "then", "priority"),
         "(did you mean 'high'?)"),
    ],
)  # fmt: skip
def test_schema_problems(text: str, path: tuple[str | int, ...], fragment: str) -> None:
    p = only(text)
    assert p.path == path
    assert fragment in p.message
    assert p.line is not None


def test_business_hours_problems_all_reported() -> None:
    text = GOOD + textwrap.dedent(
        """\
        guards:
          business_hours:
            timezone: Europe/Londn
            open: "9-5"
            days: [mon, funday]
            holidays: [2026-13-45]
            outside: handoff
        """
    )
    found = problems(text)
    by_path = {p.path: p for p in found}
    tz = by_path[("guards", "business_hours", "timezone")]
    assert tz.line == 12 and "(did you mean 'Europe/London'?)" in tz.message
    assert by_path[("guards", "business_hours", "open")].line == 13
    assert "'HH:MM-HH:MM'" in by_path[("guards", "business_hours", "open")].message
    day = by_path[("guards", "business_hours", "days", 1)]
    assert "got 'funday'" in day.message
    assert any(p.line == 15 and "2026-13-45" in p.message for p in found)
    outside = by_path[("guards", "business_hours", "outside")]
    assert "expected one of continue, offer_callback; got 'handoff'" in outside.message


def test_several_problems_reported_at_once_from_a_file() -> None:
    path = FIXTURES / "several_problems.yaml"
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    found = [(p.line, p.path) for p in info.value.problems]
    assert found == [
        (5, ("rules", 0, "when")),
        (9, ("rules", 1, "then", "action")),
        (10, ("rules", 2, "id")),
        (14, ("guards", "cooldown")),
        (16, ("on_error",)),
    ]
    assert all(p.source == str(path) for p in info.value.problems)
    message = str(info.value)
    assert message.startswith("invalid policy: 5 problems\n")
    assert f"{path}:9: rules -> 1 -> then -> action:" in message
    assert "(did you mean 'dialogue.asked_for_human'?)" in message


def test_problems_are_sorted_by_line() -> None:
    text = "on_error: x\nversion: 3\nrules:\n  - id: A\n    when: foo\n    then: {action: y}\n"
    found = problems(text)
    lines = [p.line or 0 for p in found]
    assert lines == sorted(lines)
    assert len(found) == 5


def test_pydantic_internals_are_hidden() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(GOOD.replace("handoff", "hand_off"))
    assert info.value.__cause__ is None
    assert info.value.__suppress_context__
    assert "pydantic" not in str(info.value)
    assert "literal_error" not in str(info.value)


# --- files ------------------------------------------------------------------------------------


def test_missing_file() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy("/no/such/policy.yaml")
    (p,) = info.value.problems
    assert p.source == "/no/such/policy.yaml"
    assert "no such file" in p.message
    assert "default" in p.message  # lists the shipped policies


def test_missing_shipped_name_suggests_one() -> None:
    with pytest.raises(PolicyError) as info:
        load_policy("retial")
    assert "(did you mean the shipped policy 'retail'?)" in info.value.problems[0].message


def test_directory_is_not_a_policy(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="got a directory"):
        load_policy(tmp_path)


def test_non_utf8_file(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes(GOOD.encode() + "  # caf\u00e9\n".encode("latin-1"))
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    (p,) = info.value.problems
    assert p.line == 10
    assert p.message.startswith("expected UTF-8 text; got the byte 0xe9")


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "bom.yaml"
    path.write_bytes(b"\xef\xbb\xbf" + GOOD.encode())
    assert load_policy(path).name == "bom"


def test_null_character(tmp_path: Path) -> None:
    path = tmp_path / "nul.yaml"
    path.write_bytes(GOOD.encode() + b"\x00")
    with pytest.raises(PolicyError) as info:
        load_policy(path)
    assert info.value.problems[0].line == 10


def test_file_source_name_and_lines() -> None:
    path = FIXTURES / "minimal.yaml"
    policy = load_policy(path)
    assert policy.source == str(path)
    assert policy.name == "minimal"  # the file's stem when the document has no name
    assert policy.rules[0].line == 4
    assert load_policy(str(path)).rules == policy.rules


def test_anchors_aliases_merge_keys_and_x_keys() -> None:
    policy = load_policy(FIXTURES / "anchors.yaml")
    assert [(r.id, r.action, r.queue, r.priority) for r in policy.rules] == [
        ("asked", "handoff", "general", "normal"),
        ("stuck", "handoff", "general", "high"),
    ]


def test_recursive_alias_is_a_problem_not_a_crash() -> None:
    p = only("version: 1\nrules: &r [*r]\n")
    assert "nested too deeply" in p.message


def test_alias_bomb_is_a_problem_not_a_hang() -> None:
    lines = ["version: 1", "a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        prev = f"*a{i - 1}"
        lines.append(f"a{i}: &a{i} [{', '.join([prev] * 10)}]")
    p = only("\n".join(lines) + "\n")
    assert "too large" in p.message


def test_python_tags_are_refused() -> None:
    p = only(GOOD + "name: !!python/object/apply:os.system ['true']\n")
    assert (p.line, p.path) == (10, ("name",))
    assert p.message == "expected plain YAML; got the tag '!!python/object/apply:os.system'"


def test_yes_no_on_off_stay_text() -> None:
    policy = parse_policy(GOOD.replace("id: stuck", "id: off").replace("general", "no"))
    assert [r.id for r in policy.rules] == ["asked", "off"]
    assert policy.rules[0].queue == "no"
    # where a boolean is expected, the words are still understood
    assert not parse_policy(GOOD + "guards: {single_handoff: no}\n").guards.single_handoff


def test_yaml_1_1_booleans_as_keys_stay_text() -> None:
    # `on:` would be read as the boolean True by YAML 1.1; keys stay as written
    p = only(GOOD + "on: 1\n")
    assert p.path == ("on",)
    assert p.message.startswith("unknown key")


# --- the compiled policy -------------------------------------------------------------------------


def test_evaluate_first_match_wins_with_reasons() -> None:
    policy = parse_policy(GOOD)
    match = policy.evaluate({"human_request": 0.9, "dialogue.consecutive_fallbacks": 5})
    assert match == RuleMatch(
        rule="asked",
        action="handoff",
        queue="general",
        priority="high",
        reasons=[Reason(code="asked", signal="human_request", op=">=", threshold=0.8, value=0.9)],
    )
    match = policy.evaluate({"human_request": 0.1, "dialogue.consecutive_fallbacks": 2})
    assert match is not None
    assert (match.rule, match.action, match.queue, match.priority) == (
        "stuck",
        "offer_human",
        None,
        "normal",
    )
    assert [str(r) for r in match.reasons] == ["stuck: dialogue.consecutive_fallbacks=2 >= 2"]
    assert policy.evaluate({}) is None


def test_continue_rule_stops_later_rules() -> None:
    text = GOOD.replace(
        "rules:\n",
        "rules:\n  - id: happy\n    when: mood.gratitude > 0.9\n    then: {action: continue}\n",
    )
    match = parse_policy(text).evaluate({"mood.gratitude": 0.95, "human_request": 0.99})
    assert match is not None and (match.rule, match.action) == ("happy", "continue")


def test_always_true_rule_reason() -> None:
    policy = parse_policy(
        "version: 1\nrules:\n  - {id: all, when: true, then: {action: handoff}}\n"
    )
    match = policy.evaluate({})
    assert match is not None
    assert match.reasons == [Reason(code="all", detail="condition always holds")]


def test_yaml_boolean_and_number_conditions() -> None:
    policy = parse_policy(
        "version: 1\nrules:\n  - {id: n, when: false, then: {action: handoff}}\n"
        "  - {id: m, when: 0, then: {action: handoff}}\n"
    )
    assert policy.rules[0].expression.source == "false"
    assert policy.evaluate({}) is None


def test_multi_line_condition() -> None:
    text = textwrap.dedent(
        """\
        version: 1
        rules:
          - id: rising
            when: >
              trajectory.negative.streak >= 3
              or (trajectory.negative.slope >= 0.15
                  and trajectory.negative.current >= 0.6)
            then: {action: offer_human}
        """
    )
    policy = parse_policy(text)
    values = {"trajectory.negative.slope": 0.2, "trajectory.negative.current": 0.7}
    assert policy.evaluate(values) is not None


def test_explicit_request_and_default_queue() -> None:
    text = GOOD + textwrap.dedent(
        """\
        default_queue: front-desk
        guards:
          explicit_request:
            when: dialogue.asked_for_human
            then: {action: handoff, priority: urgent}
        """
    )
    policy = parse_policy(text)
    assert isinstance(policy.explicit_request, CompiledRule)
    assert policy.explicit_request.id == "explicit_request"
    match = policy.match_explicit_request({"dialogue.asked_for_human": 1})
    assert match is not None
    assert (match.rule, match.action, match.queue, match.priority) == (
        "explicit_request", "handoff", "front-desk", "urgent"
    )  # fmt: skip
    assert match.reasons[0].signal == "dialogue.asked_for_human"
    assert policy.match_explicit_request({"dialogue.asked_for_human": 0}) is None
    assert policy.rules[0].queue == "general" and policy.rules[1].queue == "front-desk"
    assert "dialogue.asked_for_human" in policy.signal_names


def test_no_explicit_request() -> None:
    policy = parse_policy(GOOD)
    assert policy.explicit_request is None
    assert policy.match_explicit_request({"dialogue.asked_for_human": 1}) is None


def test_margins() -> None:
    policy = parse_policy(GOOD)
    margins = policy.margins({"human_request": 0.4, "dialogue.consecutive_fallbacks": 1})
    assert list(margins) == ["asked", "stuck"]
    assert margins["asked"] == pytest.approx(-0.4)
    assert margins["stuck"] == pytest.approx(-0.5)
    assert policy.margins({})["stuck"] is None
    always = parse_policy("version: 1\nrules: [{id: a, when: true, then: {action: handoff}}]")
    assert always.margins({})["a"] == math.inf


def test_policy_sections_and_defaults() -> None:
    policy = parse_policy(GOOD)
    assert policy.name == "policy"
    assert policy.source == "<string>"
    assert policy.on_error == "offer_human"
    assert policy.guards.cooldown_turns == 2 and policy.guards.single_handoff
    assert policy.guards.business_hours is None
    assert policy.trajectory.window == 3
    assert policy.dialogue.repeat_similarity > 0
    assert policy.spec.version == 1
    assert policy.signal_names == {
        "human_request",
        "dialogue.asked_for_human",
        "dialogue.consecutive_fallbacks",
    }
    assert policy.requires_affect
    assert policy.rules[1].description == "The bot keeps failing."
    assert "rules=2" in repr(policy)


def test_sections_are_passed_through() -> None:
    text = GOOD + "trajectory: {window: 5, threshold: 0.3}\non_error: handoff\nname: mine\n"
    policy = parse_policy(text)
    assert (policy.trajectory.window, policy.trajectory.threshold) == (5, 0.3)
    assert policy.on_error == "handoff"
    assert policy.name == "mine"


def test_policy_is_immutable() -> None:
    policy = parse_policy(GOOD)
    with pytest.raises(AttributeError):
        setattr(policy, "name", "x")  # noqa: B010
    with pytest.raises(AttributeError):
        del policy.rules
    with pytest.raises(AttributeError):
        setattr(policy.rules[0], "id", "x")  # noqa: B010
    assert isinstance(policy.rules, tuple)


def test_shipped_policies_listing() -> None:
    shipped = shipped_policies()
    assert {"default", "retail", "financial_services", "dialogue_only"} <= set(shipped)
    assert all(p.suffix == ".yaml" and p.is_file() for p in shipped.values())


def test_load_by_shipped_name_equals_load_by_path() -> None:
    by_name = load_policy("retail")
    by_path = load_policy(shipped_policies()["retail"])
    assert by_name.source == by_path.source
    assert by_name.rules == by_path.rules


def test_public_surface() -> None:
    import escalate.policy as module

    assert sorted(module.__all__) == [
        "CompiledRule",
        "Policy",
        "RuleMatch",
        "load_policy",
        "parse_policy",
        "shipped_policies",
    ]
    assert isinstance(parse_policy(GOOD), Policy)
