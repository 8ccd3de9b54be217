"""Where the benchmark datasets and converted files live."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from escalate.affect.base import AffectModel, AffectScores
from escalate.models import Conversation
from escalate.replay.readers import open_conversations

ROOT = Path(__file__).resolve().parents[1]
#: Converted conversations (JSON Lines); gitignored.
OUT = ROOT / "benchmarks" / "out"


def data_dir() -> Path:
    """``$ESCALATE_DATA``, or ``../shared/data`` beside the project."""
    return Path(os.environ.get("ESCALATE_DATA") or ROOT.parent / "shared" / "data")


#: The BETOLD failure intents of the published baseline (count per dialogue).
FAILURE_INTENTS = frozenset({"inconclusive", "noise", "negate", "rephrase", "did_not_understand",
                             "transfer_agent", "other", "failed_schedule_warning"})  # fmt: skip


class CachedAffect:
    """The shipped model with a cache keyed by text, shared by every policy of a run."""

    def __init__(self, model: AffectModel) -> None:
        self.model = model
        self.cache: dict[str, AffectScores] = {}

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            for text, scores in zip(missing, self.model.predict(missing), strict=True):
                self.cache[text] = scores
        return [self.cache[t] for t in texts]


def load(path: Path) -> list[Conversation]:
    """Every readable conversation of a converted file."""
    return [r.conversation for r in open_conversations(path) if r.conversation is not None]
