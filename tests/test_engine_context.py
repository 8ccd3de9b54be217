"""Customer messages are scored with what came before them, live and in replay alike;
bot turns can be decided; empty messages are kept but not scored."""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import escalate
from escalate.affect.base import EMOTION_LABELS, AffectScores, MessageContext
from escalate.errors import PolicyError
from escalate.models import Conversation, Turn
from escalate.policy import parse_policy
from escalate.stores.session import MemorySessionStore


class ContextRecorder:
    """An affect model that reads context: dissatisfied when the bot promised a wait."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, MessageContext | None]] = []
        self.prepared: list[str] = []
        self._lock = threading.Lock()

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        return self.predict_in_context(texts, [None] * len(texts))

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        with self._lock:
            self.seen.extend(zip(texts, contexts, strict=True))
        out = []
        for text, context in zip(texts, contexts, strict=True):
            waited = context is not None and context.bot is not None and "days" in context.bot
            late = "months" in text
            out.append(
                AffectScores(
                    sentiment={"negative": 0.2, "neutral": 0.7, "positive": 0.1},
                    emotions=dict.fromkeys(EMOTION_LABELS, 0.0),
                    human_request=0.9 if "person" in text else 0.01,
                    dissatisfaction=0.9 if waited and late else 0.1,
                    distress=0.0,
                )
            )
        return out

    def prepare(self, texts: Sequence[str]) -> None:
        with self._lock:
            self.prepared.extend(texts)


POLICY = """\
version: 1
rules:
  - id: dissatisfied
    when: dissatisfaction >= 0.8
    then: {action: offer_human}
"""

BOT_TURN_POLICY = """\
version: 1
decide_on: [user, bot]
rules:
  - id: second-fallback
    on: bot
    description: hand over instead of sending a second fallback
    when: dialogue.consecutive_fallbacks >= 2
    then: {action: handoff}
  - id: asked
    when: dialogue.asked_for_human
    then: {action: handoff}
