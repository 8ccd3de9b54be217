"""The handoff packet: everything a human agent needs so the customer never has to repeat
themselves.

:func:`build_packet` assembles a :class:`~escalate.models.HandoffPacket` from a
conversation's state and the decision that handed it off: the facts the customer gave
(:mod:`~escalate.packet.facts`), the issue in their words and what the bot tried
(:mod:`~escalate.packet.summary`), a suggested opening line for the agent
(:mod:`~escalate.packet.opener`), with personal data redacted when the policy asks
(:mod:`~escalate.packet.redact`). :mod:`~escalate.packet.formats` renders it as JSON
(with a published JSON Schema), Markdown, or a Bot Framework ``handoff.initiate`` event.

Examples
--------
>>> from datetime import datetime, UTC
>>> from escalate import SessionState, Turn
>>> from escalate.packet import build_packet, to_markdown
>>> state = SessionState(conversation_id="c1", customer_id="u9",
...                      turns=(Turn(role="user", text="Where is order 4481-2231?"),))
>>> packet = build_packet(state, rule="asked-for-human", queue="general", priority="high",
...                       reasons=[], signals={}, created_at=datetime(2026, 5, 4, tzinfo=UTC))
>>> packet.facts[0].value
'4481-2231'
>>> to_markdown(packet).startswith("# Handoff: c1")
True
"""

from escalate.models import BotAttempt, Fact, HandoffPacket, Quote, TurnAffect
from escalate.packet.build import build_packet
from escalate.packet.facts import FactExtractor, conversation_facts, extract_facts
from escalate.packet.formats import packet_json_schema, to_bot_framework, to_json, to_markdown
from escalate.packet.opener import DEFAULT_OPENERS, choose_opener, reason_families
from escalate.packet.redact import Redactor, redact_text
from escalate.packet.summary import IssueSummary, issue_summary
from escalate.policy.schema import OpenerTemplate, PacketConfig

__all__ = [
    "DEFAULT_OPENERS",
    "BotAttempt",
    "Fact",
    "FactExtractor",
    "HandoffPacket",
    "IssueSummary",
    "OpenerTemplate",
    "PacketConfig",
    "Quote",
    "Redactor",
    "TurnAffect",
    "build_packet",
    "choose_opener",
    "conversation_facts",
    "extract_facts",
    "issue_summary",
    "packet_json_schema",
    "reason_families",
    "redact_text",
    "to_bot_framework",
    "to_json",
    "to_markdown",
]
