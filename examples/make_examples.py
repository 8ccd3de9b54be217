"""Write the example data the README's commands read: labelled chats and messages.

Run from the project root (the files are committed; run it again after editing the
scenarios below)::

    python examples/make_examples.py

It writes

- ``examples/chats.jsonl.gz``: 100 labelled conversations (gzip-compressed JSON Lines),
  for ``escalate replay``, ``compare`` and ``sweep``;
- ``examples/history.jsonl``: 60 other labelled conversations, for ``escalate tune``.

Every conversation is put together from the short scripted scenarios below (written for
this project; no real customer's words), with a seeded random choice of phrasings, order
numbers, customers and times, so the output is the same on every run. A conversation is
labelled ``escalate: true`` when its scenario needs a person, with ``turn`` the user turn
at which a person should have taken over.
"""

from __future__ import annotations

import gzip
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent

Turn = dict[str, Any]
Scenario = Callable[[random.Random], tuple[list[Turn], int | None]]


def user(text: str, intent: str | None = None) -> Turn:
    turn: Turn = {"role": "user", "text": text}
    if intent:
        turn["intent"] = intent
    return turn


def bot(text: str, intent: str | None = None, event: str | None = None) -> Turn:
    turn: Turn = {"role": "bot", "text": text}
    if intent:
        turn["intent"] = intent
    if event:
        turn["event"] = event
    return turn


FALLBACK = [
    "Sorry, I didn't understand that. Could you rephrase?",
    "I'm not sure I follow. Can you say that another way?",
    "Sorry, I didn't get that.",
]


def fallback(rng: random.Random) -> Turn:
    return bot(rng.choice(FALLBACK), intent="fallback", event="fallback")


def order_number(rng: random.Random) -> str:
    return f"{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}"


# -- scenarios that the bot handles ---------------------------------------------------------


def order_status(rng: random.Random) -> tuple[list[Turn], int | None]:
    number = order_number(rng)
    ask = rng.choice(
        [
            f"Hi, where is my order {number}?",
            f"Can you tell me when order {number} will arrive?",
            f"I'd like an update on my order {number} please",
        ]
    )
    thanks = rng.choice(["Great, thanks!", "Perfect, thank you", "ok cheers"])
    return [
        user(ask, "order_status"),
        bot(f"Order {number} left our warehouse and should arrive on Thursday.", "order_status"),
        user(thanks, "thanks"),
        bot("You're welcome. Anything else?", "anything_else"),
    ], None


def password_reset(rng: random.Random) -> tuple[list[Turn], int | None]:
    ask = rng.choice(
        [
            "I forgot my password",
            "How do I reset my password?",
            "I can't log in, I think my password is wrong",
        ]
    )
    return [
        user(ask, "reset_password"),
        bot("I've sent a reset link to the email on your account.", "reset_password"),
        user(rng.choice(["Got it, that worked", "Done, I'm in now. Thanks"]), "thanks"),
    ], None


def opening_hours(rng: random.Random) -> tuple[list[Turn], int | None]:
    return [
        user(rng.choice(["What time do you open on Saturday?", "Are you open on Sundays?"])),
        bot("We're open 9am to 5pm on Saturdays and closed on Sundays.", "opening_hours"),
        user("Thanks"),
    ], None


def address_after_one_miss(rng: random.Random) -> tuple[list[Turn], int | None]:
    number = order_number(rng)
    return [
        user("I need to change where my parcel goes", "change_address"),
        fallback(rng),
        user(f"Change the delivery address for order {number}", "change_address"),
        bot("Sure. What is the new address?", "ask_address"),
        user(rng.choice(["12 Mill Lane, Leeds LS1 4AB", "Flat 3, 8 Park Road, Bristol BS8 1TH"])),
        bot("Done: the new address is saved.", "change_address"),
        user(rng.choice(["Thank you so much, brilliant", "Great, thanks"]), "thanks"),
    ], None


def cancel_subscription(rng: random.Random) -> tuple[list[Turn], int | None]:
    return [
        user(rng.choice(["Please cancel my subscription", "I want to stop my monthly plan"])),
        bot("I can do that. Your plan ends at the end of this billing period.", "cancel"),
        user(rng.choice(["Fine, thanks", "OK that's what I wanted"]), "thanks"),
    ], None


def venting_but_solved(rng: random.Random) -> tuple[list[Turn], int | None]:
    """Annoyed at first, but the bot fixes it: no person needed (a hard negative)."""
    number = order_number(rng)
    return [
        user(
            rng.choice(
                [
                    f"Ugh, my order {number} is late again, so annoying",
                    f"Honestly this is frustrating, order {number} still isn't here",
                ]
            ),
            "order_status",
        ),
        bot(f"Sorry about that. Order {number} is out for delivery today.", "order_status"),
        user(rng.choice(["Oh good, fine then", "OK, thanks for checking"]), "thanks"),
    ], None


# -- scenarios that need a person -----------------------------------------------------------


