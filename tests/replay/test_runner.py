from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.replay.conversations import corpus, make

from escalate.affect.base import EMOTION_LABELS, AffectScores
from escalate.errors import InputError
from escalate.models import Conversation, Turn
from escalate.replay.readers import Record
from escalate.replay.runner import ConversationResult, Runner, collect, label_user_turn


def outcomes(results: list[ConversationResult]) -> list[tuple[object, ...]]:
    return [
        (
            r.id,
            r.turns,
            r.label_user_turn,
            r.score,
            r.all_rules,
            [(d.turn, d.action, d.rule, d.guard, d.score) for d in r.decisions],
        )
        for r in results
    ]


def test_same_results_with_one_and_two_workers() -> None:
    data = corpus() * 5
    one, _ = collect(Runner("dialogue_only", affect=None, workers=1, chunk_size=3).run(data))
    two, _ = collect(Runner("dialogue_only", affect=None, workers=2, chunk_size=3).run(data))
    assert outcomes(one) == outcomes(two)
    assert [r.id for r in two] == [c.id for c in data]


def test_a_policy_object_reaches_the_workers_as_itself() -> None:
    from escalate.policy import load_policy
    from escalate.replay.sweep import policy_variant

    base = load_policy("dialogue_only", affect=False)
    variant = policy_variant(base, "corrected", 1)  # one negation is enough
    data = corpus() * 2
    from_file = outcomes(collect(Runner(base, affect=None, workers=2, chunk_size=3).run(data))[0])
    here = outcomes(collect(Runner(variant, affect=None, workers=1, chunk_size=3).run(data))[0])
    there = outcomes(collect(Runner(variant, affect=None, workers=2, chunk_size=3).run(data))[0])
    assert there == here
    assert there != from_file


def test_a_policy_pickles_as_itself() -> None:
    import pickle

    from escalate.policy import load_policy, parse_policy
    from escalate.replay.sweep import policy_variant

    scored = parse_policy(
        "version: 1\nscores:\n  risk: {bias: -1, weights: {dialogue.fallbacks: 1}}\n"
        "rules:\n  - id: risky\n    when: score.risk >= 0.6\n    then: {action: offer_human}\n"
    )
    for policy in (
        load_policy("default"),
        policy_variant(load_policy("dialogue_only", affect=False), "corrected", 1),
        scored,
    ):
        again = pickle.loads(pickle.dumps(policy))
        assert (again.name, again.source, again.spec) == (policy.name, policy.source, policy.spec)
        assert [(r.id, r.expression.source) for r in again.rules] == [
            (r.id, r.expression.source) for r in policy.rules
        ]
        assert again.signal_names == policy.signal_names
        for values in ({"dialogue.fallbacks": 3}, {"dialogue.user_negations": 1}, {}):
            assert [r.expression.evaluate(values) for r in again.rules] == [
                r.expression.evaluate(values) for r in policy.rules
            ]


def test_decisions_match_engine_decide() -> None:
    from escalate.engine import Engine

    engine = Engine.from_policy("dialogue_only", affect=None, history=None)
    results, _ = collect(Runner("dialogue_only", affect=None, workers=1).run(corpus()))
    for conversation, result in zip(corpus(), results, strict=True):
        expected = [(d.turn, d.action, d.rule) for d in engine.decide(conversation)]
        assert [(d.turn, d.action, d.rule) for d in result.decisions] == expected


class TinyAffect:
    """Negative when the text has 'awful'; asks for a person on 'person'."""

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        out = []
        for text in texts:
            neg = 0.95 if "awful" in text else 0.05
            out.append(
                AffectScores(
                    sentiment={
                        "negative": neg,
                        "neutral": 0.9 - neg if neg < 0.9 else 0.03,
                        "positive": 0.02,
                    },
                    emotions=dict.fromkeys(EMOTION_LABELS, 0.01),
                    human_request=0.9 if "person" in text else 0.01,
                )
            )
        return out


