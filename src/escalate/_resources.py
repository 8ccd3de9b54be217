"""Where the shipped policies and model live.

In a source checkout they are the top-level ``policies/`` and ``models/`` folders; in an
installed wheel they are copied into ``escalate/_shipped/``.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["shipped_dir"]

_PACKAGE = Path(__file__).resolve().parent


def shipped_dir(kind: str) -> Path:
    """The folder holding the shipped ``policies`` or ``models``.

    Raises
    ------
    FileNotFoundError
        When neither the installed copy nor the source checkout's folder exists.
    """
    if kind not in ("policies", "models"):
        raise ValueError(f"kind must be 'policies' or 'models', got {kind!r}")
    for candidate in (_PACKAGE / "_shipped" / kind, _PACKAGE.parents[1] / kind):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"the shipped {kind} folder is missing from this installation")
