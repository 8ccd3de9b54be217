"""Where the benchmark datasets and converted files live."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from escalate.affect.base import AffectModel, AffectScores, ContextualAffectModel, MessageContext
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
    """A model with a cache keyed by text and context, shared by every policy of a run
    (so that every policy sees the same scores and the model runs once per message)."""

    def __init__(self, model: AffectModel) -> None:
        self.model = model
        self.cache: dict[tuple[str, MessageContext | None], AffectScores] = {}

    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        return self.predict_in_context(texts, [None] * len(texts))

    def predict_in_context(
        self, texts: Sequence[str], contexts: Sequence[MessageContext | None]
    ) -> list[AffectScores]:
        keys = list(zip(texts, contexts, strict=True))
        missing = [k for k in dict.fromkeys(keys) if k not in self.cache]
        if missing:
            if isinstance(self.model, ContextualAffectModel):
                scored = self.model.predict_in_context(
                    [t for t, _ in missing], [c for _, c in missing]
                )
            else:
                scored = self.model.predict([t for t, _ in missing])
            self.cache.update(zip(missing, scored, strict=True))
        return [self.cache[k] for k in keys]

    def prepare(self, texts: Sequence[str]) -> None:
        return None


def load(path: Path) -> list[Conversation]:
    """Every readable conversation of a converted file."""
    return [r.conversation for r in open_conversations(path) if r.conversation is not None]
