from __future__ import annotations

import sys
import threading
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import redis
from tests.conftest import DIALOGUE_POLICY, KeywordAffect
from tests.stores.services import REDIS_URL, postgres_history, redis_sessions

from escalate import (
    Conversation,
    Engine,
    InputError,
    PolicyError,
    Turn,
    load_policy,
    parse_policy,
)
from escalate.affect.embedding import HashingEmbedder
from escalate.engine.history import HistoryGateway
from escalate.errors import StoreError
from escalate.models import ContactRecord
from escalate.stores.history import HistoryStore, MemoryHistoryStore
from escalate.stores.redis import RedisSessionStore
from escalate.stores.session import MemorySessionStore
from escalate.stores.sql import SQLHistoryStore

HISTORY_POLICY = """\
version: 1
name: test-history
rules:
  - id: repeat-contact
    when: history.contacts_same_topic_7d >= 2 and sentiment.negative >= 0.5
    then: {action: handoff, queue: retention, priority: high}
  - id: valued-and-upset
    when: customer.tier >= 2 and sentiment.negative >= 0.5
    then: {action: offer_human}
guards:
  explicit_request:
    when: human_request >= 0.8
    then: {action: handoff, queue: general}
  cooldown_turns: 0
on_error: offer_human
"""

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def earlier(cid: str, *, days_ago: float, topic: str | None = "refund", **kw: Any) -> ContactRecord:
    kw.setdefault("outcome", "abandoned")
    return ContactRecord(
        customer_id="u1",
        conversation_id=cid,
        started_at=NOW - timedelta(days=days_ago),
        topic=topic,
        **kw,
    )


class Clock:
    """A clock that moves an hour at every conversation start it is asked about."""

    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, hours: float = 1) -> None:
        self.now += timedelta(hours=hours)


def engine_with(history: HistoryStore | None, clock: Clock | None = None, **kwargs: Any) -> Engine:
    return Engine(
        parse_policy(HISTORY_POLICY),
        affect=KeywordAffect(),
        history=history,
        clock=clock or (lambda: NOW),
        **kwargs,
    )


def user(text: str, **kw: Any) -> Turn:
    return Turn(role="user", text=text, **kw)


def test_a_third_contact_on_the_same_topic_goes_to_retention() -> None:
    store = MemoryHistoryStore([earlier("a", days_ago=1), earlier("b", days_ago=3)])
    session = engine_with(store).session("now", customer_id="u1")
    calm = session.observe(user("I want my money back", intent="refund"))
    assert calm.action == "continue"
    assert calm.signals is not None and calm.signals["history.contacts_same_topic_7d"] == 2
    decision = session.observe(user("this is ridiculous"))
    assert (decision.action, decision.rule, decision.queue) == (
        "handoff",
        "repeat-contact",
        "retention",
    )
    assert ("history.contacts_same_topic_7d", 2.0) in [
        (r.signal, r.value) for r in decision.reasons
    ]
    # another customer, or another topic, is not a repeat contact
    other = engine_with(store).session("x", customer_id="u2")
    assert other.observe(user("this is ridiculous", intent="refund")).action == "continue"
    topic = engine_with(store).session("y", customer_id="u1")
    assert topic.observe(user("this is ridiculous", intent="delivery")).action == "continue"


def test_same_topic_by_text_when_there_is_no_intent() -> None:
    store = MemoryHistoryStore(
        [
            earlier("a", days_ago=1, topic=None, text="my parcel never arrived"),
            earlier("b", days_ago=2, topic=None, text="parcel never arrived, where is it"),
            earlier("c", days_ago=2, topic=None, text="how do I reset my password"),
        ]
    )
    session = engine_with(store).session("now", customer_id="u1")
    decision = session.observe(user("ridiculous, my parcel never arrived"))
    assert decision.rule == "repeat-contact"
    assert decision.signals is not None and decision.signals["history.contacts_same_topic_30d"] == 2