def quiet_give_up(rng: random.Random) -> tuple[list[Turn], int | None]:
    """The bot fails and the customer just goes quiet: a person was needed (a hard positive)."""
    return [
        user(rng.choice(["My invoice shows the wrong VAT number", "The invoice has my old name"])),
        fallback(rng),
        user(rng.choice(["The VAT number on it", "The name on the invoice"])),
        bot("You can download invoices from your account page.", "download_invoice"),
        user(rng.choice(["ok", "hmm"])),
    ], 4


def asks_for_a_person(rng: random.Random) -> tuple[list[Turn], int | None]:
    ask = rng.choice(
        [
            "Can I just speak to a real person please?",
            "I want to talk to a human agent",
            "Put me through to someone from your team",
            "agent please",
        ]
    )
    return [
        user("I was charged twice for the same subscription this month", "billing"),
        bot("I can help with billing. Could you tell me the invoice number?", "ask_invoice"),
        user(ask, "transfer_agent"),
    ], 2


def bot_stuck(rng: random.Random) -> tuple[list[Turn], int | None]:
    problem = rng.choice(
        [
            "My discount code doesn't work at checkout",
            "The app crashes when I try to pay",
            "I received the wrong size",
        ]
    )
    return [
        user(problem),
        fallback(rng),
        user(rng.choice(["The code is not accepted", "It keeps crashing", "Wrong size arrived"])),
        fallback(rng),
        user(rng.choice(["This is useless", "You're not listening", "Why is this so hard"])),
    ], 4


def angry_refund(rng: random.Random) -> tuple[list[Turn], int | None]:
    number = order_number(rng)
    return [
        user(f"Where is my refund for order {number}? It's been three weeks", "refund"),
        bot("Refunds take 5 to 10 working days to appear.", "refund_policy"),
        user(
            rng.choice(
                [
                    "That's ridiculous, I've asked three times already and nobody does anything!",
                    "This is the worst service ever. I am furious, just give me my money back",
                    "Absolutely useless. I'm sick of being lied to about this refund",
                ]
            ),
            "refund",
        ),
    ], 2


def worried_customer(rng: random.Random) -> tuple[list[Turn], int | None]:
    return [
        user("There are payments on my account I don't recognise", "fraud"),
        bot("I can help. Can you confirm the last four digits of your card?", "ask_card"),
        user(
            rng.choice(
                [
                    "I'm really scared, someone has taken all my savings and my rent is due",
                    "I'm so worried, I think my account was hacked and I have nothing left",
                ]
            ),
            "fraud",
        ),
    ], 2


def slow_burn(rng: random.Random) -> tuple[list[Turn], int | None]:
    number = order_number(rng)
    return [
        user(f"My order {number} hasn't arrived", "order_status"),
        bot("It shows as delivered yesterday.", "order_status"),
        user("It wasn't delivered, nothing came", "order_status"),
        bot("Please check with your neighbours.", "check_neighbours"),
        user("I already did, this is really annoying", "order_status"),
        bot("Please check with your neighbours.", "check_neighbours"),
        user("You keep saying the same thing. I'm getting really frustrated now"),
    ], 6


HANDLED: list[Scenario] = [
    order_status,
    password_reset,
    opening_hours,
    address_after_one_miss,
    cancel_subscription,
    venting_but_solved,
]
NEEDS_A_PERSON: list[Scenario] = [
    asks_for_a_person,
    bot_stuck,
    angry_refund,
    worried_customer,
    slow_burn,
    quiet_give_up,
]


def conversations(count: int, seed: int, prefix: str) -> list[dict[str, Any]]:
    """``count`` conversations, about a third of them needing a person."""
    rng = random.Random(seed)
    start = datetime(2026, 5, 4, 8, tzinfo=UTC)
    customers = [f"cust-{i:03d}" for i in range(count * 2 // 3)]
    out = []
    for i in range(count):
        scenario = rng.choice(NEEDS_A_PERSON if rng.random() < 0.35 else HANDLED)
        turns, label_turn = scenario(rng)
        moment = start + timedelta(minutes=17 * i + rng.randint(0, 10))
        for turn in turns:
            turn["timestamp"] = moment.isoformat().replace("+00:00", "Z")
            moment += timedelta(seconds=rng.randint(4, 60))
        label: dict[str, Any] = {"escalate": label_turn is not None}
        if label_turn is not None:
            label["turn"] = label_turn
        out.append(
            {
                "id": f"{prefix}-{i:04d}",
                "customer_id": rng.choice(customers),
                "channel": "chat",
                "turns": turns,
                "label": label,
            }
        )
    return out


def jsonl(records: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode("utf-8")


def write(folder: Path = HERE) -> list[Path]:
    """Write the example files into ``folder``; returns their paths."""
    chats = folder / "chats.jsonl.gz"
    chats.write_bytes(gzip.compress(jsonl(conversations(100, seed=1, prefix="chat")), mtime=0))
    history = folder / "history.jsonl"
    history.write_bytes(jsonl(conversations(60, seed=2, prefix="hist")))
    return [chats, history]


if __name__ == "__main__":
    for path in write():
        print(f"wrote {path}")
