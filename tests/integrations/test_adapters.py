"""The adapters, each driven through its real framework: a whole conversation, a handoff,
and the packet arriving where the framework hands off."""

from __future__ import annotations

import asyncio
import runpy
from pathlib import Path
from typing import Any

import pytest
from botbuilder.core import TurnContext
from botbuilder.core.adapters import TestAdapter
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.types import Command
from rasa_sdk.executor import ActionExecutor
from tests.conftest import KeywordAffect

import escalate
from escalate.integrations.botframework import DECISION_KEY, EscalateMiddleware
from escalate.integrations.langgraph import EscalationGate
from escalate.integrations.rasa import SLOTS, EscalateAction

ROOT = Path(__file__).resolve().parents[2]


def engine() -> escalate.Engine:
    return escalate.Engine.from_policy("default", affect=KeywordAffect(), history="memory://")


# -- LangGraph ----------------------------------------------------------------------------


def example(name: str) -> dict[str, Any]:
    return runpy.run_path(str(ROOT / "examples" / name))


def agent_graph(live: escalate.Engine, replies: list[str]) -> Any:
    model = GenericFakeChatModel(messages=iter(AIMessage(r) for r in replies))
    return example("langgraph_agent.py")["build"](live, model)


def test_langgraph_agent_hands_off_through_interrupt_on_the_same_policy() -> None:
    live = engine()
    graph = agent_graph(live, ["Could you give me the order number?", "I can't find that order."])
    config = {"configurable": {"thread_id": "lg-1", "customer_id": "cust-5"}}
    texts = [
        "My parcel 4481-2231 never arrived",
        "I already gave you the number",
        "This is useless, I hate this. Get me a person",
    ]
    actions = []
    for text in texts[:2]:
        result = graph.invoke({"messages": [("user", text)]}, config)
        actions.append(result["escalation"]["action"])
        assert "__interrupt__" not in result
    result = graph.invoke({"messages": [("user", texts[2])]}, config)
    (pause,) = result["__interrupt__"]
    handoff = pause.value
    assert handoff["type"] == "handoff" and handoff["conversation_id"] == "lg-1"
    packet = handoff["packet"]
    assert packet["customer_id"] == "cust-5" and packet["facts"][0]["value"] == "4481-2231"
    assert [t["role"] for t in packet["transcript"]] == ["user", "bot", "user", "bot", "user"]
    resumed = graph.invoke(Command(resume="Hi, Sam here. I've found it."), config)
    assert (resumed["messages"][-1].name, resumed["messages"][-1].content) == (
        "human_agent",
        "Hi, Sam here. I've found it.",
    )
    # the graph decided as the engine decides the same conversation
    conversation = escalate.Conversation(id="replayed", turns=packet["transcript"])
    replayed = engine().decide(conversation)
    assert [d.action for d in replayed if d.role == "user"] == [*actions, "handoff"]
    # every message was observed exactly once; the person's reply on the next observation
    state = live.session("lg-1").state()
    assert state is not None and [t.role for t in state.turns] == ["user", "bot"] * 2 + ["user"]
    gate = EscalationGate(live)
    assert gate.observe(resumed, config)["escalation"] == resumed["escalation"]
    state = live.session("lg-1").state()
    assert state is not None and [t.role for t in state.turns][-2:] == ["user", "agent"]


def test_langgraph_needs_a_thread() -> None:
    gate = EscalationGate(engine())
    with pytest.raises(ValueError, match="thread_id"):
        gate.observe({"messages": [("user", "hi")]}, {"configurable": {}})


# -- Rasa -------------------------------------------------------------------------------


def rasa_call(events: list[dict[str, Any]]) -> dict[str, Any]:
    call: dict[str, Any] = example("rasa_action.py")["call"](events, sender="rasa-user-1")
    return call


def user_event(text: str, intent: str, confidence: float) -> dict[str, Any]:
    return {"event": "user", "text": text, "timestamp": 1777888800.0,
            "parse_data": {"intent": {"name": intent, "confidence": confidence}}}  # fmt: skip