def test_outcomes_are_written_back_and_the_next_conversation_sees_them() -> None:
    store = MemoryHistoryStore()
    clock = Clock()
    engine = engine_with(store, clock)
    first = engine.session("c1", customer_id="u1", channel="voice")
    first.observe(user("I want a refund", intent="refund"))
    assert first.observe(user("get me a human")).action == "handoff"
    record = store.get("c1")
    assert record is not None
    assert (record.outcome, record.topic, record.channel, record.text) == (
        "handed_off",
        "refund",
        "voice",
        "I want a refund",
    )
    assert record.final_sentiment is not None and record.started_at == NOW
    first.end()  # keeps the outcome recorded so far, forgets the state
    assert first.state() is None and store.get("c1") == record and len(store) == 1

    clock.advance()
    second = engine.session("c2", customer_id="u1")
    second.observe(user("refund please", intent="refund"))
    second.end(outcome="abandoned")
    assert store.get("c2") is not None and store.get("c2").outcome == "abandoned"  # type: ignore[union-attr]

    clock.advance()
    third = engine.session("c3", customer_id="u1")
    decision = third.observe(user("this is ridiculous, where is my refund", intent="refund"))
    assert decision.rule == "repeat-contact"


def test_recording_is_idempotent_per_conversation() -> None:
    store = MemoryHistoryStore()
    engine = engine_with(store)
    session = engine.session("c1", customer_id="u1")
    session.observe(user("I need a refund", intent="refund"))
    session.resolve()
    assert store.get("c1").outcome == "resolved"  # type: ignore[union-attr]
    state = session.state()
    assert state is not None and state.outcome == "resolved" and state.version == 1
    session.observe(user("thanks"))
    session.end()
    assert len(store) == 1 and store.get("c1").outcome == "resolved"  # type: ignore[union-attr]

    quiet = engine.session("c2", customer_id="u1")
    quiet.observe(user("hello"))
    quiet.end()
    assert store.get("c2").outcome == "abandoned"  # type: ignore[union-attr]
    # no customer id, or never observed: nothing to record
    engine.session("c3").observe(user("hello"))
    engine.session("c3").end(outcome="resolved")
    engine.session("c4", customer_id="u1").end(outcome="resolved")
    assert store.get("c3") is None and store.get("c4") is None
    with pytest.raises(InputError, match="outcome"):
        engine.session("c5").end(outcome="solved")  # type: ignore[arg-type]


def test_decide_writes_nothing_but_reads_a_history_it_is_given() -> None:
    own = MemoryHistoryStore()
    engine = engine_with(own)
    conversation = Conversation(
        id="r1",
        customer_id="u1",
        turns=[user("this is ridiculous", intent="refund", timestamp=NOW)],
    )
    (empty,) = engine.decide(conversation)
    assert empty.action == "continue" and len(own) == 0
    assert empty.signals is not None and empty.signals["history.contacts_30d"] == 0

    filled = MemoryHistoryStore([earlier("a", days_ago=1), earlier("b", days_ago=2)])
    (repeat,) = engine.decide(conversation, history=filled)
    assert repeat.rule == "repeat-contact" and len(filled) == 2 and len(own) == 0


def test_decide_can_record_an_archive_in_time_order() -> None:
    history = MemoryHistoryStore()
    archive = [
        Conversation(
            id=f"r{i}",
            customer_id="u1",
            turns=[
                user(
                    "refund now, this is ridiculous",
                    intent="refund",
                    timestamp=NOW + timedelta(hours=i),
                )
            ],
            metadata={"outcome": "abandoned"},
        )
        for i in range(3)
    ]
    engine = engine_with(MemoryHistoryStore())
    rules = [d[0].rule for _, d in engine.decide_many(archive, history=history, record=True)]
    assert rules == [None, None, "repeat-contact"]
    assert [history.get(f"r{i}").outcome for i in range(3)] == [  # type: ignore[union-attr]
        "abandoned",
        "abandoned",
        "handed_off",
    ]
    with pytest.raises(ValueError, match="record=True needs a history store"):
        list(engine.decide_many(archive, record=True))


LAST_YEAR = datetime(2025, 3, 10, 9, tzinfo=UTC)


