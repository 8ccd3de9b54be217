"""An LLM agent on LangGraph that hands off to a person on escalate's policy.

Run it from the project root (needs ``pip install 'escalate[langgraph]'``)::

    python examples/langgraph_agent.py

The agent is a chat model (a scripted stand-in here; put your own, such as
``ChatOpenAI``, in its place). Before the agent answers, escalate observes the
conversation; when the policy hands off, the graph pauses with LangGraph's ``interrupt``
and the packet goes to whoever resumes it: here, a person who types a reply.
"""

from __future__ import annotations

import json
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

import escalate
from escalate.integrations.langgraph import EscalationGate, EscalationState


def build(engine: escalate.Engine, model: BaseChatModel) -> Any:
    """The graph: escalate observes, then the agent answers or a person takes over."""

    def agent(state: EscalationState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    gate = EscalationGate(engine)
    builder = StateGraph(EscalationState)
    builder.add_node("escalate", gate.observe)
    builder.add_node("agent", agent)
    builder.add_node("human", gate.human)
    builder.add_edge(START, "escalate")
    builder.add_conditional_edges("escalate", gate.route, ["agent", "human"])
    builder.add_edge("agent", END)
    builder.add_edge("human", END)
    return builder.compile(checkpointer=InMemorySaver())


def main() -> None:
    engine = escalate.Engine.from_policy("default", history="memory://")
    model = GenericFakeChatModel(
        messages=iter(
            [
                AIMessage("I'm sorry to hear that. Could you give me the order number?"),
                AIMessage("Thanks. I can't find order 4481-2231. Could you check the number?"),
            ]
        )
    )
    graph = build(engine, model)
    config = {"configurable": {"thread_id": "web-7731", "customer_id": "cust-102"}}
    for text in (
        "My parcel never arrived and it was a birthday present.",
        "It's 4481-2231, I already told you that.",
        "This is useless. Let me talk to a real person.",
    ):
        print(f"customer: {text}")
        result = graph.invoke({"messages": [("user", text)]}, config)
        if "__interrupt__" in result:
            handoff = result["__interrupt__"][0].value
            print(f"-> handoff to {handoff['queue']} ({handoff['rule']})")
            print(json.dumps({k: handoff["packet"][k] for k in ("issue", "opener")}, indent=2))
            result = graph.invoke(Command(resume="Hi, I'm Sam. I've found your parcel."), config)
        print(f"{result['messages'][-1].name or 'agent'}: {result['messages'][-1].content}")


if __name__ == "__main__":
    main()
