"""Rasa (the ``rasa`` extra): a custom action that decides on the tracker's events.

:class:`EscalateAction` is a Rasa SDK action. Run it after every user message (a rule
``- action: action_escalate`` after the user's intent, or from your policies): it maps
the tracker's events of the current session to turns (exactly as the Rasa importer
does), observes the ones its session has not seen, and returns

* on a handoff: the slots ``escalate_action``, ``escalate_rule``, ``escalate_queue``,
  ``escalate_priority`` and ``escalate_packet`` (the packet as JSON), a handoff message
  with the packet attached (``custom: {"handoff": packet}``, what an agent-desk
  channel reads), and ``ConversationPaused`` so the bot stops answering;
* on an offer of a person (when ``offer_message`` is set): that message;
* otherwise the two slots ``escalate_action`` and ``escalate_rule``.

Declare the slots in the domain (``type: any``, ``influence_conversation: false``,
``mappings: [{type: custom}]``); :data:`SLOTS` lists them. The conversation id is the
tracker's sender id (``sender_id#2`` for its second session...), so replayed Rasa dumps
and live decisions share their ids.

Examples
--------
>>> import asyncio, escalate
>>> from rasa_sdk import Tracker
>>> from rasa_sdk.executor import CollectingDispatcher
>>> action = EscalateAction(escalate.Engine.from_policy("dialogue_only", affect=None, history=None))
>>> tracker = Tracker("u1", {}, {}, [{"event": "user", "text": "get me a human",
...     "parse_data": {"intent": {"name": "request_human", "confidence": 0.97}}}],
...     False, None, {}, "action_listen")
>>> dispatcher = CollectingDispatcher()
>>> events = asyncio.run(action.run(dispatcher, tracker, {}))
>>> [e["event"] for e in events][-1], dispatcher.messages[0]["custom"]["handoff"]["rule"]
('pause', 'explicit_request')
"""

from __future__ import annotations

import asyncio
from typing import Any, ClassVar

from escalate.engine import Engine
from escalate.errors import MissingExtraError
from escalate.integrations._sessions import observe_new
from escalate.integrations.importers.rasa import sessions, turns_from_events

try:
    from rasa_sdk import Action, Tracker
    from rasa_sdk.events import ConversationPaused, SlotSet
    from rasa_sdk.executor import CollectingDispatcher
except ImportError:
    raise MissingExtraError("The Rasa action", "rasa") from None

__all__ = ["SLOTS", "EscalateAction"]

#: The slots the action sets; declare them in the domain.
SLOTS = (
    "escalate_action",
    "escalate_rule",
    "escalate_queue",
    "escalate_priority",
    "escalate_packet",
)


class EscalateAction(Action):  # type: ignore[misc]
    """A Rasa SDK custom action over an escalate engine (see the module).

    Register an instance with the action server's executor
    (``executor.register_action(EscalateAction(engine))``), or subclass it with class
    attributes, which the action server's package discovery instantiates::

        class ActionEscalate(EscalateAction):
            policy = "policies/retail.yaml"

    Parameters
    ----------
    engine:
        The engine; by default one built from the class attribute ``policy`` when the
        action first runs (shared by every instance of the class).
    action_name:
        The action's name in the domain.
    handoff_message:
        What the customer reads when handed off (``None``: nothing).
    offer_message:
        What the customer reads when offered a person (``None``: nothing).
    pause:
        Pause the conversation (``ConversationPaused``) on a handoff.

    Examples
    --------
    >>> import escalate
    >>> EscalateAction(escalate.Engine.from_policy("dialogue_only", affect=None)).name()
    'action_escalate'
    """

    policy: ClassVar[str] = "default"
    action_name: ClassVar[str] = "action_escalate"
    handoff_message: ClassVar[str | None] = "I'm passing you to a colleague who can help."
    offer_message: ClassVar[str | None] = None
    pause: ClassVar[bool] = True
    _shared: ClassVar[Engine | None] = None

    def __init__(
        self,
        engine: Engine | None = None,
        *,
        action_name: str | None = None,
        handoff_message: str | None = "",
        offer_message: str | None = "",
        pause: bool | None = None,
    ) -> None:
        self._engine = engine
        self._name = action_name or type(self).action_name
        self._handoff = type(self).handoff_message if handoff_message == "" else handoff_message
        self._offer = type(self).offer_message if offer_message == "" else offer_message
        self._pause = type(self).pause if pause is None else pause

    @property
    def engine(self) -> Engine:
        """The engine that decides."""
        if self._engine is None:
            cls = type(self)
            if cls._shared is None:
                cls._shared = Engine.from_policy(cls.policy)
            self._engine = cls._shared
        return self._engine

    def name(self) -> str:
        """The action's name in the domain."""
        return self._name

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        """Observe the tracker's new events and return the events for the decision."""
        split = [events for _, events in sessions(list(tracker.events or []))] or [[]]
        earlier = sum(1 for events in split[:-1] if turns_from_events(events).turns)
        sender = str(tracker.sender_id)
        conversation_id = sender if earlier == 0 else f"{sender}#{earlier + 1}"
        mapped = turns_from_events(split[-1])
        session = self.engine.session(
            conversation_id, customer_id=sender, channel=mapped.channel or "chat"
        )
        decision = await asyncio.to_thread(observe_new, session, mapped.turns)
        if decision is None:
            return []
        out: list[dict[str, Any]] = [
            SlotSet("escalate_action", decision.action),
            SlotSet("escalate_rule", decision.rule),
        ]
        if decision.action == "handoff" and decision.packet is not None:
            packet = decision.packet.model_dump(mode="json")
            out += [
                SlotSet("escalate_queue", decision.queue),
                SlotSet("escalate_priority", decision.priority),
                SlotSet("escalate_packet", packet),
            ]
            dispatcher.utter_message(text=self._handoff, json_message={"handoff": packet})
            if self._pause:
                out.append(ConversationPaused())
        elif decision.action == "offer_human" and self._offer:
            dispatcher.utter_message(text=self._offer)
        return out
