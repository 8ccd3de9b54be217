"""LangGraph (the ``langgraph`` extra): an LLM agent hands off on the same policy as any bot.

:class:`EscalationGate` gives a graph three pieces:

* :meth:`~EscalationGate.observe`, a node: it observes the agent's messages that the
  session has not seen (human messages as user turns, AI messages as bot turns) and
  writes the decision into the state's ``escalation`` key;
* :meth:`~EscalationGate.route`, a conditional edge: to the human step when the decision
  hands off, else on to the agent;
* :meth:`~EscalationGate.human`, the human step: it pauses the graph with LangGraph's
  ``interrupt``, handing the packet to whoever resumes it, and adds the person's reply
  (``Command(resume="...")``) to the messages as an AI message named ``human_agent``.

The conversation is the graph's thread (``configurable.thread_id``); a ``customer_id``
in ``configurable`` names the customer. The graph needs a checkpointer (for the interrupt)
and a state with ``messages`` and ``escalation``: :class:`EscalationState`.

Examples
--------
>>> import escalate
>>> from langchain_core.messages import AIMessage
>>> from langgraph.checkpoint.memory import InMemorySaver
>>> from langgraph.graph import END, START, StateGraph
>>> from langgraph.types import Command
>>> gate = EscalationGate(escalate.Engine.from_policy("dialogue_only", affect=None, history=None))
>>> builder = StateGraph(EscalationState)
>>> _ = builder.add_node("escalate", gate.observe)
>>> _ = builder.add_node("agent", lambda state: {"messages": [AIMessage("Let me check that.")]})
>>> _ = builder.add_node("human", gate.human)
>>> _ = builder.add_edge(START, "escalate")
>>> _ = builder.add_conditional_edges("escalate", gate.route, ["agent", "human"])
>>> _ = builder.add_edge("agent", END)
>>> _ = builder.add_edge("human", END)
>>> graph = builder.compile(checkpointer=InMemorySaver())
>>> config = {"configurable": {"thread_id": "t1"}}
>>> result = graph.invoke({"messages": [("user", "Where is my order?")]}, config)
>>> result["escalation"]["action"], result["messages"][-1].content
('continue', 'Let me check that.')
>>> result = graph.invoke({"messages": [("user", "Get me a human")]}, config)
>>> result["__interrupt__"][0].value["packet"]["rule"]
'explicit_request'
>>> result = graph.invoke(Command(resume="Hi, Sam here."), config)
>>> result["messages"][-1].name, result["messages"][-1].content
('human_agent', 'Hi, Sam here.')
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, NotRequired

from escalate.engine import Engine
from escalate.errors import MissingExtraError
from escalate.integrations._sessions import observe_new
from escalate.integrations.importers.langchain import (
    HANDOFF_TOOLS,
    HUMAN_AGENT,
    to_messages,
    turns_from_messages,
)

try:
    from langchain_core.messages import AIMessage
    from langchain_core.runnables import RunnableConfig
    from langgraph.graph import MessagesState
    from langgraph.types import interrupt
except ImportError:
    raise MissingExtraError("The LangGraph adapter", "langgraph") from None

__all__ = ["EscalationGate", "EscalationState"]


class EscalationState(MessagesState):
    """A graph state with the messages and the latest decision (``Decision`` as JSON)."""

    escalation: NotRequired[dict[str, Any] | None]


class EscalationGate:
    """The engine as LangGraph nodes and a conditional edge (see the module's example).

    Parameters
    ----------
    engine:
        The engine that decides (one per process, shared by every graph).
    human, agent:
        The node names :meth:`route` returns: the human step and the next node otherwise
        (``"__end__"``, LangGraph's ``END``, ends the turn).
    route_on:
        The actions that go to the human step (by default only ``handoff``; the agent can
        read ``state["escalation"]`` to offer a person on ``offer_human``).
    agent_names, handoff_tools:
        AI messages by these names are the person's (agent turns); a call to one of
        these tools is a takeover, as in the LangChain importer.

    Examples
    --------
    >>> import escalate
    >>> gate = EscalationGate(escalate.Engine.from_policy("dialogue_only", affect=None, history=None))
    >>> update = gate.observe({"messages": [("user", "Get me a human")]},
    ...                       {"configurable": {"thread_id": "t9"}})
    >>> update["escalation"]["action"], gate.route(update)
    ('handoff', 'human')
    """

    def __init__(
        self,
        engine: Engine,
        *,
        human: str = "human",
        agent: str = "agent",
        route_on: Iterable[str] = ("handoff",),
        agent_names: Iterable[str] = (HUMAN_AGENT,),
        handoff_tools: Iterable[str] = HANDOFF_TOOLS,
    ) -> None:
        self.engine = engine
        self.human_node = human
        self.agent_node = agent
        self.route_on = frozenset(route_on)
        self.agent_names = tuple(agent_names)
        self.handoff_tools = tuple(handoff_tools)

    def observe(self, state: dict[str, Any], config: RunnableConfig) -> dict[str, Any]:
        """The node: observe the new messages; ``{"escalation": decision}`` (JSON), or the
        previous decision when no new user message came."""
        configurable = config.get("configurable") or {}
        thread = configurable.get("thread_id")
        if not thread:
            raise ValueError("configurable.thread_id: the graph needs a thread id (a checkpointer)")
        session = self.engine.session(str(thread), customer_id=configurable.get("customer_id"))
        mapped = turns_from_messages(
            to_messages(state.get("messages") or []),
            agent_names=self.agent_names,
            handoff_tools=self.handoff_tools,
        )
        decision = observe_new(session, mapped.turns)
        if decision is None:
            return {"escalation": state.get("escalation")}
        return {"escalation": decision.model_dump(mode="json")}

    def route(self, state: dict[str, Any]) -> str:
        """The conditional edge: the human step when the decision's action is one of
        ``route_on``, else the agent."""
        decision = state.get("escalation") or {}
        return self.human_node if decision.get("action") in self.route_on else self.agent_node

    def human(self, state: dict[str, Any]) -> dict[str, Any]:
        """The human step: pause with the packet (``interrupt``); on resume, add the
        person's reply as an AI message named ``human_agent``."""
        decision = state.get("escalation") or {}
        reply = interrupt(
            {
                "type": "handoff",
                "conversation_id": decision.get("conversation_id"),
                "queue": decision.get("queue"),
                "priority": decision.get("priority"),
                "rule": decision.get("rule"),
                "packet": decision.get("packet"),
            }
        )
        if reply is None or reply == "":
            return {}
        name = self.agent_names[0] if self.agent_names else HUMAN_AGENT
        return {"messages": [AIMessage(content=str(reply), name=name)]}
