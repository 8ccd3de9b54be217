"""A Rasa action server with escalate's action.

Serve it to a Rasa assistant (needs ``pip install 'escalate[rasa]'``)::

    python -m rasa_sdk --actions examples.rasa_action      # or: rasa run actions

and run ``action_escalate`` after each user message (a rule in ``data/rules.yml``), with
the slots of ``escalate.integrations.rasa.SLOTS`` in the domain. Run this file to see the
action answer the calls a Rasa server makes as a conversation goes on::

    python examples/rasa_action.py
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from rasa_sdk.executor import ActionExecutor

from escalate.integrations.rasa import EscalateAction


class ActionEscalate(EscalateAction):
    """Found by the action server; decides with the shipped default policy."""

    policy = "default"
    offer_message = "Would you like me to put you through to a colleague?"


def user(text: str, intent: str, confidence: float) -> dict[str, Any]:
    return {
        "event": "user",
        "timestamp": time.time(),
        "text": text,
        "parse_data": {"intent": {"name": intent, "confidence": confidence}},
        "input_channel": "rest",
    }


def bot(text: str, utter: str) -> dict[str, Any]:
    return {
        "event": "bot",
        "timestamp": time.time(),
        "text": text,
        "metadata": {"utter_action": utter},
    }


def call(events: list[dict[str, Any]], sender: str = "web-7731") -> dict[str, Any]:
    """What a Rasa server posts to the action server's webhook."""
    return {
        "next_action": "action_escalate",
        "sender_id": sender,
        "tracker": {"sender_id": sender, "slots": {}, "latest_message": events[-1],
                    "events": events, "paused": False, "latest_action_name": "action_listen"},
        "domain": {},
        "version": "3.6.0",
    }  # fmt: skip


async def main() -> None:
    executor = ActionExecutor()
    executor.register_action(ActionEscalate)
    events = [{"event": "session_started"}]
    for message, intent, confidence, reply in [
        ("I was charged twice for my subscription", "billing", 0.81,
         ("Our billing team can help. What's the invoice number?", "utter_ask_invoice")),
        ("I don't have it. Just get me a human please", "request_human", 0.97, None),
    ]:  # fmt: skip
        events.append(user(message, intent, confidence))
        print(f"customer: {message}")
        result = await executor.run(call(events))
        answer = result["events"] if isinstance(result, dict) else result.events
        responses = result["responses"] if isinstance(result, dict) else result.responses
        print("  events:", json.dumps([{k: e.get(k) for k in ("event", "name")} for e in answer]))
        for response in responses:
            handoff = (response.get("custom") or {}).get("handoff")
            print(
                f"  bot: {response['text']}" + (f" [packet: {handoff['rule']}]" if handoff else "")
            )
        if reply:
            events.append(bot(*reply))
            print(f"  bot: {reply[0]}")


if __name__ == "__main__":
    asyncio.run(main())