def test_affect_factory_and_scores() -> None:
    data = [
        make("a", ["this is awful"], escalate=True, turn=0),
        make("b", ["fine"], escalate=False),
    ]
    runner = Runner("baseline_sentiment", affect=TinyAffect, workers=1)
    results, errors = collect(runner.run(data))
    assert not errors
    assert [r.escalated for r in results] == [True, False]
    # margin of sentiment.negative >= 0.7: (0.95 - 0.7) / 1
    assert results[0].score == pytest.approx(0.25)
    assert results[1].score == pytest.approx(0.05 - 0.7)


def test_bad_records_pass_through_in_order() -> None:
    good = make("g", ["hi"])
    bad = Record(2, error=InputError("broken", line=2))
    items = list(
        Runner("dialogue_only", affect=None, workers=1).run([Record(1, good), bad, Record(3, good)])
    )
    assert [type(i).__name__ for i in items] == [
        "ConversationResult",
        "Record",
        "ConversationResult",
    ]
    assert [getattr(i, "line", None) for i in items] == [1, 2, 3]


def test_label_user_turn_maps_to_last_user_turn_at_or_before() -> None:
    c = Conversation(
        id="c",
        turns=[
            Turn(role="bot", text="hi"),
            Turn(role="user", text="a"),
            Turn(role="bot", text="b"),
            Turn(role="user", text="c"),
        ],
        label={"escalate": True, "turn": 2},
    )
    assert label_user_turn(c) == 0
    first = Conversation(id="c", turns=c.turns, label={"escalate": True, "turn": 0})
    assert label_user_turn(first) == 0
    assert label_user_turn(Conversation(id="c", turns=c.turns, label={"escalate": False})) is None


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="workers"):
        Runner("dialogue_only", affect=None, workers=0)
    with pytest.raises(ValueError, match="chunk_size"):
        Runner("dialogue_only", affect=None, chunk_size=0)


def test_progress_bar_runs(capsys: pytest.CaptureFixture[str]) -> None:
    runner = Runner("dialogue_only", affect=None, workers=1, progress=True)
    results, _ = collect(runner.run(corpus()))
    assert len(results) == len(corpus())
    assert runner.stats["conversations"] == len(corpus())


texts = st.sampled_from(["hi", "get me a person", "no that's wrong", "where is it", "hello?"])
items = st.one_of(
    st.lists(texts, min_size=1, max_size=4).map(lambda t: ("ok", t)),
    st.just(("bad", [])),
)


@settings(max_examples=40, deadline=None)
@given(st.lists(items, max_size=25), st.integers(min_value=1, max_value=5))
def test_every_conversation_is_counted_once(spec: list[tuple[str, list[str]]], chunk: int) -> None:
    records: list[Record] = []
    for i, (kind, t) in enumerate(spec, start=1):
        if kind == "ok":
            records.append(Record(i, conversation=make(f"c{i}", t)))
        else:
            records.append(Record(i, error=InputError("bad", line=i)))
    runner = Runner("dialogue_only", affect=None, workers=1, chunk_size=chunk)
    out = list(runner.run(records))
    assert [o.line for o in out] == [r.line for r in records]
    results = [o for o in out if isinstance(o, ConversationResult)]
    assert len(results) == sum(1 for r in records if r.conversation is not None)
    assert runner.stats["conversations"] + runner.stats["rejected"] == len(records)
    assert sum(r.user_turns for r in results) == sum(len(t) for k, t in spec if k == "ok")


def test_batched_scoring_gives_the_same_results_with_one_and_two_workers() -> None:
    data = corpus() * 3
    one, _ = collect(Runner("default", workers=1, chunk_size=4, affect_batch=8).run(data))
    two, _ = collect(Runner("default", workers=2, chunk_size=4, affect_batch=8).run(data))
    assert outcomes(one) == outcomes(two)


@pytest.mark.parametrize("bad", [0, -1, 2.5])
def test_affect_batch_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ValueError, match="affect_batch"):
        Runner("default", workers=1, affect_batch=bad)  # type: ignore[arg-type]
