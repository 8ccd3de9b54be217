"""Trajectory signals: how the customer's affect moved over their turns."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["TrajectoryConfig"]


class TrajectoryConfig(BaseModel):
    """``window``: user turns in ``mean_recent`` and ``slope``; ``threshold``: the level a
    ``streak`` counts from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    window: int = Field(default=3, ge=1, le=50)
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
