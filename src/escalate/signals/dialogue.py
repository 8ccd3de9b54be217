"""Dialogue signals: what the turns alone say about how the conversation is going."""

from __future__ import annotations

import difflib
import re
from collections import Counter
from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field, field_validator

from escalate.models import Turn

__all__ = [
    "COUNTER_PREFIX",
    "DialogueAnalyzer",
    "DialogueConfig",
    "DialogueState",
    "normalise",
    "similar",
]

#: Signals of a policy's own counters are named ``dialogue.count.<name>``.
COUNTER_PREFIX = "dialogue.count."
_COUNTER_NAME = re.compile(r"[a-z_][a-z0-9_]*")


class DialogueConfig(BaseModel):
    """How a policy recognises fallbacks, re-prompts, negations, caller-side failures,
    successes and requests for a human.

    Intents and events are matched case-insensitively and exactly; phrases are matched
    case-insensitively as substrings of the message text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback_events: list[str] = Field(
        default_factory=lambda: ["fallback", "no_match", "no_input", "nlu_fallback"]
    )
    fallback_intents: list[str] = Field(
        default_factory=lambda: [
            "fallback",
            "default_fallback",
            "did_not_understand",
            "nlu_fallback",
        ]
    )
    fallback_phrases: list[str] = Field(
        default_factory=lambda: [
            "sorry, i didn't understand",
            "sorry, i did not understand",
            "i didn't get that",
            "i'm not sure i understand",
            "could you rephrase",
            "can you rephrase",
            "i'm sorry, i don't understand",
        ]
    )
    reprompt_intents: list[str] = Field(
        default_factory=lambda: ["rephrase", "reprompt", "repeat_question"]
    )
    negation_intents: list[str] = Field(default_factory=lambda: ["negate", "deny", "correction"])
    negation_phrases: list[str] = Field(
        default_factory=lambda: [
            "that's not what i",
            "that is not what i",
            "not what i asked",
            "not what i meant",
            "that's wrong",
            "that is wrong",
            "you're wrong",
            "no, i said",
            "no i said",
            "i already said",
            "i already told you",
            "you don't understand",
            "you do not understand",
        ]
    )
    #: User turns the bot's language understanding could not use at all (nothing heard,
    #: nothing recognised), matched against the turn's intent or event. Kept apart from
    #: negations: the caller did not contradict the bot, the bot did not get an answer.
    user_failure_intents: list[str] = Field(
        default_factory=lambda: [
            "inconclusive",
            "noise",
            "nlu_fallback",
            "no_match",
            "no_input",
            "out_of_scope",
            "unrecognized",
            "unknown",
        ]
    )
    #: Bot or user turns that mark progress — a task completed or confirmed — matched
    #: against the turn's intent or event.
    success_intents: list[str] = Field(
        default_factory=lambda: [
            "task_completed",
            "task_complete",
            "goal_completed",
            "issue_resolved",
            "resolved",
            "booking_confirmed",
            "order_confirmed",
            "appointment_confirmed",
        ]
    )
    human_request_intents: list[str] = Field(
        default_factory=lambda: [
            "transfer_agent",
            "contact_human_agent",
            "human_handoff",
            "agent_request",
        ]
    )
    human_request_phrases: list[str] = Field(
        default_factory=lambda: [
            "human",
            "real person",
            "live agent",
            "an agent",
            "to an agent",
            "representative",
            "speak to someone",
            "talk to someone",
            "speak to a person",
            "talk to a person",
            "get me a person",
            "speak with someone",
            "talk with someone",
            "manager",
            "supervisor",
            "operator",
            "put me through",
            "transfer me",
            "call me back",
            "callback",
            "call-back",
            "ring me back",
            "phone me back",
        ]
    )
    repeat_similarity: float = Field(default=0.85, gt=0.0, le=1.0)
    #: Named counts of chosen intents or events (of any role): ``{"no_slot":
    #: ["time_unavailable"]}`` gives the signal ``dialogue.count.no_slot``, the number of
    #: turns so far whose intent or event is one of those. For the moments a bot's own
    #: intents tell that a conversation is going wrong (a slot unavailable again, a
    #: payment declined), which the generic counts above do not name.
    counters: dict[str, list[str]] = Field(default_factory=dict)

    @field_validator("counters")
    @classmethod
    def _counter_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, intents in value.items():
            if not _COUNTER_NAME.fullmatch(name):
                raise ValueError(
                    f"counter name {name!r}: use lower-case letters, digits and underscores"
                )
            if not intents:
                raise ValueError(f"counter {name!r} names no intent or event")
        return value


# ---------------------------------------------------------------------------------------
# State and computation
# ---------------------------------------------------------------------------------------

_WORD = re.compile(r"[^\w\s]+", re.UNICODE)
_SPACE = re.compile(r"\s+")
#: A user message shorter than this (after normalising) never counts as a repeat:
#: "yes" twice is two answers, not a customer repeating themselves.
MIN_REPEAT_CHARS = 12


_NUMBER = re.compile(r"\d+")

#: How a customer's answer to a yes/no question starts, after :func:`normalise`. Such an
#: answer given twice is two answers to two questions ("yes that works for me" to two
#: confirmations), not a customer repeating themselves. A correction ("no I said
#: Tuesday") is not among them: a customer who has to correct the bot twice is stuck.
ANSWER_OPENINGS = (
    "yes", "yeah", "yep", "yup", "sure", "ok", "okay", "alright", "sounds good",
    "sounds great", "that works", "that would be", "that is correct", "that s correct",
    "that s right", "that is right", "that s fine", "that is fine", "that s all",
    "that is all", "perfect", "great", "correct", "fine", "thanks", "thank you",
    "no thank", "no thanks", "no not right now", "not right now", "no not at the moment",
    "not at the moment", "not now", "no that s all", "no that is all", "no that will be all",
)  # fmt: skip


def is_answer(text: str) -> bool:
    """Whether a normalised customer message is an answer to a yes/no question.

    >>> is_answer("yes it is good for me"), is_answer("no not right now")
    (True, True)
    >>> is_answer("no i said tuesday not thursday")
    False
    """
    return any(text == o or text.startswith(o + " ") for o in ANSWER_OPENINGS)


def repeats(text: str, earlier: str, threshold: float) -> bool:
    """Whether a normalised message repeats an earlier one: near-duplicates
    (:func:`similar`) with the same numbers. "A table for 3 at 8 pm" after "a table for 2
    at 7 pm" is the bot offering something new, not a loop.

    >>> repeats("refunds take 5 to 10 working days", "refunds take 5 to 10 working days ok", 0.85)
    True
    >>> repeats("a table for 3 at 8 pm in windsor", "a table for 2 at 7 pm in windsor", 0.85)
    False
    """
    return _NUMBER.findall(text) == _NUMBER.findall(earlier) and similar(text, earlier, threshold)


def normalise(text: str) -> str:
    """Lower-case, drop punctuation, collapse whitespace."""
    return _SPACE.sub(" ", _WORD.sub(" ", text.lower())).strip()


def similar(a: str, b: str, threshold: float) -> bool:
    """True when two normalised texts are near-duplicates.

    Their lengths differ by less than the threshold allows (shorter / longer ≥ threshold)
    and their difflib similarity ratio reaches the threshold.

    >>> similar("where is my parcel", "where is my parcel?", 0.85)
    True
    >>> similar("where is my parcel", "where is my refund", 0.85)
    False
    """
    if a == b:
        return True
    longer = max(len(a), len(b))
    if longer == 0 or min(len(a), len(b)) / longer < threshold:
        return False
    # difflib's quick_ratio (shared characters, order ignored) bounds the ratio from above;
    # counted here with Counter, which is several times cheaper than difflib's own.
    shared = sum((Counter(a) & Counter(b)).values())
    if 2.0 * shared / (len(a) + len(b)) < threshold:
        return False
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio() >= threshold


class DialogueState(BaseModel):
    """Running counts over the turns seen so far; advanced one turn at a time.

    The state is plain data (it is saved in session stores between turns), and
    :meth:`DialogueAnalyzer.advance` never mutates it: it returns the next state.
    """

    model_config = ConfigDict(frozen=True)

    turns: int = 0
    user_turns: int = 0
    bot_turns: int = 0
    fallbacks: int = 0
    consecutive_fallbacks: int = 0
    reprompts: int = 0
    bot_repeats: int = 0
    user_repeats: int = 0
    user_repeated: bool = False
    user_negations: int = 0
    human_requests: int = 0
    asked_for_human: bool = False
    user_failures: int = 0
    consecutive_user_failures: int = 0
    successes: int = 0
    user_turns_at_success: int = 0
    last_bot_fallback: bool = False
    last_bot_reprompt: bool = False
    last_bot_repeated: bool = False
    first_at: datetime | None = None
    last_at: datetime | None = None
    gap_seconds: float | None = None
    user_texts: tuple[str, ...] = ()
    bot_texts: tuple[str, ...] = ()
    bot_intents: tuple[str, ...] = ()
    counts: dict[str, int] = Field(default_factory=dict)


def _phrase_pattern(phrases: list[str]) -> re.Pattern[str] | None:
    cleaned = [p.strip().lower() for p in phrases if p.strip()]
    if not cleaned:
        return None
    alternatives = "|".join(re.escape(p) for p in sorted(cleaned, key=len, reverse=True))
    return re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)")


def _lowered(values: list[str]) -> frozenset[str]:
    return frozenset(v.strip().lower() for v in values)


class DialogueAnalyzer:
    """Computes dialogue signals under one :class:`DialogueConfig`.

    Examples
    --------
    >>> from escalate.models import Turn
    >>> analyzer = DialogueAnalyzer(DialogueConfig())
    >>> state = DialogueState()
    >>> for turn in [Turn(role="user", text="I want to change my delivery address"),
    ...              Turn(role="bot", event="fallback"),
    ...              Turn(role="user", text="I want to change my delivery address!")]:
    ...     state = analyzer.advance(state, turn)
    >>> s = analyzer.signals(state)
    >>> s["dialogue.fallbacks"], s["dialogue.user_repeats"], s["dialogue.user_repeated"]
    (1.0, 1.0, 1.0)
    """

    def __init__(self, config: DialogueConfig) -> None:
        self.config = config
        self._fallback_events = _lowered(config.fallback_events)
        self._fallback_intents = _lowered(config.fallback_intents)
        self._reprompt_intents = _lowered(config.reprompt_intents)
        self._negation_intents = _lowered(config.negation_intents)
        self._human_intents = _lowered(config.human_request_intents)
        self._user_failure_intents = _lowered(config.user_failure_intents)
        self._success_intents = _lowered(config.success_intents)
        self._fallback_phrases = _phrase_pattern(config.fallback_phrases)
        self._negation_phrases = _phrase_pattern(config.negation_phrases)
        self._human_phrases = _phrase_pattern(config.human_request_phrases)
        self._counters = {name: _lowered(values) for name, values in config.counters.items()}

    # -- classification of single turns -------------------------------------------------
    def is_fallback(self, turn: Turn) -> bool:
        """A bot turn that says the bot did not understand."""
        if turn.event and turn.event.lower() in self._fallback_events:
            return True
        if turn.intent and turn.intent.lower() in self._fallback_intents:
            return True
        return bool(
            turn.text
            and self._fallback_phrases
            and self._fallback_phrases.search(turn.text.lower())
        )

    def is_reprompt(self, turn: Turn) -> bool:
        """A bot turn that asks its question again."""
        return any(v and v.lower() in self._reprompt_intents for v in (turn.intent, turn.event))

    def is_negation(self, turn: Turn) -> bool:
        """A user turn that corrects or contradicts the bot."""
        if turn.intent and turn.intent.lower() in self._negation_intents:
            return True
        return bool(
            turn.text
            and self._negation_phrases
            and self._negation_phrases.search(turn.text.lower())
        )

    def is_user_failure(self, turn: Turn) -> bool:
        """A user turn the bot's language understanding could not use (noise, nothing recognised)."""
        return any(v and v.lower() in self._user_failure_intents for v in (turn.intent, turn.event))

    def is_success(self, turn: Turn) -> bool:
        """A bot or user turn that marks progress: a task completed or confirmed."""
        return any(v and v.lower() in self._success_intents for v in (turn.intent, turn.event))

    def asks_for_human(self, turn: Turn) -> bool:
        """A user turn that asks for a person, by intent or by keyword."""
        if turn.intent and turn.intent.lower() in self._human_intents:
            return True
        return bool(
            turn.text and self._human_phrases and self._human_phrases.search(turn.text.lower())
        )

    # -- state transitions --------------------------------------------------------------
    def advance(self, state: DialogueState, turn: Turn) -> DialogueState:
        """The state after ``turn``."""
        update: dict[str, object] = {"turns": state.turns + 1}
        if turn.timestamp is not None:
            at = turn.timestamp if turn.timestamp.tzinfo else turn.timestamp.replace(tzinfo=UTC)
            update["first_at"] = state.first_at or at
            update["gap_seconds"] = (at - state.last_at).total_seconds() if state.last_at else None
            update["last_at"] = at
        if turn.role == "user":
            update.update(self._advance_user(state, turn))
        elif turn.role == "bot":
            update.update(self._advance_bot(state, turn))
        if turn.role in ("user", "bot") and self.is_success(turn):
            update["successes"] = state.successes + 1
            update["user_turns_at_success"] = update.get("user_turns", state.user_turns)
        marks = {v.lower() for v in (turn.intent, turn.event) if v}
        counted = [name for name, values in self._counters.items() if marks & values]
        if counted:
            update["counts"] = {
                **state.counts,
                **{name: state.counts.get(name, 0) + 1 for name in counted},
            }
        return state.model_copy(update=update)

    def _advance_user(self, state: DialogueState, turn: Turn) -> dict[str, object]:
        threshold = self.config.repeat_similarity
        text = normalise(turn.text) if turn.text else ""
        repeated = (
            len(text) >= MIN_REPEAT_CHARS
            and not is_answer(text)
            and any(repeats(text, earlier, threshold) for earlier in state.user_texts)
        )
        asked = self.asks_for_human(turn)
        failed = self.is_user_failure(turn)
        return {
            "user_turns": state.user_turns + 1,
            "user_failures": state.user_failures + int(failed),
            "consecutive_user_failures": state.consecutive_user_failures + 1 if failed else 0,
            "user_repeats": state.user_repeats + int(repeated),
            "user_repeated": repeated,
            "user_negations": state.user_negations + int(self.is_negation(turn)),
            "human_requests": state.human_requests + int(asked),
            "asked_for_human": asked,
            "user_texts": (*state.user_texts, text) if text else state.user_texts,
        }

    def _advance_bot(self, state: DialogueState, turn: Turn) -> dict[str, object]:
        fallback = self.is_fallback(turn)
        text = normalise(turn.text) if turn.text else ""
        if text:
            loop = any(
                repeats(text, earlier, self.config.repeat_similarity) for earlier in state.bot_texts
            )
        else:
            loop = bool(turn.intent) and not fallback and turn.intent in state.bot_intents
        reprompt = self.is_reprompt(turn)
        return {
            "bot_turns": state.bot_turns + 1,
            "fallbacks": state.fallbacks + int(fallback),
            "consecutive_fallbacks": state.consecutive_fallbacks + 1 if fallback else 0,
            "reprompts": state.reprompts + int(reprompt),
            "bot_repeats": state.bot_repeats + int(loop and not fallback),
            "last_bot_fallback": fallback,
            "last_bot_reprompt": reprompt,
            "last_bot_repeated": loop and not fallback,
            "bot_texts": (*state.bot_texts, text) if text else state.bot_texts,
            "bot_intents": (*state.bot_intents, turn.intent) if turn.intent else state.bot_intents,
        }

    def signals(self, state: DialogueState) -> dict[str, float | None]:
        """The ``dialogue.*`` signals of a state, the policy's counters included."""
        elapsed = (
            (state.last_at - state.first_at).total_seconds()
            if state.first_at and state.last_at
            else None
        )
        return {
            "dialogue.turns": float(state.turns),
            "dialogue.user_turns": float(state.user_turns),
            "dialogue.bot_turns": float(state.bot_turns),
            "dialogue.fallbacks": float(state.fallbacks),
            "dialogue.consecutive_fallbacks": float(state.consecutive_fallbacks),
            "dialogue.reprompts": float(state.reprompts),
            "dialogue.bot_repeats": float(state.bot_repeats),
            "dialogue.user_repeats": float(state.user_repeats),
            "dialogue.user_repeated": float(state.user_repeated),
            "dialogue.user_negations": float(state.user_negations),
            "dialogue.failures": float(state.fallbacks + state.reprompts + state.user_negations),
            "dialogue.user_failures": float(state.user_failures),
            "dialogue.consecutive_user_failures": float(state.consecutive_user_failures),
            "dialogue.successes": float(state.successes),
            "dialogue.turns_since_success": float(state.user_turns - state.user_turns_at_success),
            "dialogue.asked_for_human": float(state.asked_for_human),
            "dialogue.last_bot_fallback": float(state.last_bot_fallback),
            "dialogue.last_bot_reprompt": float(state.last_bot_reprompt),
            "dialogue.last_bot_repeated": float(state.last_bot_repeated),
            "dialogue.human_requests": float(state.human_requests),
            "dialogue.elapsed_seconds": elapsed,
            "dialogue.gap_seconds": state.gap_seconds,
            **{COUNTER_PREFIX + name: float(state.counts.get(name, 0)) for name in self._counters},
        }
