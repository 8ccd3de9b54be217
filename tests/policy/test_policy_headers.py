"""Each shipped policy's header states what it measured on every dev set, and says true.

``python benchmarks/replay.py --write`` replays every shipped policy on the dev sets with
the shipped model, records the figures in ``benchmarks/results/policies.json`` with a
digest of each policy and of the model it used, and writes them into the policies'
headers. These tests hold the three together: a header that disagrees with the record,
or a policy or model changed since the record was made, fails until the benchmark runs
again.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

# the digests the benchmark recorded the figures with
from _results import model_digest, policy_digest  # noqa: E402

RECORD = ROOT / "benchmarks" / "results" / "policies.json"
POLICIES = sorted(p.stem for p in (ROOT / "policies").glob("*.yaml"))
DEV_SETS = {"USS MWOZ dev": "uss_mwoz_dev", "USS SGD dev": "uss_sgd_dev",
            "BETOLD tune half": "betold_tune"}  # fmt: skip
LINE = re.compile(
    r"^#\s+(?P<set>[A-Za-z ]+):\s+escalates (?P<rate>[\d.]+) % of conversations, "
    r"recall (?P<recall>n/a|[\d.]+ %)$"
)
#: Rounding in the header is to 0.1 %; anything further apart is a stale header.
TOLERANCE = 0.0015


@pytest.fixture(scope="module")
def record() -> dict[str, object]:
    return dict(json.loads(RECORD.read_text(encoding="utf-8")))


def header_figures(policy: str) -> dict[str, tuple[float, float | None]]:
    out = {}
    for line in (ROOT / "policies" / f"{policy}.yaml").read_text(encoding="utf-8").splitlines():
        match = LINE.match(line)
        if match and match["set"] in DEV_SETS:
            recall = None if match["recall"] == "n/a" else float(match["recall"][:-2]) / 100
            out[DEV_SETS[match["set"]]] = (float(match["rate"]) / 100, recall)
    return out


def test_every_shipped_policy_was_measured(record: dict[str, object]) -> None:
    assert sorted(record["policies"]) == POLICIES  # type: ignore[call-overload]


@pytest.mark.parametrize("policy", POLICIES)
def test_the_header_states_every_dev_set(policy: str) -> None:
    assert sorted(header_figures(policy)) == sorted(DEV_SETS.values())


@pytest.mark.parametrize("policy", POLICIES)
def test_the_header_matches_the_benchmark(policy: str, record: dict[str, object]) -> None:
    figures = record["figures"]
    assert isinstance(figures, dict)
    for dev_set, (rate, recall) in header_figures(policy).items():
        measured = figures[dev_set][policy]
        assert rate == pytest.approx(measured["escalation_rate"], abs=TOLERANCE), dev_set
        if measured["recall"] is None:
            assert recall is None
        else:
            assert recall == pytest.approx(measured["recall"], abs=TOLERANCE), dev_set


@pytest.mark.parametrize("policy", POLICIES)
def test_the_policy_is_the_one_that_was_measured(policy: str, record: dict[str, object]) -> None:
    recorded = record["policies"]
    assert isinstance(recorded, dict)
    assert recorded[policy] == policy_digest(ROOT / "policies" / f"{policy}.yaml"), (
        f"policies/{policy}.yaml changed since it was measured: run "
        "python benchmarks/replay.py --write"
    )


def test_the_model_is_the_one_that_was_measured(record: dict[str, object]) -> None:
    assert record["model"] == model_digest(ROOT / "models" / "affect"), (
        "the shipped model changed since the policies were measured: run "
        "python benchmarks/replay.py --write"
    )
