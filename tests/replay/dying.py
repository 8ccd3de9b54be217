"""An affect model whose process dies the first time it meets a marked message.

A message ``"die once <path>"`` kills the process (``os._exit``) unless ``<path>``
exists; the file is created first, so the retried shard goes through.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from escalate.affect.base import EMOTION_LABELS, AffectScores


class DyingAffect:
    def predict(self, texts: Sequence[str]) -> list[AffectScores]:
        for text in texts:
            if text.startswith("die once "):
                marker = Path(text.removeprefix("die once "))
                if not marker.exists():
                    marker.write_text("died")
                    os._exit(3)
        return [
            AffectScores(
                dissatisfaction=0.9 if "useless" in t else 0.1,
                distress=0.0,
                human_request=0.95 if "person" in t else 0.0,
                sentiment={"negative": 0.5, "neutral": 0.5, "positive": 0.0},
                emotions=dict.fromkeys(EMOTION_LABELS, 0.0),
            )
            for t in texts
        ]


def dying_affect() -> DyingAffect:
    return DyingAffect()
