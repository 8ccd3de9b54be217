"""Trajectory signals: how the customer's affect moved over their turns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pydantic import BaseModel, ConfigDict, Field

from escalate.signals.catalog import TRAJECTORY_SERIES

__all__ = ["TrajectoryConfig", "extend_series", "series_stats", "trajectory_signals"]


class TrajectoryConfig(BaseModel):
    """``window``: user turns in ``mean_recent`` and ``slope``; ``threshold``: the level a
    ``streak`` counts from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=3, ge=1, le=50)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)


def extend_series(
    series: Mapping[str, Sequence[float]], affect: Mapping[str, float | None]
) -> dict[str, tuple[float, ...]]:
    """Append the latest user turn's affect scores to each tracked series.

    A turn without scores (no text, or the model failed) leaves the series unchanged.
    """
    out = {name: tuple(series.get(name, ())) for name in TRAJECTORY_SERIES}
    for name, signal in TRAJECTORY_SERIES.items():
        value = affect.get(signal)
        if value is not None:
            out[name] = (*out[name], float(value))
    return out


def series_stats(values: Sequence[float], config: TrajectoryConfig) -> dict[str, float | None]:
    """``current``, ``worst``, ``mean_recent``, ``streak`` and ``slope`` of one series.

    Examples
    --------
    >>> stats = series_stats([0.1, 0.6, 0.7, 0.9], TrajectoryConfig(window=3, threshold=0.5))
    >>> stats["worst"], stats["streak"], round(stats["slope"], 2)
    (0.9, 3.0, 0.15)
    """
    if not values:
        return dict.fromkeys(("current", "worst", "mean_recent", "streak", "slope"))
    recent = values[-config.window :]
    streak = 0
    for v in reversed(values):
        if v < config.threshold:
            break
        streak += 1
    slope: float | None = None
    n = len(recent)
    if n >= 2:
        mean_x = (n - 1) / 2
        mean_y = sum(recent) / n
        var_x = sum((i - mean_x) ** 2 for i in range(n))
        slope = sum((i - mean_x) * (y - mean_y) for i, y in enumerate(recent)) / var_x
    return {
        "current": float(values[-1]),
        "worst": float(max(values)),
        "mean_recent": float(sum(recent) / n),
        "streak": float(streak),
        "slope": slope,
    }


def trajectory_signals(
    series: Mapping[str, Sequence[float]], config: TrajectoryConfig
) -> dict[str, float | None]:
    """The ``trajectory.*`` signals for every tracked series."""
    out: dict[str, float | None] = {}
    for name in TRAJECTORY_SERIES:
        for stat, value in series_stats(series.get(name, ()), config).items():
            out[f"trajectory.{name}.{stat}"] = value
    return out