def test_a_replayed_contact_ends_at_its_last_turn_not_at_the_wall_clock() -> None:
    store = MemoryHistoryStore()
    engine = engine_with(store)  # the engine's clock reads NOW, more than a year later
    first = engine.session("c1", customer_id="u1")
    first.observe(user("where is my refund", intent="refund", timestamp=LAST_YEAR))
    first.observe(
        Turn(role="bot", text="Let me check.", timestamp=LAST_YEAR + timedelta(minutes=30))
    )
    first.observe(Turn(role="bot", text="Anything else?"))  # no timestamp
    first.end(outcome="abandoned")
    record = store.get("c1")
    assert record is not None and record.ended_at == LAST_YEAR + timedelta(minutes=30)
    second = engine.session("c2", customer_id="u1")
    decision = second.observe(user("hello", timestamp=LAST_YEAR + timedelta(days=1, minutes=30)))
    assert decision.signals is not None
    assert decision.signals["history.hours_since_last_contact"] == 24.0
    # resolve() and a handoff stamp the same way
    second.resolve()
    assert store.get("c2").ended_at == LAST_YEAR + timedelta(days=1, minutes=30)  # type: ignore[union-attr]


def test_decide_records_each_conversation_at_its_last_timestamp() -> None:
    store = MemoryHistoryStore()
    engine = engine_with(MemoryHistoryStore())
    conversation = Conversation(
        id="old",
        customer_id="u1",
        turns=[
            user("where is my refund", intent="refund", timestamp=LAST_YEAR),
            Turn(role="bot", text="Here it is.", timestamp=LAST_YEAR + timedelta(minutes=5)),
            Turn(role="bot", text="Bye."),
        ],
    )
    engine.decide(conversation, history=store, record=True)
    record = store.get("old")
    assert record is not None and record.ended_at == LAST_YEAR + timedelta(minutes=5)


def test_customer_attributes_are_signals() -> None:
    engine = engine_with(MemoryHistoryStore())
    session = engine.session("c1", customer_id="u1", customer={"tier": 2, "vulnerable": True})
    decision = session.observe(user("this is ridiculous"))
    assert decision.rule == "valued-and-upset"
    plain = engine.session("c2", customer_id="u1").observe(user("this is ridiculous"))
    assert plain.action == "continue"
    assert plain.signals is not None and plain.signals["customer.tier"] is None
    with pytest.raises(InputError, match="unknown customer attribute"):
        engine.session("c3", customer={"shoe": 1})
    conversation = Conversation(
        id="r", turns=[user("this is ridiculous")], metadata={"customer": {"tier": 3}}
    )
    assert engine.decide(conversation)[0].rule == "valued-and-upset"


def test_a_policy_naming_history_needs_a_history_store(tmp_path: Path) -> None:
    with pytest.raises(
        PolicyError, match=r"names the history signal 'history\.contacts_same_topic_7d'"
    ):
        parse_policy(HISTORY_POLICY, history=False)
    with pytest.raises(PolicyError, match="no history store"):
        Engine(parse_policy(HISTORY_POLICY), affect=KeywordAffect())
    path = tmp_path / "p.yaml"
    path.write_text(HISTORY_POLICY)
    with pytest.raises(PolicyError, match=r"p\.yaml:5: rules -> 0 -> when: names the history"):
        Engine.from_policy(path, affect=KeywordAffect(), history=None)  # type: ignore[arg-type]
    engine = Engine(parse_policy(DIALOGUE_POLICY, affect=False))
    with pytest.raises(PolicyError, match="history"):
        engine.reload(path)
    with pytest.raises(PolicyError, match="history"):
        engine.reload(parse_policy(HISTORY_POLICY))


class BrokenHistory(MemoryHistoryStore):
    def __init__(self, contacts: Iterable[ContactRecord] = ()) -> None:
        self.fail_reads = False
        self.fail_writes = False
        self.reads = 0
        super().__init__(contacts)

    def recent(self, customer_id: str, **kw: Any) -> list[ContactRecord]:
        self.reads += 1
        if self.fail_reads:
            raise TimeoutError("history slow")
        return super().recent(customer_id, **kw)

    def record_many(self, contacts: Iterable[ContactRecord]) -> int:
        if self.fail_writes:
            raise ConnectionError("history down")
        return super().record_many(contacts)


