"""Nothing lost: decided plus rejected equals the records read, whatever the workers."""

from __future__ import annotations

import tempfile
from pathlib import Path

from benchmarks.reliability.accounting import KINDS, replay_accounting, write_file
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    kinds=st.lists(st.sampled_from(KINDS), max_size=40),
    workers=st.sampled_from([1, 2]),
    chunk_size=st.integers(1, 8),
    compress=st.booleans(),
)
def test_every_record_is_decided_or_rejected_once_in_order(
    kinds: list[str], workers: int, chunk_size: int, compress: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / ("chats.jsonl.gz" if compress else "chats.jsonl")
        expected = write_file(path, kinds, compress=compress)
        run = replay_accounting(path, expected, workers=workers, chunk_size=chunk_size)
    assert run.mismatches == []
    assert run.decided + run.rejected == run.records == len(expected)
    assert run.decided == kinds.count("good")


def test_a_larger_file_with_three_workers(tmp_path: Path) -> None:
    kinds = [KINDS[(i * 7) % len(KINDS)] if i % 3 == 0 else "good" for i in range(300)]
    expected = write_file(tmp_path / "chats.jsonl", kinds)
    runs = [
        replay_accounting(tmp_path / "chats.jsonl", expected, workers=w, chunk_size=7)
        for w in (1, 3)
    ]
    assert all(r.balanced for r in runs), [r.mismatches for r in runs]
    assert runs[0].decided == runs[1].decided == kinds.count("good")
