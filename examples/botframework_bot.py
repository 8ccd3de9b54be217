"""A Bot Framework bot with escalate's middleware.

In a real bot, add the middleware to the adapter your app already has (needs
``pip install 'escalate[botframework]'``)::

    adapter.use(EscalateMiddleware(escalate.Engine.from_policy("default")))

Run this file to see a conversation go through the middleware on Bot Framework's test
adapter, and the ``handoff.initiate`` event (with the packet) that an agent hub receives::

    python examples/botframework_bot.py
"""

from __future__ import annotations

import asyncio
import json

from botbuilder.core import ActivityHandler, TurnContext
from botbuilder.core.adapters import TestAdapter

import escalate
from escalate.integrations.botframework import DECISION_KEY, EscalateMiddleware


class SupportBot(ActivityHandler):
    """A bot that does not understand much: it falls back, and offers a person when told."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        decision = turn_context.turn_state.get(DECISION_KEY)
        if decision is not None and decision.action == "offer_human":
            await turn_context.send_activity("Would you like to talk to one of my colleagues?")
            return
        await turn_context.send_activity("Sorry, I didn't get that. Could you rephrase?")


async def main() -> None:
    bot = SupportBot()
    adapter = TestAdapter(bot.on_turn)
    adapter.use(EscalateMiddleware(escalate.Engine.from_policy("default", history="memory://")))
    for text in (
        "I need to change the address on my order 4481-2231",
        "change delivery address",
        "This is ridiculous, get me an agent now",
    ):
        print(f"customer: {text}")
        sent = len(adapter.activity_buffer)
        await adapter.receive_activity(text)
        for activity in adapter.activity_buffer[sent:]:
            if activity.name == "handoff.initiate":
                context = activity.value
                print(
                    f"  -> handoff.initiate to {context['queue']} ({context['rule']}); transcript of "
                    f"{len(activity.attachments[0].content['activities'])} activities"
                )
                print(
                    "    "
                    + json.dumps(
                        {"issue": context["issue"], "facts": [f["value"] for f in context["facts"]]}
                    )
                )
            else:
                print(f"  bot: {activity.text}")


if __name__ == "__main__":
    asyncio.run(main())
