"""Where the benchmark datasets and converted files live."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: Converted conversations (JSON Lines); gitignored.
OUT = ROOT / "benchmarks" / "out"


def data_dir() -> Path:
    """``$ESCALATE_DATA``, or ``../shared/data`` beside the project."""
    return Path(os.environ.get("ESCALATE_DATA") or ROOT.parent / "shared" / "data")
