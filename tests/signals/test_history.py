from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from escalate.affect.embedding import HashingEmbedder
from escalate.errors import InputError
from escalate.models import ContactRecord, Turn
from escalate.signals.catalog import CATALOG, HISTORY_SIGNALS, requires_history
from escalate.signals.dialogue import DialogueConfig
from escalate.signals.history import (
    HistoryLookup,
    customer_signals,
    history_signals,
    topic_of,
    unknown_history,
)
from escalate.stores.history import MemoryHistoryStore

NOW = datetime(2026, 6, 1, 12, tzinfo=UTC)


def contact(cid: str, *, hours_ago: float, **kw: Any) -> ContactRecord:
    kw.setdefault("outcome", "resolved")
    return ContactRecord(
        customer_id="u1", conversation_id=cid, started_at=NOW - timedelta(hours=hours_ago), **kw
    )


HISTORY = [
    contact("a", hours_ago=2, topic="refund", outcome="abandoned", final_sentiment=-0.6),
    contact("b", hours_ago=30, topic="refund", outcome="handed_off"),
    contact("c", hours_ago=24 * 5, topic="delivery"),
    contact("d", hours_ago=24 * 10, topic="refund"),
    contact("e", hours_ago=24 * 40, topic="refund", outcome="abandoned"),  # outside 30 days
    contact("f", hours_ago=-3, topic="refund"),  # after this conversation started
    contact("self", hours_ago=1, topic="refund"),  # this conversation itself
]


def test_windows_outcomes_and_same_topic_by_intent() -> None:
    values, adopted = history_signals(HISTORY, now=NOW, conversation_id="self", topic="Refund")
    assert adopted is None
    assert values == {
        "history.contacts_24h": 1.0,
        "history.contacts_7d": 3.0,
        "history.contacts_30d": 4.0,
        "history.contacts_same_topic_7d": 2.0,
        "history.contacts_same_topic_30d": 3.0,
        "history.unresolved_30d": 2.0,
        "history.unresolved_same_topic_30d": 2.0,
        "history.handoffs_30d": 1.0,
        "history.abandoned_30d": 1.0,
        "history.hours_since_last_contact": 2.0,
        "history.last_sentiment": -0.6,
    }
    assert set(values) == set(HISTORY_SIGNALS)


def test_same_topic_is_unknown_until_the_topic_is() -> None:
    values, _ = history_signals(HISTORY, now=NOW, conversation_id="self")
    assert values["history.contacts_7d"] == 3.0
    assert values["history.contacts_same_topic_7d"] is None
    assert values["history.unresolved_same_topic_30d"] is None


def test_same_topic_by_text_adopts_the_nearest_contacts_topic() -> None:
    earlier = [
        contact("a", hours_ago=5, text="my parcel never arrived", topic="delivery"),
        contact("b", hours_ago=50, text="I want to reset my password"),
        contact("c", hours_ago=80, topic="delivery", outcome="abandoned"),  # no text, same topic
    ]
    values, adopted = history_signals(
        earlier,
        now=NOW,
        text="where is my parcel, it never arrived",
        embedder=HashingEmbedder(),
        similarity=0.3,
    )
    assert adopted == "delivery"
    assert values["history.contacts_same_topic_7d"] == 2.0
    assert values["history.unresolved_same_topic_30d"] == 1.0
    unrelated, adopted = history_signals(
        earlier, now=NOW, text="can I change my email address", embedder=HashingEmbedder()
    )
    assert adopted is None and unrelated["history.contacts_same_topic_30d"] == 0.0


def test_hours_since_last_contact_uses_the_end_and_older_contacts() -> None:
    ended = contact("a", hours_ago=10, ended_at=NOW - timedelta(hours=4))
    values, _ = history_signals([ended], now=NOW)
    assert values["history.hours_since_last_contact"] == 4.0
    values, _ = history_signals([], now=NOW, last_contact_at=NOW - timedelta(days=60))
    assert values["history.hours_since_last_contact"] == 24 * 60
    assert values["history.contacts_30d"] == 0.0 and values["history.last_sentiment"] is None


def test_lookup_reads_the_store_and_knows_nothing_without_a_customer() -> None:
    store = MemoryHistoryStore(HISTORY)
    lookup = HistoryLookup(store, HashingEmbedder())
    values, _ = lookup.signals("u1", now=NOW, conversation_id="self", topic="refund")
    assert values["history.contacts_same_topic_30d"] == 3.0
    assert lookup.signals(None, now=NOW) == (unknown_history(), None)
    old = MemoryHistoryStore([contact("e", hours_ago=24 * 40)])
    values, _ = HistoryLookup(old, None).signals("u1", now=NOW)
    assert values["history.hours_since_last_contact"] == 24 * 40
    values, _ = HistoryLookup(None, None).signals("u1", now=NOW.replace(tzinfo=None))
    assert values["history.contacts_30d"] == 0.0


@pytest.mark.parametrize(
    ("turn", "expected"),
    [
        (Turn(role="user", text="hi", intent="cancel_order"), ("cancel_order", "intent")),
        (Turn(role="user", text="hello there", intent="greet"), (None, None)),
        (Turn(role="user", text="agent please now", intent="human_handoff"), (None, "text")),
        (Turn(role="user", text="my card was declined"), (None, "text")),
        (Turn(role="user", text="hello?"), (None, None)),
        (Turn(role="bot", text="How can I help you today?", intent="ask"), (None, None)),
    ],
)
def test_topic_of(turn: Turn, expected: tuple[str | None, str | None]) -> None:
    config = DialogueConfig(human_request_intents=["human_handoff"])
    assert topic_of(turn, config) == expected


def test_customer_attributes_are_numbers() -> None:
    assert customer_signals(
        {"tier": 2, "customer.vip": False, "churn_risk": 0.25, "tenure_days": None}
    ) == {
        "customer.tier": 2.0,
        "customer.vip": 0.0,
        "customer.churn_risk": 0.25,
    }
    assert customer_signals(None) == {}
    with pytest.raises(InputError, match="unknown customer attribute") as info:
        customer_signals({"shoe_size": 9})
    assert info.value.field == "customer.shoe_size"
    with pytest.raises(InputError, match="give a tier as a rank") as info:
        customer_signals({"tier": "gold"})
    assert info.value.field == "customer.tier"
    with pytest.raises(InputError, match="finite number"):
        customer_signals({"lifetime_value": float("nan")})


def test_catalogue_lists_history_and_customer_signals() -> None:
    assert CATALOG["history.contacts_same_topic_7d"].source == "history"
    assert CATALOG["customer.vulnerable"].source == "customer"
    assert requires_history("history.contacts_7d")
    assert not requires_history("customer.tier") and not requires_history("nope")