def result_of(result: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    if isinstance(result, dict):
        return result["events"], result["responses"]
    return result.events, result.responses


def test_rasa_action_server_returns_the_handoff_events_with_the_packet() -> None:
    live = engine()
    executor = ActionExecutor()
    executor.register_action(EscalateAction(live, offer_message="Shall I get a colleague?"))
    events: list[dict[str, Any]] = [{"event": "session_started"}]
    events.append(user_event("where is my refund for order 4481-2231", "refund", 0.62))
    first, responses = result_of(asyncio.run(executor.run(rasa_call(events))))
    assert first == [
        {"event": "slot", "timestamp": None, "name": "escalate_action", "value": "continue"},
        {"event": "slot", "timestamp": None, "name": "escalate_rule", "value": None},
    ]
    assert responses == []
    events += [
        {"event": "action", "name": "action_default_fallback"},
        {"event": "bot", "text": "Sorry, I didn't get that.", "metadata": {"utter_action": "utter_default"}},
        user_event("my refund!!", "nlu_fallback", 0.2),
        {"event": "action", "name": "action_default_fallback"},
        {"event": "bot", "text": "Sorry, I didn't get that.", "metadata": {"utter_action": "utter_default"}},
        user_event("you are useless, I want a person", "request_human", 0.95),
    ]  # fmt: skip
    answer, responses = result_of(asyncio.run(executor.run(rasa_call(events))))
    slots = {e["name"]: e["value"] for e in answer if e["event"] == "slot"}
    assert set(slots) == set(SLOTS) and slots["escalate_action"] == "handoff"
    assert answer[-1]["event"] == "pause"
    (message,) = responses
    packet = message["custom"]["handoff"]
    assert packet == slots["escalate_packet"] and packet["facts"][0]["value"] == "4481-2231"
    assert message["text"] == "I'm passing you to a colleague who can help."
    state = live.session("rasa-user-1").state()
    assert state is not None and [(t.role, t.event) for t in state.turns] == [
        ("user", None), ("bot", "fallback"), ("user", None), ("bot", "fallback"), ("user", None)
    ]  # fmt: skip


def test_rasa_offer_message_and_later_sessions() -> None:
    live = escalate.Engine.from_policy("dialogue_only", affect=None, history="memory://")
    executor = ActionExecutor()
    executor.register_action(EscalateAction(live, offer_message="Shall I get a colleague?"))
    events: list[dict[str, Any]] = [{"event": "session_started"}, user_event("hi", "greet", 0.9),
                                    {"event": "session_started"}]  # fmt: skip
    for _ in range(2):
        events += [user_event("change my address", "change_address", 0.4),
                   {"event": "action", "name": "action_default_fallback"}]  # fmt: skip
    events.append(user_event("hello??", "greet", 0.5))
    answer, responses = result_of(asyncio.run(executor.run(rasa_call(events))))
    assert answer[0]["value"] == "offer_human"
    assert [r["text"] for r in responses] == ["Shall I get a colleague?"]
    assert live.session("rasa-user-1#2").state() is not None  # the second session's own id


# -- Bot Framework ----------------------------------------------------------------------


def test_bot_framework_middleware_sends_handoff_initiate_with_the_packet() -> None:
    live = engine()
    seen: list[str | None] = []

    async def bot(context: TurnContext) -> None:
        decision = context.turn_state.get(DECISION_KEY)
        seen.append(decision.action if decision else None)
        await context.send_activity("Sorry, I didn't understand that.")

    adapter = TestAdapter(bot)
    adapter.use(EscalateMiddleware(live))

    async def conversation() -> None:
        await adapter.receive_activity("I want to cancel order 4481-2231")
        await adapter.receive_activity("cancel my order")
        await adapter.receive_activity("I'm furious. Let me talk to a human")

    asyncio.run(conversation())
    sent = adapter.activity_buffer
    assert [a.text for a in sent[:2]] == ["Sorry, I didn't understand that."] * 2
    assert sent[2].text == "I'm passing you to a colleague who can help."
    event = sent[3]
    assert (event.serialize()["type"], event.name) == ("event", "handoff.initiate")
    assert event.value["rule"] == "explicit_request" and event.value["facts"][0]["value"] == (
        "4481-2231"
    )
    transcript = event.attachments[0].content["activities"]
    assert [a["from"]["role"] for a in transcript] == ["user", "bot", "user", "bot", "user"]
    assert len(sent) == 4 and seen == ["continue", "continue"]  # the bot skipped the handoff turn
    conversation_id = event.conversation.id
    state = live.session(conversation_id).state()
    assert state is not None and state.turns[1].role == "bot" and state.turns[1].event is None


# -- Examples ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("example", "expected"),
    [
        ("langgraph_agent.py", "human_agent: Hi, I'm Sam"),
        ("rasa_action.py", '{"event": "pause", "name": null}'),
        ("botframework_bot.py", "-> handoff.initiate to general"),
    ],
)
def test_examples_run(example: str, expected: str, capsys: pytest.CaptureFixture[str]) -> None:
    runpy.run_path(str(ROOT / "examples" / example), run_name="__main__")
    assert expected in capsys.readouterr().out
