"""The hostile-input properties of the benchmark, with fewer generated cases."""

from __future__ import annotations

import logging

import pytest
from benchmarks.reliability.hostile import TARGETS, run_target

EXAMPLES = 60


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_hostile_input_never_crashes_and_keeps_every_valid_record(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.CRITICAL, logger="escalate")
    result = run_target(name, EXAMPLES, seed=0)
    assert result.failure is None, result.failure
    assert result.cases >= EXAMPLES and result.crashes == 0
