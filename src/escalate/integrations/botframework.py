"""Bot Framework (the ``botframework`` extra): middleware that hands off with ``handoff.initiate``.

Add :class:`EscalateMiddleware` to the adapter (``adapter.use(EscalateMiddleware(engine))``).
On every message from the user it observes the message (as the transcript importer maps
it), keeps the decision in ``turn_context.turn_state["escalate.decision"]`` for the bot's
own logic, and records the bot's replies as bot turns. When the decision hands off, it
sends an optional message to the customer, then the Bot Framework handoff event
``handoff.initiate``: ``value`` is the handoff context (the packet without its
transcript) and the attachment is the transcript, as
:func:`escalate.packet.to_bot_framework` builds them; the bot's own logic is then
skipped for that turn (``run_bot_on_handoff=False``, the default), since a person takes
over. The conversation is ``activity.conversation.id``, the customer ``from.id``.

Examples
--------
>>> import asyncio, escalate
>>> from botbuilder.core import TurnContext
>>> from botbuilder.core.adapters import TestAdapter
>>> async def echo(context: TurnContext) -> None:
...     await context.send_activity(f"You said: {context.activity.text}")
>>> adapter = TestAdapter(echo)
>>> _ = adapter.use(EscalateMiddleware(
...     escalate.Engine.from_policy("dialogue_only", affect=None, history=None)))
>>> async def chat() -> list[str]:
...     await adapter.receive_activity("Where is my parcel?")
...     await adapter.receive_activity("Get me a human")
...     return [f"{a.serialize()['type']}:{a.name or a.text}" for a in adapter.activity_buffer]
>>> asyncio.run(chat())
['message:You said: Where is my parcel?', "message:I'm passing you to a colleague who can help.", 'event:handoff.initiate']
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from escalate.engine import Engine, Session
from escalate.errors import MissingExtraError
from escalate.integrations.importers.botframework import turns_from_activities
from escalate.models import Decision
from escalate.packet import to_bot_framework

try:
    from botbuilder.core import Middleware, TurnContext
    from botbuilder.schema import Activity, ActivityTypes, ResourceResponse
except ImportError:
    raise MissingExtraError("The Bot Framework middleware", "botframework") from None

__all__ = ["DECISION_KEY", "EscalateMiddleware"]

#: Where the middleware leaves the decision for the bot's logic in ``turn_state``.
DECISION_KEY = "escalate.decision"


class EscalateMiddleware(Middleware):  # type: ignore[misc]
    """Bot Framework middleware over an escalate engine (see the module).

    Parameters
    ----------
    engine:
        The engine that decides.
    handoff_message:
        Sent to the customer before ``handoff.initiate`` (``None``: nothing).
    run_bot_on_handoff:
        Run the bot's own logic on the turn that hands off (default: no).

    Examples
    --------
    >>> import escalate
    >>> middleware = EscalateMiddleware(escalate.Engine.from_policy("dialogue_only", affect=None))
    >>> middleware.handoff_message
    "I'm passing you to a colleague who can help."
    """

    def __init__(
        self,
        engine: Engine,
        *,
        handoff_message: str | None = "I'm passing you to a colleague who can help.",
        run_bot_on_handoff: bool = False,
    ) -> None:
        self.engine = engine
        self.handoff_message = handoff_message
        self.run_bot_on_handoff = run_bot_on_handoff

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable[Any]]) -> None:
        """Observe the user's message, hand off when the policy says so, else run the bot."""
        activity = context.activity
        if activity.type != ActivityTypes.message or not activity.conversation:
            await logic()
            return
        data = activity.serialize()
        data["from"] = {**(data.get("from") or {}), "role": "user"}
        turns = turns_from_activities([data]).turns
        sender = activity.from_property.id if activity.from_property else None
        session = self.engine.session(
            activity.conversation.id,
            customer_id=sender,
            channel=(activity.channel_id or "chat")[:50],
        )
        decision: Decision | None = None
        for turn in turns:
            decision = await session.aobserve(turn)
        context.turn_state[DECISION_KEY] = decision
        context.on_send_activities(self._recorder(session))
        if decision is not None and decision.action == "handoff" and decision.packet is not None:
            if self.handoff_message:
                await context.send_activity(self.handoff_message)
            event = Activity().deserialize(to_bot_framework(decision.packet))
            await context.send_activity(event)
            if not self.run_bot_on_handoff:
                return
        await logic()

    @staticmethod
    def _recorder(
        session: Session,
    ) -> Callable[
        [TurnContext, list[Activity], Callable[[], Awaitable[list[ResourceResponse]]]],
        Awaitable[list[ResourceResponse]],
    ]:
        async def record(
            context: TurnContext,
            activities: list[Activity],
            send: Callable[[], Awaitable[list[ResourceResponse]]],
        ) -> list[ResourceResponse]:
            replies = []
            for activity in activities:
                if activity.type == ActivityTypes.message:
                    data = activity.serialize()
                    data["from"] = {**(data.get("from") or {}), "role": "bot"}
                    replies.append(data)
            for turn in turns_from_activities(replies).turns:
                await session.aobserve(turn)
            return await send()

        return record
