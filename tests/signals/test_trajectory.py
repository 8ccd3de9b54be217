import pytest
from hypothesis import given
from hypothesis import strategies as st

from escalate.signals.catalog import CATALOG, TRAJECTORY_SERIES
from escalate.signals.trajectory import (
    TrajectoryConfig,
    extend_series,
    series_stats,
    trajectory_signals,
)


def test_empty_series_is_unknown() -> None:
    assert set(series_stats([], TrajectoryConfig()).values()) == {None}


def test_stats_of_a_worsening_customer() -> None:
    stats = series_stats([0.2, 0.4, 0.6, 0.8], TrajectoryConfig(window=3, threshold=0.5))
    assert stats["current"] == 0.8
    assert stats["worst"] == 0.8
    assert stats["mean_recent"] == pytest.approx(0.6)
    assert stats["streak"] == 2
    assert stats["slope"] == pytest.approx(0.2)


def test_slope_needs_two_points_and_streak_breaks() -> None:
    assert series_stats([0.9], TrajectoryConfig())["slope"] is None
    assert series_stats([0.9, 0.1], TrajectoryConfig(threshold=0.5))["streak"] == 0


def test_extend_series_skips_missing_scores() -> None:
    series = extend_series({}, {"sentiment.negative": 0.7, "human_request": None})
    assert series["negative"] == (0.7,)
    assert series["human_request"] == ()


def test_every_trajectory_signal_is_in_the_catalogue() -> None:
    names = trajectory_signals({name: (0.1, 0.9) for name in TRAJECTORY_SERIES}, TrajectoryConfig())
    assert set(names) == {n for n, spec in CATALOG.items() if spec.source == "trajectory"}


@given(st.lists(st.floats(0, 1), min_size=1, max_size=30), st.integers(1, 10), st.floats(0, 1))
def test_stats_stay_in_range(values: list[float], window: int, threshold: float) -> None:
    stats = series_stats(values, TrajectoryConfig(window=window, threshold=threshold))
    eps = 1e-9
    assert min(values) - eps <= stats["mean_recent"] <= stats["worst"] + eps  # type: ignore[operator]
    assert stats["worst"] == max(values)
    assert 0 <= stats["streak"] <= len(values)  # type: ignore[operator]
    if stats["slope"] is not None:
        assert -1.0 - 1e-9 <= stats["slope"] <= 1.0 + 1e-9
