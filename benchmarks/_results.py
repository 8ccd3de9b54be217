"""Writing a benchmark's section into ``benchmarks/RESULTS.md``."""

from __future__ import annotations

from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"

__all__ = ["RESULTS", "replace_section"]


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