def test_a_failing_history_read_follows_on_error_and_is_retried() -> None:
    store = BrokenHistory([earlier("a", days_ago=1), earlier("b", days_ago=2)])
    store.fail_reads = True
    clock = Clock()
    engine = engine_with(store, clock)
    session = engine.session("c1", customer_id="u1")
    # upset: whether this is a repeat contact decides, and the history cannot say
    decision = session.observe(user("my refund, this is ridiculous", intent="refund"))
    assert (decision.action, decision.guard) == ("offer_human", "on_error")
    assert "history store: TimeoutError: history slow" in (decision.reasons[-1].detail or "")
    assert "'repeat-contact' needs history.contacts_same_topic_7d" in str(decision.reasons[-1])
    # calm: no rule can hold whatever the history says, so the failure changes nothing
    again = session.observe(user("hello?"))
    assert (again.action, again.guard) == ("continue", None)
    assert again.reasons[-1].code == "degraded"
    # while the store is down it is not asked again at every turn
    assert "unavailable, retrying shortly" in str(again.reasons[-1])
    assert store.reads == 1
    store.fail_reads = False
    clock.advance(hours=1 / 3600)  # one second later the store is still left alone
    assert "unavailable" in str(session.observe(user("so annoying, useless")).reasons[-1])
    clock.advance(hours=5 / 3600)  # the retry delay has passed
    recovered = session.observe(user("this is ridiculous"))
    assert recovered.rule == "repeat-contact" and recovered.guard is None


@pytest.mark.parametrize("policy", ["default", HISTORY_POLICY])
def test_a_customer_who_asks_for_a_person_gets_one_while_the_history_is_down(policy: str) -> None:
    store = BrokenHistory([earlier("a", days_ago=1), earlier("b", days_ago=2)])
    store.fail_reads = True
    compiled = load_policy(policy) if policy == "default" else parse_policy(policy)
    engine = Engine(compiled, affect=KeywordAffect(), history=store, clock=lambda: NOW)
    decision = engine.session("c1", customer_id="u1").observe(user("Get me a person"))
    assert (decision.action, decision.rule, decision.guard) == ("handoff", "explicit_request", None)
    failure = decision.reasons[-1]
    assert failure.code == "degraded" and "history store: TimeoutError" in str(failure.detail)
    assert [f.message for f in decision.failures] == [failure.detail]


def test_a_failing_history_does_not_matter_to_a_policy_without_history() -> None:
    store = BrokenHistory()
    store.fail_reads = True
    engine = Engine(parse_policy(DIALOGUE_POLICY, affect=False), history=store)
    decision = engine.session("c1", customer_id="u1").observe(user("hello there"))
    assert decision.action == "continue" and decision.guard is None


def test_a_failed_write_is_queued_seen_by_reads_and_flushed_later() -> None:
    store = BrokenHistory([earlier("a", days_ago=1)])
    store.fail_writes = True
    clock = Clock()
    engine = engine_with(store, clock)
    first = engine.session("c1", customer_id="u1")
    first.observe(user("refund", intent="refund"))
    handoff = first.observe(user("a human please"))
    assert handoff.action == "handoff" and handoff.guard is None
    assert engine.pending_contacts == 1 and store.get("c1") is None
    # the queued contact already counts for the customer's next conversation
    clock.advance()
    second = engine.session("c2", customer_id="u1")
    assert second.observe(user("ridiculous", intent="refund")).rule == "repeat-contact"
    assert engine.pending_contacts == 2
    assert engine.flush_history() == 2
    store.fail_writes = False
    assert engine.flush_history() == 0
    assert store.get("c1").outcome == "handed_off"  # type: ignore[union-attr]
    assert store.get("c2").outcome == "handed_off"  # type: ignore[union-attr]


def test_the_write_queue_is_bounded() -> None:
    store = BrokenHistory()
    store.fail_writes = True
    gateway = HistoryGateway(store, clock=lambda: NOW, capacity=3)
    for i in range(5):
        gateway.record(earlier(f"c{i}", days_ago=0.5, outcome="resolved"))
    assert gateway.pending == 3
    store.fail_writes = False
    gateway.close()
    assert sorted(
        c.conversation_id
        for c in store.recent("u1", since=NOW - timedelta(1), until=NOW + timedelta(1))
    ) == ["c2", "c3", "c4"]


def test_concurrent_engines_on_one_store_lose_no_turn() -> None:
    sessions = MemorySessionStore()
    engines = [
        Engine(parse_policy(DIALOGUE_POLICY, affect=False), sessions=sessions) for _ in range(4)
    ]

    def work(k: int) -> None:
        session = engines[k].session("shared")
        for i in range(50):
            session.observe(user(f"engine {k} says {i}"))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    state = sessions.load("shared")
    assert state is not None and state.version == len(state.turns) == 200


