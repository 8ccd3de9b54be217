"""Assemble the handoff packet from a conversation's state: a pure function of its inputs."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime

from escalate.affect.embedding import TextEmbedder
from escalate.engine.state import SessionState
from escalate.models import ContactRecord, Fact, HandoffPacket, Priority, Reason, Signals, Turn
from escalate.packet.facts import FactExtractor
from escalate.packet.opener import OpenerContext, choose_opener, opener_slots, reason_families
from escalate.packet.redact import Redactor
from escalate.packet.summary import bot_attempts, issue_summary, latest_emotions, turn_affect
from escalate.policy.schema import REDACT_TYPES, PacketConfig
from escalate.signals.dialogue import DialogueConfig

__all__ = ["build_packet"]

_DEFAULT_CONFIG = PacketConfig()
_EXTRACTOR = FactExtractor()
#: Fact types that are personal data in their own right, by redaction kind.
_FACT_REDACT_KIND = {"email": "email", "phone": "phone", "postcode": "postcode",
                     "address": "address", "person_name": "person_name"}  # fmt: skip


def build_packet(
    state: SessionState,
    *,
    rule: str | None,
    queue: str | None,
    priority: Priority | None,
    reasons: Sequence[Reason],
    signals: Mapping[str, float | None] | Signals,
    created_at: datetime,
    history: Sequence[ContactRecord] = (),
    config: PacketConfig = _DEFAULT_CONFIG,
    embedder: TextEmbedder | None = None,
    dialogue: DialogueConfig | None = None,
) -> HandoffPacket:
    """Build the packet a human agent receives when a conversation is handed off.

    Parameters
    ----------
    state:
        The conversation's state, including the turn that triggered the handoff.
    rule, queue, priority, reasons, signals:
        The decision: which rule handed off, where to, and why (with the values).
    created_at:
        When the handoff happened (the triggering turn's timestamp, or now).
    history:
        The customer's earlier contacts, oldest first; each counts as one contact.
    config:
        The policy's ``packet:`` section (redaction, opener templates, ...).
    embedder:
        Sentence embeddings for the issue summary; a hashing embedder when ``None``.
    dialogue:
        The policy's ``dialogue:`` section, to recognise fallbacks and requests for a
        human; the defaults when ``None``.

    Examples
    --------
    >>> from datetime import datetime, UTC
    >>> state = SessionState(conversation_id="c1", turns=(
    ...     Turn(role="user", text="My refund of £89.99 for order 4481-2231 never came."),
    ...     Turn(role="bot", text="Refunds take 5 days.", intent="refund_policy"),
    ...     Turn(role="user", text="Get me a human please")))
    >>> p = build_packet(state, rule="asked-for-human", queue="billing", priority="high",
    ...                  reasons=[Reason(code="asked-for-human", signal="human_request",
    ...                                  op=">=", threshold=0.8, value=0.97)],
    ...                  signals={}, created_at=datetime(2026, 5, 4, tzinfo=UTC))
    >>> p.issue
    'My refund of £89.99 for order 4481-2231 never came.'
    >>> [(f.type, f.value) for f in p.facts]
    [('amount', '89.99 GBP'), ('order_id', '4481-2231')]
    >>> p.opener
    "Thanks for waiting. I have everything you've told us about your refund of £89.99, so there's no need to repeat anything — I'll take it from here."
    """
    dialogue = dialogue or DialogueConfig()
    turns = list(state.turns)
    facts = _EXTRACTOR.extract_turns(turns)
    counts: Counter[str] = Counter()
    customer_id = state.customer_id
    reasons = list(reasons)
    history = list(history)
    if config.redact:
        redactor = Redactor(config.redact_types, extractor=_EXTRACTOR)
        turns, facts = _redact_turns(turns, facts, redactor, counts)
        extra: Counter[str] = Counter()  # personal data outside the transcript: not counted
        if customer_id is not None:
            customer_id = redactor.redact(customer_id)[0]
        reasons = [
            r.model_copy(update={"detail": redactor.redact(r.detail)[0]}) if r.detail else r
            for r in reasons
        ]
        history = [
            h.model_copy(
                update={
                    "text": redactor.redact_value(h.text, extra),
                    "topic": redactor.redact_value(h.topic, extra),
                }
            )
            for h in history
        ]

    summary = issue_summary(
        turns, sentences=config.summary_sentences, embedder=embedder, dialogue=dialogue
    )
    attempts = bot_attempts(turns, dialogue)
    contacts = len(history) + 1
    slots = opener_slots(
        turns=turns,
        facts=facts,
        issue_texts=[q.text for q in summary.quotes],
        contacts=contacts,
        fallbacks=sum(a.fallback for a in attempts),
    )
    context = OpenerContext(
        rule=rule,
        families=tuple(reason_families(rule, reasons)),
        emotions=latest_emotions(state.user_affect),
        contacts=contacts,
        slots=slots,
    )
    omitted = 0
    transcript = turns
    if config.max_transcript_turns is not None and len(turns) > config.max_transcript_turns:
        omitted = len(turns) - config.max_transcript_turns
        transcript = turns[omitted:]
    values = signals.as_mapping() if isinstance(signals, Signals) else signals
    return HandoffPacket(
        conversation_id=state.conversation_id,
        customer_id=customer_id,
        channel=state.channel,
        created_at=created_at,
        rule=rule,
        queue=queue,
        priority=priority,
        reasons=reasons,
        transcript=transcript,
        transcript_omitted=omitted,
        signals=dict(values),
        issue=summary.issue,
        issue_quotes=summary.quotes,
        latest_message=summary.latest,
        facts=facts,
        bot_attempts=attempts,
        affect=turn_affect(turns, state.user_affect, top=config.top_emotions),
        history=history,
        opener=choose_opener(context, config.openers),
        redacted=config.redact,
        redactions=dict(sorted(counts.items())),
    )


def _redact_turns(
    turns: list[Turn], facts: list[Fact], redactor: Redactor, counts: Counter[str]
) -> tuple[list[Turn], list[Fact]]:
    """Redact every turn's text and metadata; mark the facts that fall in a redacted span."""
    spans: dict[int, list[tuple[int, int, str]]] = {}
    out: list[Turn] = []
    for index, turn in enumerate(turns):
        update: dict[str, object] = {}
        if turn.text:
            found = redactor.spans(turn.text)
            spans[index] = found
            if found:
                text, turn_counts = redactor.apply(turn.text, found)
                counts.update(turn_counts)
                update["text"] = text
        if turn.metadata:
            update["metadata"] = redactor.redact_value(turn.metadata, counts)
        out.append(turn.model_copy(update=update) if update else turn)
    redacted: list[Fact] = []
    for fact in facts:
        kind = _FACT_REDACT_KIND.get(fact.type)
        if kind not in redactor.types:
            kind = next(
                (k for s, e, k in spans.get(fact.turn, []) if fact.start < e and s < fact.end),
                None,
            )
        if kind is None:
            redacted.append(fact)
            continue
        placeholder = REDACT_TYPES[kind]
        redacted.append(
            fact.model_copy(update={"text": placeholder, "value": placeholder, "redacted": True})
        )
    return out, redacted
