"""The customer's problem in their own words, what the bot tried, and how they felt.

The issue is extractive: the customer's sentences (greetings, thanks, "get me a human"
and other content-free sentences left out) are embedded, and the ones closest to their
centroid, the sentences most like everything the customer said, are quoted in the order
they were said. Near-duplicates (a customer repeating themselves) are quoted once.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from escalate.affect.base import EMOTION_GROUPS, AffectScores
from escalate.affect.embedding import HashingEmbedder, TextEmbedder
from escalate.models import BotAttempt, Quote, Turn, TurnAffect
from escalate.signals.dialogue import DialogueConfig, normalise, similar

__all__ = [
    "IssueSummary",
    "bot_attempts",
    "issue_summary",
    "latest_emotions",
    "split_sentences",
    "turn_affect",
]

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
_SMALL_TALK = re.compile(
    r"(?i)^\W*(?:hi|hello|hey|hiya|good (?:morning|afternoon|evening)|thanks?|thank you|"
    r"cheers|ok(?:ay)?|yes|yeah|yep|no|nope|please|sure|great|perfect|bye|goodbye|hello\?)"
    r"\b[\s\w,'!.?]*$"
)
_WORD = re.compile(r"[\w']+")
_STOPWORD_TEXT = (
    "i me my mine we our you your it its it's this that these those is am are was were be "
    "been being have has had do does did don't doesn't didn't not no a an the and or but "
    "if so of to in on at for with from by about as just here there what which who can "
    "could would should will shall may might must i'm i've i'd i'll please still very "
    "really too also then than now get got"
)
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
#: A sentence with this many content words (not stop words) or more counts in full.
_FULL_CONTENT = 6
_MAX_QUOTE_CHARS = 300
_MAX_ATTEMPT_CHARS = 200
#: Drop sentences that are at least this similar to an already chosen one.
_DUPLICATE_COSINE = 0.6
#: A second sentence is quoted only if it is at least this close to the centroid,
#: relative to the best one.
_RELATIVE_SCORE = 0.75


@dataclass(frozen=True, slots=True)
class IssueSummary:
    """The issue in the customer's words, and their latest message.

    Examples
    --------
    >>> s = issue_summary([Turn(role="user", text="Hi. My parcel never arrived.")])
    >>> s.issue, s.latest.text
    ('My parcel never arrived.', 'Hi. My parcel never arrived.')
    """

    issue: str | None
    quotes: list[Quote] = field(default_factory=list)
    latest: Quote | None = None


def split_sentences(text: str) -> list[str]:
    """Sentences of a message, stripped; empty pieces dropped.

    Examples
    --------
    >>> split_sentences("Hi there! My refund is late.  Help?")
    ['Hi there!', 'My refund is late.', 'Help?']
    """
    return [s.strip() for s in _SENTENCE_END.split(text) if s and s.strip()]


def _content_free(sentence: str, dialogue: DialogueConfig) -> bool:
    words = _WORD.findall(sentence)
    if len(words) < 3:
        return True
    if _SMALL_TALK.match(sentence) and len(words) <= 6:
        return True
    lowered = sentence.lower()
    asks_human = any(p in lowered for p in dialogue.human_request_phrases)
    return asks_human and len(words) <= 14


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def issue_summary(
    turns: Sequence[Turn],
    *,
    sentences: int = 2,
    embedder: TextEmbedder | None = None,
    dialogue: DialogueConfig | None = None,
) -> IssueSummary:
    """Quote the ``sentences`` most representative customer sentences, in order.

    Parameters
    ----------
    turns:
        The conversation so far.
    sentences:
        How many sentences to quote at most.
    embedder:
        Sentence embeddings; a :class:`~escalate.affect.embedding.HashingEmbedder` when
        ``None``.
    dialogue:
        Recognises requests for a human (left out of the issue).

    Examples
    --------
    >>> turns = [Turn(role="user", text="Hello. My refund of £40 hasn't arrived."),
    ...          Turn(role="bot", text="Refunds take 5 days."),
    ...          Turn(role="user", text="It's been three weeks and the refund still isn't here. "
    ...                                 "Get me a human.")]
    >>> issue_summary(turns, sentences=1).issue
    "It's been three weeks and the refund still isn't here."
    """
    dialogue = dialogue or DialogueConfig()
    candidates: list[Quote] = []
    latest: Quote | None = None
    for index, turn in enumerate(turns):
        if turn.role != "user" or not turn.text:
            continue
        latest = Quote(turn=index, text=_clip(turn.text.strip(), _MAX_QUOTE_CHARS))
        for sentence in split_sentences(turn.text):
            if not _content_free(sentence, dialogue):
                candidates.append(Quote(turn=index, text=_clip(sentence, _MAX_QUOTE_CHARS)))
    if not candidates:
        return IssueSummary(issue=None, quotes=[], latest=latest)
    vectors = (embedder or HashingEmbedder()).embed([q.text for q in candidates])
    vectors = np.asarray(vectors, dtype=np.float32)
    centroid = vectors.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    scores = vectors @ (centroid / norm) if norm > 0 else np.zeros(len(candidates))
    scores = scores * np.array([_informativeness(q.text) for q in candidates], dtype=np.float32)
    order = sorted(range(len(candidates)), key=lambda i: (-float(scores[i]), i))
    chosen: list[int] = []
    for i in order:
        if len(chosen) >= sentences:
            break
        if chosen and float(scores[i]) < _RELATIVE_SCORE * float(scores[chosen[0]]):
            break
        a = normalise(candidates[i].text)
        if any(
            float(vectors[i] @ vectors[j]) >= _DUPLICATE_COSINE
            or similar(a, normalise(candidates[j].text), dialogue.repeat_similarity)
            for j in chosen
        ):
            continue
        chosen.append(i)
    quotes = [candidates[i] for i in sorted(chosen)]
    issue = " ".join(q.text if q.text[-1] in ".!?…" else q.text + "." for q in quotes)
    return IssueSummary(issue=issue, quotes=quotes, latest=latest)


def _informativeness(sentence: str) -> float:
    """0.25-1: how much a sentence says, by its count of content words."""
    content = sum(w.lower() not in _STOPWORDS for w in _WORD.findall(sentence))
    return 0.25 + 0.75 * min(content, _FULL_CONTENT) / _FULL_CONTENT


def _is_fallback(turn: Turn, dialogue: DialogueConfig) -> bool:
    if turn.event and turn.event.lower() in {e.lower() for e in dialogue.fallback_events}:
        return True
    if turn.intent and turn.intent.lower() in {i.lower() for i in dialogue.fallback_intents}:
        return True
    text = (turn.text or "").lower()
    return any(p in text for p in dialogue.fallback_phrases)


def bot_attempts(turns: Sequence[Turn], dialogue: DialogueConfig | None = None) -> list[BotAttempt]:
    """What the bot tried, in order: each bot turn with its intent, and whether it was a
    fallback or a repeat of an earlier answer.

    Examples
    --------
    >>> turns = [Turn(role="user", text="refund?"),
    ...          Turn(role="bot", text="Refunds take 5 days.", intent="refund_policy"),
    ...          Turn(role="bot", text="Refunds take 5 days.", intent="refund_policy"),
    ...          Turn(role="bot", event="fallback")]
    >>> [(a.turn, a.intent, a.repeated, a.fallback) for a in bot_attempts(turns)]
    [(1, 'refund_policy', False, False), (2, 'refund_policy', True, False), (3, None, False, True)]
    """
    dialogue = dialogue or DialogueConfig()
    seen: set[str] = set()
    out: list[BotAttempt] = []
    for index, turn in enumerate(turns):
        if turn.role != "bot":
            continue
        fallback = _is_fallback(turn, dialogue)
        key = normalise(turn.text) if turn.text else f"intent:{turn.intent or turn.event}"
        repeated = not fallback and key in seen
        seen.add(key)
        out.append(
            BotAttempt(
                turn=index,
                intent=turn.intent,
                text=_clip(turn.text, _MAX_ATTEMPT_CHARS) if turn.text else None,
                fallback=fallback,
                repeated=repeated,
            )
        )
    return out


def turn_affect(
    turns: Sequence[Turn], user_affect: Sequence[AffectScores | None], *, top: int = 3
) -> list[TurnAffect]:
    """One :class:`~escalate.models.TurnAffect` per user turn: sentiment and top emotions.

    ``user_affect`` holds the scores of each user turn in order (``None`` where a turn
    was not scored), as kept in :class:`~escalate.engine.state.SessionState`.

    Examples
    --------
    >>> s = AffectScores(sentiment={"negative": 0.7, "neutral": 0.2, "positive": 0.1},
    ...                  emotions={"anger": 0.6, "neutral": 0.3, "sadness": 0.1},
    ...                  human_request=0.0)
    >>> turn_affect([Turn(role="user", text="grr")], [s], top=1)[0].emotions
    {'anger': 0.6}
    """
    user_turns = [i for i, t in enumerate(turns) if t.role == "user"]
    out: list[TurnAffect] = []
    for index, scores in zip(user_turns, user_affect, strict=False):
        if scores is None:
            out.append(TurnAffect(turn=index))
            continue
        sentiment = max(scores.sentiment, key=lambda k: scores.sentiment[k], default=None)
        ranked = sorted(
            ((k, v) for k, v in scores.emotions.items() if k != "neutral" and v > 0),
            key=lambda kv: -kv[1],
        )[:top]
        out.append(
            TurnAffect(
                turn=index,
                sentiment=sentiment if sentiment in ("negative", "neutral", "positive") else None,  # type: ignore[arg-type]
                negative=round(min(max(scores.sentiment.get("negative", 0.0), 0.0), 1.0), 3),
                emotions={k: round(float(v), 3) for k, v in ranked},
            )
        )
    return out


def latest_emotions(user_affect: Sequence[AffectScores | None]) -> dict[str, float]:
    """Emotion and mood scores of the latest scored user turn (empty when none was scored).

    Examples
    --------
    >>> s = AffectScores(sentiment={}, emotions={"fear": 0.7}, human_request=0.0)
    >>> latest_emotions([s, None])["distress"]
    0.7
    """
    for scores in reversed(user_affect):
        if scores is None:
            continue
        out = {k: float(v) for k, v in scores.emotions.items()}
        for group, members in EMOTION_GROUPS.items():
            out[group] = max(float(scores.emotions.get(m, 0.0)) for m in members)
        for k, v in scores.sentiment.items():
            out.setdefault(k, float(v))
        return out
    return {}