@pytest.mark.skipif(sys.platform != "linux", reason="the XDG data directory is Linux's")
def test_the_default_history_is_in_the_user_data_directory_never_the_working_one(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("ESCALATE_HISTORY_URL", raising=False)
    monkeypatch.delenv("ESCALATE_DATA_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    engine = Engine.from_policy("dialogue_only", affect=None)
    expected = tmp_path / "xdg" / "escalate" / "history.db"
    assert isinstance(engine.history, SQLHistoryStore)
    assert engine.history.url.database == str(expected)
    session = engine.session("c1", customer_id="u1")
    session.observe(user("hello there friend"))
    assert not expected.exists()  # nothing recorded yet, nothing created
    session.observe(user("a human please"))
    assert expected.exists()
    engine.close()
    assert list(work.iterdir()) == []  # the working directory is left alone
    # ESCALATE_DATA_DIR names the folder
    monkeypatch.setenv("ESCALATE_DATA_DIR", str(tmp_path / "data"))
    engine = Engine.from_policy("dialogue_only", affect=None)
    assert engine.history.url.database == str(tmp_path / "data" / "history.db")  # type: ignore[union-attr]


def test_configuration_by_url_and_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("ESCALATE_SESSION_URL", raising=False)
    engine = Engine.from_policy("dialogue_only", affect=None)
    assert isinstance(engine.sessions, MemorySessionStore)
    monkeypatch.setenv("ESCALATE_HISTORY_URL", f"sqlite:///{tmp_path / 'env.db'}")
    monkeypatch.setenv("ESCALATE_SESSION_URL", REDIS_URL)
    engine = Engine.from_policy("dialogue_only", affect=None)
    assert isinstance(engine.sessions, RedisSessionStore)
    assert (
        isinstance(engine.history, SQLHistoryStore) and engine.history._file == tmp_path / "env.db"
    )
    monkeypatch.setenv("ESCALATE_HISTORY_URL", "none")
    assert Engine.from_policy("dialogue_only", affect=None).history is None
    engine = Engine.from_policy(
        "dialogue_only", affect=None, sessions="memory://", history="memory://"
    )
    assert isinstance(engine.sessions, MemorySessionStore)
    assert isinstance(engine.history, MemoryHistoryStore)


def test_redis_sessions_and_postgres_history_across_an_engine_restart() -> None:
    with redis_sessions() as sessions, postgres_history() as history:

        def build() -> Engine:
            return Engine(
                parse_policy(HISTORY_POLICY),
                affect=KeywordAffect(),
                sessions=RedisSessionStore(REDIS_URL, prefix=sessions.prefix),
                history=history,
                clock=lambda: NOW,
            )

        history.record_many([earlier("a", days_ago=1), earlier("b", days_ago=2)])
        before = build().session("c1", customer_id="u1")
        assert before.observe(user("I want my refund", intent="refund")).action == "continue"
        after = build().session("c1", customer_id="u1")  # a new process, the same conversation
        decision = after.observe(user("this is ridiculous"))
        assert decision.rule == "repeat-contact" and decision.turn == 1
        record = history.get("c1")
        assert record is not None and record.outcome == "handed_off" and record.topic == "refund"


def test_garbage_in_the_session_store_follows_on_error_and_recovers() -> None:
    with redis_sessions() as sessions:
        client = redis.Redis.from_url(REDIS_URL)
        client.hset(sessions.prefix + "c1", mapping={"v": "7", "s": "garbage"})
        engine = Engine(parse_policy(DIALOGUE_POLICY, affect=False), sessions=sessions)
        decision = engine.session("c1").observe(user("hello"))
        assert decision.guard == "on_error" and "not a valid session state" in str(
            decision.reasons[-1]
        )
        state = sessions.load("c1")
        assert state is not None and state.version == 1  # overwritten with a fresh state
        client.close()


def test_a_session_store_that_is_down_never_raises() -> None:
    engine = Engine(
        parse_policy(DIALOGUE_POLICY, affect=False),
        sessions=RedisSessionStore("redis://127.0.0.1:1/0", timeout=0.3),
        history=MemoryHistoryStore(),
    )
    session = engine.session("c1", customer_id="u1")
    decision = session.observe(user("hello"))
    assert decision.guard == "on_error" and "session store" in str(decision.reasons[-1])
    # the on_error handoff still reaches the history
    assert decision.action == "handoff"
    assert engine.history is not None and engine.history.get("c1").outcome == "handed_off"  # type: ignore[union-attr]
    session.resolve()
    session.end(outcome="resolved")
    with pytest.raises(StoreError):
        session.state()


def test_every_shipped_policy_that_reads_history_is_refused_without_a_store() -> None:
    from escalate import load_policy, shipped_policies

    default = load_policy("default")
    assert {"history.contacts_same_topic_7d", "history.unresolved_same_topic_30d"} <= set(
        default.signal_names
    )
    for name in shipped_policies():
        policy = load_policy(name)
        if any(n.startswith("history.") for n in policy.signal_names):
            with pytest.raises(PolicyError, match="no history store"):
                load_policy(name, history=False)


def test_the_default_policy_on_a_sqlite_history(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'history.db'}"
    engine = Engine.from_policy("default", affect=KeywordAffect(), history=url)  # type: ignore[arg-type]
    for i in range(2):
        session = engine.session(f"c{i}", customer_id="u1")
        session.observe(user("where is my refund", intent="refund"))
        session.end(outcome="abandoned")
    decision = engine.session("c2", customer_id="u1").observe(
        user("this is ridiculous", intent="refund")
    )
    assert (decision.rule, decision.queue) == ("repeat-contact", "retention")
    engine.close()
    # a restarted process reads the same file
    again = Engine.from_policy("default", affect=KeywordAffect(), history=url)  # type: ignore[arg-type]
    assert (
        again.session("c3", customer_id="u1")
        .observe(user("this is ridiculous", intent="refund"))
        .rule
        == "repeat-contact"
    )


def test_one_garbage_record_does_not_stop_history_for_everyone(tmp_path: Path) -> None:
    import sqlalchemy as sa

    store = SQLHistoryStore(f"sqlite:///{tmp_path / 'h.db'}")
    store.record_many([earlier("a", days_ago=1), earlier("b", days_ago=2)])
    store.record(earlier("bad", days_ago=1).model_copy(update={"customer_id": "u2"}))
    with store._ensure().begin() as conn:
        conn.execute(
            sa.update(store.contacts)
            .where(store.contacts.c.customer_id == "u2")
            .values(outcome="?")
        )
    engine = engine_with(store)
    broken = engine.session("x", customer_id="u2").observe(user("useless", intent="refund"))
    assert broken.guard == "on_error" and "invalid record" in str(broken.reasons[-1])
    fine = engine.session("y", customer_id="u1").observe(user("ridiculous", intent="refund"))
    assert fine.rule == "repeat-contact"


def test_the_shipped_model_matches_topics_with_its_own_encoder() -> None:
    yesterday = datetime.now(UTC) - timedelta(days=1)
    store = MemoryHistoryStore(
        [
            ContactRecord(
                customer_id="u1",
                conversation_id=cid,
                started_at=yesterday,
                text=text,
                outcome="abandoned",
            )
            for cid, text in (("a", "my parcel never arrived"), ("b", "how do I reset my password"))
        ]
    )
    engine = Engine.from_policy("default", history=store)
    assert engine.embedder is engine.affect
    assert engine.topic_similarity == engine.affect.topic_similarity  # type: ignore[union-attr]
    decision = engine.session("c1", customer_id="u1").observe(
        user("the package I ordered has not been delivered")
    )
    assert decision.signals is not None
    # no word in common with the parcel contact, yet the same problem; not the password one
    assert decision.signals["history.contacts_same_topic_7d"] == 1


def test_a_model_that_cannot_embed_leaves_topics_to_the_hashing_embedder() -> None:
    class NoEmbeddings(KeywordAffect):
        has_embeddings = False

        def embed(self, texts: Any) -> Any:
            raise AssertionError("must not be called")

    engine = Engine(
        parse_policy(HISTORY_POLICY), affect=NoEmbeddings(), history=MemoryHistoryStore()
    )
    assert isinstance(engine.embedder, HashingEmbedder)
    assert engine.topic_similarity == 0.3
