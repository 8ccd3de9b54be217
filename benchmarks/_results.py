"""Writing a benchmark's section into ``benchmarks/RESULTS.md``."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import yaml

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

__all__ = ["RESULTS", "model_digest", "policy_digest", "replace_section"]


def replace_section(heading: str, body: str, path: Path = RESULTS) -> None:
    """Replace the section that starts at ``heading`` (a ``## `` line) up to the next ``## ``
    heading with ``body``, or append it when the file has no such section."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmark results\n"
    if heading in text:
        before, rest = text.split(heading, 1)
        after = rest.split("\n## ", 1)
        tail = "\n## " + after[1] if len(after) == 2 else ""
        text = before + body.rstrip() + "\n" + tail
    else:
        text = text.rstrip() + "\n\n" + body.rstrip() + "\n"
    path.write_text(text, encoding="utf-8")


def policy_digest(path: Path) -> str:
    """A digest of what a policy says (its YAML data; comments do not count)."""
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return hashlib.sha256(
        json.dumps(_plain(data), sort_keys=True, default=str).encode()
    ).hexdigest()


def _plain(data: Any) -> Any:
    """YAML data with every mapping key as text (YAML 1.1 reads a bare ``on`` as true)."""
    if isinstance(data, dict):
        return {str(k): _plain(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_plain(v) for v in data]
    return data


def model_digest(folder: Path) -> str:
    """A digest of a model folder's configuration (calibration, thresholds, dev figures)."""
    return hashlib.sha256((folder / "config.json").read_bytes()).hexdigest()