"""


def engine(text: str, affect: object | None = None) -> escalate.Engine:
    policy = parse_policy(text, affect=affect is not None)
    return escalate.Engine(policy, affect=affect, history=None)  # type: ignore[arg-type]


def test_the_same_words_after_different_bot_messages_decide_differently() -> None:
    model = ContextRecorder()
    e = engine(POLICY, model)
    late = e.session("a")
    late.observe(Turn(role="user", text="Where is my refund?"))
    late.observe(Turn(role="bot", text="Refunds take 5-7 days."))
    assert late.observe(Turn(role="user", text="It's been four months.")).action == "offer_human"
    fact = e.session("b")
    fact.observe(Turn(role="bot", text="How long have you had the device?"))
    assert fact.observe(Turn(role="user", text="It's been four months.")).action == "continue"
    contexts = dict(model.seen)
    assert contexts["Where is my refund?"] == MessageContext(bot=None, user=None)
    assert model.seen[1] == (
        "It's been four months.",
        MessageContext(bot="Refunds take 5-7 days.", user="Where is my refund?"),
    )
    # b's bot message came before any customer message: never context, not prepared
    assert model.prepared == ["Refunds take 5-7 days."]


turns = st.lists(
    st.tuples(
        st.sampled_from(["user", "bot", "agent"]),
        st.sampled_from(["", "hi", "it's been months", "Refunds take days.", "no", "ok"]),
    ),
    min_size=1,
    max_size=10,
)


@settings(max_examples=60)
@given(turns)
def test_replay_reads_the_contexts_a_live_session_read(pairs: list[tuple[str, str]]) -> None:
    conversation = Conversation(
        id="c",
        turns=[Turn(role=role, text=text) for role, text in pairs],  # type: ignore[arg-type]
    )
    live_model, replay_model = ContextRecorder(), ContextRecorder()
    session = engine(POLICY, live_model).session("c")
    observed = [session.observe(t) for t in conversation.turns]
    replayed = engine(POLICY, replay_model).decide(conversation)
    assert [
        d for d in observed if d.role == "user" and conversation.turns[d.turn].role == "user"
    ] == [d for d in replayed]
    assert live_model.seen == replay_model.seen
    # only customer messages with text are scored
    scored = [t.text for t in conversation.turns if t.role == "user" and t.has_text]
    assert [text for text, _ in replay_model.seen] == scored


class EncodingRecorder(ContextRecorder):
    """A context model that hands out encodings and records what it had to encode."""

    def __init__(self) -> None:
        super().__init__()
        self.encoded: list[str] = []

    def predict_encoded(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> tuple[list[AffectScores], list[bytes | None]]:
        with self._lock:
            for c in contexts:
                if c is not None:
                    self.encoded.extend(
                        t
                        for t, e in ((c.bot, c.bot_encoding), (c.user, c.user_encoding))
                        if t and e != t.encode()
                    )
        return self.predict_in_context(texts, contexts), self.encode(texts)

    def encode(self, texts: Sequence[str]) -> list[bytes | None]:
        with self._lock:
            self.encoded.extend(texts)
        return [t.encode() for t in texts]


def on_store(model: EncodingRecorder, store: MemorySessionStore) -> escalate.Engine:
    return escalate.Engine(parse_policy(POLICY, affect=True), affect=model, sessions=store)


def test_a_customer_turn_encodes_only_its_own_message() -> None:
    model, store = EncodingRecorder(), MemorySessionStore()
    session = on_store(model, store).session("a")
    session.observe(Turn(role="user", text="Where is my refund?"))
    session.observe(Turn(role="bot", text="Refunds take 5-7 days."))
    model.encoded.clear()
    assert session.observe(Turn(role="user", text="It's been four months.")).action == (
        "offer_human"
    )
    assert model.encoded == ["It's been four months."]  # its context came from the state
    state = session.state()
    assert state is not None and len(state.encodings) == 2  # the latest bot and user only
    # a second engine on the same store (another worker) reads the encodings too
    second = EncodingRecorder()
    on_store(second, store).session("a").observe(Turn(role="user", text="Still nothing."))
    assert second.encoded == ["Still nothing."]


class CountingStore(MemorySessionStore):
    """Counts the engine's reads of saved states (not the compare-and-set's own)."""

    def __init__(self) -> None:
        super().__init__()
        self.loads = 0
        self._saving = False

    def load(self, conversation_id: str) -> escalate.SessionState | None:
        self.loads += not self._saving
        return super().load(conversation_id)

    def save_if(self, state: escalate.SessionState, expected_version: int) -> bool:
        self._saving = True
        try:
            return super().save_if(state, expected_version)
        finally:
            self._saving = False


def test_a_customer_turn_reads_the_store_once() -> None:
    store = CountingStore()
    session = on_store(EncodingRecorder(), store).session("a")
    session.observe(Turn(role="user", text="Where is my refund?"))
    session.observe(Turn(role="bot", text="Refunds take 5-7 days."))
    store.loads = 0
    session.observe(Turn(role="user", text="It's been four months."))
    assert store.loads == 1  # the state read for the context is the one the turn is saved on


def test_a_greeting_is_not_encoded_and_a_bot_turn_reads_the_store_once() -> None:
    model, store = EncodingRecorder(), CountingStore()
    session = on_store(model, store).session("a")
    session.observe(Turn(role="bot", text="Hi! How can I help you today?"))
    assert model.encoded == []  # never the context of anything: not encoded
    state = session.state()
    assert state is not None and state.encodings == {}
    session.observe(Turn(role="user", text="Where is my refund?"))
    model.encoded.clear()
    store.loads = 0
    session.observe(Turn(role="bot", text="Refunds take 5-7 days."))
    assert model.encoded == ["Refunds take 5-7 days."]
    assert store.loads == 1


class Interrupted(EncodingRecorder):
    """While it scores "It's been four months.", another worker saves a turn of the same
    conversation (once)."""

    def __init__(self, other: escalate.Engine) -> None:
        super().__init__()
        self.other = other
        self.interrupted = False

    def predict_encoded(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> tuple[list[AffectScores], list[bytes | None]]:
        if texts == ["It's been four months."] and not self.interrupted:
            self.interrupted = True
            self.other.session("a").observe(Turn(role="bot", text="Refunds take 5-7 days."))
        return super().predict_encoded(texts, contexts)


def test_a_turn_saved_by_another_worker_meanwhile_is_kept_and_read_as_context() -> None:
    store = MemorySessionStore()
    other = on_store(EncodingRecorder(), store)
    model = Interrupted(other)
    session = on_store(model, store).session("a")
    session.observe(Turn(role="user", text="Where is my refund?"))
    decision = session.observe(Turn(role="user", text="It's been four months."))
    state = session.state()
    assert state is not None
    assert [t.text for t in state.turns] == [
        "Where is my refund?",
        "Refunds take 5-7 days.",
        "It's been four months.",
    ]
    # scored first with the context it read, then again on the state the other worker saved
    assert [c for _, c in model.seen[1:]] == [
        MessageContext(user="Where is my refund?"),
        MessageContext(bot="Refunds take 5-7 days.", user="Where is my refund?"),
    ]
    assert decision.action == "offer_human"


def test_an_encoding_the_model_cannot_read_is_encoded_again() -> None:
    model, store = EncodingRecorder(), MemorySessionStore()
    session = on_store(model, store).session("a")
    session.observe(Turn(role="user", text="Where is my refund?"))
    session.observe(Turn(role="bot", text="Refunds take 5-7 days."))
    state = session.state()
    assert state is not None and len(state.encodings) == 2
    broken = state.model_copy(update={"encodings": dict.fromkeys(state.encodings, "not base64!")})
    store.save(broken)
    model.encoded.clear()
    assert session.observe(Turn(role="user", text="It's been months.")).action == "offer_human"
    assert model.encoded == ["Refunds take 5-7 days.", "Where is my refund?", "It's been months."]


def test_a_greeting_before_the_first_message_is_not_its_context() -> None:
    model = ContextRecorder()
    session = engine(POLICY, model).session("c")
    session.observe(Turn(role="bot", text="Hi! Your refund takes 5-7 days. How can I help?"))
    assert session.observe(Turn(role="user", text="It's been months")).action == "continue"
    session.observe(Turn(role="bot", text="Refunds take 5-7 days."))
    assert session.observe(Turn(role="user", text="It's been months")).action == "offer_human"
    assert [c for _, c in model.seen] == [
        MessageContext(),
        MessageContext(bot="Refunds take 5-7 days.", user="It's been months"),
    ]


def test_shipped_model_scores_alike_from_kept_encodings_and_afresh() -> None:
    from escalate.affect import OnnxAffectModel

    turns = [
        Turn(role="user", text="Where is my refund?"),
        Turn(role="bot", text="Refunds take 5-7 days."),
        Turn(role="user", text="It's been four months."),
        Turn(role="bot", text="Is there anything else I can help with?"),
        Turn(role="user", text="Put me through to a person."),
    ]
    live = escalate.Engine.from_policy(
        "default", affect=OnnxAffectModel.default(cache_size=0), history="memory://"
    ).session("c")
    for turn in turns:
        live.observe(turn)
    state = live.state()
    assert state is not None and len(state.encodings) == 2
    fresh = OnnxAffectModel.default(cache_size=0).predict_in_context(
        [t.text or "" for t in turns if t.role == "user"],
        [
            MessageContext(),
            MessageContext(bot="Refunds take 5-7 days.", user="Where is my refund?"),
            MessageContext(
                bot="Is there anything else I can help with?", user="It's been four months."
            ),
        ],
    )
    assert list(state.user_affect) == fresh


def test_an_empty_message_is_kept_but_not_scored() -> None:
    model = ContextRecorder()
    e = engine(POLICY, model)
    conversation = Conversation(
        id="c",
        turns=[
            Turn(role="user", text="Where is my parcel?"),
            Turn(role="bot", text="It is on its way."),
            Turn(role="user", text=""),  # a photo of the empty doorstep
            Turn(role="user", text="It's been months"),
        ],
    )
    decisions = e.decide(conversation)
    assert [d.turn for d in decisions] == [0, 2, 3]
    assert [t for t, _ in model.seen] == ["Where is my parcel?", "It's been months"]
    # the empty message is not the context of the next one
    assert model.seen[-1][1] == MessageContext(bot="It is on its way.", user="Where is my parcel?")


def test_a_policy_can_hand_over_before_a_second_fallback_is_sent() -> None:
    e = engine(BOT_TURN_POLICY)
    s = e.session("c")
    assert s.observe(Turn(role="user", text="I need to move my appointment")).action == "continue"
    first = s.observe(Turn(role="bot", text="Sorry, I didn't get that.", event="fallback"))
    assert (first.role, first.action) == ("bot", "continue")
    s.observe(Turn(role="user", text="move my appointment to Friday"))
    second = s.observe(Turn(role="bot", text="Sorry, I didn't get that.", event="fallback"))
    assert (second.role, second.action, second.rule) == ("bot", "handoff", "second-fallback")
    assert second.packet is not None


def test_replay_reports_bot_turn_decisions_only_when_the_policy_decides_on_them() -> None:
    conversation = Conversation(
        id="c",
        turns=[
            Turn(role="user", text="hello"),
            Turn(role="bot", event="fallback"),
            Turn(role="user", text="hello?"),
            Turn(role="bot", event="fallback"),
        ],
    )
    with_bot = engine(BOT_TURN_POLICY).decide(conversation)
    assert [(d.turn, d.role, d.action) for d in with_bot] == [
        (0, "user", "continue"),
        (1, "bot", "continue"),
        (2, "user", "continue"),
        (3, "bot", "handoff"),
    ]
    user_only = engine(
        BOT_TURN_POLICY.replace("decide_on: [user, bot]\n", "").replace("    on: bot\n", "")
    ).decide(conversation)
    assert [d.role for d in user_only] == ["user", "user"]


def test_bot_turns_never_meet_the_explicit_request() -> None:
    text = BOT_TURN_POLICY + (
        "guards:\n  explicit_request:\n    when: dialogue.human_requests >= 1\n"
        "    then: {action: handoff}\n"
    )
    e = engine(text.replace("    on: bot\n", "    on: any\n"))
    s = e.session("c")
    s.observe(Turn(role="bot", text="Welcome!"))
    decision = s.observe(Turn(role="bot", text="How can I help?"))
    assert decision.action == "continue"


def test_a_rule_on_bot_turns_needs_the_policy_to_decide_on_them() -> None:
    with pytest.raises(PolicyError) as info:
        parse_policy(BOT_TURN_POLICY.replace("decide_on: [user, bot]\n", ""), affect=False)
    (problem,) = info.value.problems
    assert problem.line == 4 and "add bot to decide_on" in problem.message
    with pytest.raises(PolicyError, match="at most once"):
        parse_policy(BOT_TURN_POLICY.replace("[user, bot]", "[user, user]"), affect=False)
