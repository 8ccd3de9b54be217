"""Shared fixtures: small policies and a deterministic stand-in affect model."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time
from collections.abc import Sequence

import pytest
from hypothesis import settings

from escalate.affect.base import EMOTION_LABELS, AffectScores

# Property tests check behaviour, not speed: on a loaded machine one example can take longer
# than hypothesis's default 200 ms deadline without anything being wrong.
settings.register_profile("escalate", deadline=None)
settings.load_profile("escalate")

ANGRY_WORDS = ("furious", "ridiculous", "useless", "angry", "worst", "hate")
SCARED_WORDS = ("scared", "afraid", "worried", "desperate")
HUMAN_WORDS = ("person", "human", "agent", "manager")


class KeywordAffect:
    """A deterministic affect model for tests: scores come from keywords.

    ``delay`` makes each call sleep, ``fail`` makes it raise; ``calls`` counts batches.
    """

    def __init__(self, *, delay: float = 0.0, fail: bool = False) -> None:
        self.delay = delay
        self.fail = fail
        self.calls = 0
        self._lock = threading.Lock()

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        with self._lock:
            self.calls += 1
        if self.delay:
            time.sleep(self.delay)
        if self.fail:
            raise RuntimeError("model exploded")
        return [self._one(t.lower()) for t in texts]

    @staticmethod
    def _one(text: str) -> AffectScores:
        angry = any(w in text for w in ANGRY_WORDS)
        scared = any(w in text for w in SCARED_WORDS)
        negative = 0.9 if angry or scared else 0.1
        emotions = dict.fromkeys(EMOTION_LABELS, 0.01)
        emotions["anger"] = 0.8 if angry else 0.02
        emotions["fear"] = 0.85 if scared else 0.02
        return AffectScores(
            sentiment={
                "negative": negative,
                "neutral": 0.9 - negative if negative < 0.9 else 0.05,
                "positive": 0.05,
            },
            emotions=emotions,
            human_request=0.95 if any(w in text for w in HUMAN_WORDS) else 0.02,
            dissatisfaction=0.9 if angry else 0.02,
            distress=0.9 if scared else 0.02,
        )


@pytest.fixture
def keyword_affect() -> KeywordAffect:
    return KeywordAffect()


DIALOGUE_POLICY = """\
version: 1
name: test-dialogue
rules:
  - id: asked-for-human
    when: dialogue.asked_for_human
    then: {action: handoff, queue: general, priority: high}
  - id: bot-stuck
    when: dialogue.consecutive_fallbacks >= 2 or dialogue.user_repeats >= 2
    then: {action: offer_human, queue: general}
guards:
  cooldown_turns: 2
on_error: handoff
"""

AFFECT_POLICY = """\
version: 1
name: test-affect
rules:
  - id: upset
    when: trajectory.negative.streak >= 2
    then: {action: handoff, queue: care, priority: high}
  - id: angry-now
    when: mood.frustration >= 0.7
    then: {action: offer_human}
guards:
  explicit_request:
    when: human_request >= 0.8
    then: {action: handoff, queue: general, priority: urgent}
  cooldown_turns: 3
on_error: offer_human
"""


@pytest.fixture
def dialogue_policy_text() -> str:
    return DIALOGUE_POLICY


@pytest.fixture
def affect_policy_text() -> str:
    return AFFECT_POLICY


def pytest_configure(config: pytest.Config) -> None:
    """Whatever escalate writes to its data directory while the tests run, collection
    included, goes to a temporary folder: never the user's data directory."""
    folder = tempfile.mkdtemp(prefix="escalate-data-")
    os.environ["ESCALATE_DATA_DIR"] = folder
    config.add_cleanup(lambda: shutil.rmtree(folder, ignore_errors=True))


@pytest.fixture(autouse=True)
def _history_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Engines built with no configuration write their history into a temporary file,
    never into the working tree."""
    path = tmp_path_factory.mktemp("history") / "history.db"
    monkeypatch.setenv("ESCALATE_HISTORY_URL", f"sqlite:///{path}")
    monkeypatch.delenv("ESCALATE_SESSION_URL", raising=False)
