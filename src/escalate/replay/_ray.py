"""The Ray backend: a pool of actors, each holding one engine for the whole run.

Imported only when a runner runs with ``backend="ray"``; ``import escalate`` never loads
Ray. Each actor builds its :class:`~escalate.engine.Engine` (policy, affect model,
stores) once, in its constructor, and replays shard after shard with it. Shards are
handed out with a bounded number in flight and their results taken back in the order
they were handed out, so the output is the local pool's. An actor whose process dies is
restarted (its engine built again) and the shard it held runs again; its results are
taken once, when the shard returns, so no conversation is counted twice.
"""

from __future__ import annotations

import math
import resource
from collections import deque
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from escalate.errors import MissingExtraError

if TYPE_CHECKING:
    from escalate.replay.readers import Record
    from escalate.replay.runner import ConversationResult, Runner, _Spec, _Work

__all__ = ["ReplayActor", "run_on_ray"]

#: Shards queued per actor beyond the one it runs.
QUEUED_PER_ACTOR = 2


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise MissingExtraError("replay on a Ray cluster", "ray") from None
    return ray


class ReplayActor:
    """One engine, kept for the whole run; replays the shards it is given."""

    def __init__(self, spec: _Spec) -> None:
        from escalate.replay.runner import _build_engine

        self.spec = spec
        self.engine = _build_engine(spec)

    def run(self, work: _Work) -> list[ConversationResult | Record]:
        from escalate.replay.runner import _run_work

        return _run_work(self.engine, self.spec, work)

    def peak_rss(self) -> int:
        """Peak resident memory of this actor's process, in bytes (Linux)."""
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def start(address: str | None, workers: int | None) -> bool:
    """Connect to (``address``) or start (``None``) Ray unless this process already is;
    ``True`` when this call started it (and the caller should shut it down)."""
    ray = _ray()
    if ray.is_initialized():
        return False
    if address is None:
        ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return True


def make_actors(spec: _Spec, workers: int | None) -> list[Any]:
    """``workers`` actors (default: one per CPU of the cluster), each restartable.

    Each asks for one CPU; more actors than free CPUs share them (a fraction each, none
    when another run holds them all, as ``compare`` does with its two policies), so any
    number of actors can start.
    """
    ray = _ray()
    cpus = max(float(ray.cluster_resources().get("CPU", 1)), 1.0)
    free = float(ray.available_resources().get("CPU", 0.0))
    count = workers or int(cpus)
    share = 1.0 if count <= free else math.floor(100 * free / count) / 100
    remote = ray.remote(num_cpus=share, max_restarts=3, max_task_retries=3)(ReplayActor)
    return [remote.remote(spec) for _ in range(count)]


def run_on_ray(
    spec: _Spec,
    works: Iterator[_Work],
    workers: int | None,
    address: str | None,
    runner: Runner,
) -> Iterator[list[ConversationResult | Record]]:
    """Run ``works`` on Ray actors; yield each shard's results in the order given."""
    ray = _ray()
    started = start(address, workers)
    try:
        actors = make_actors(spec, workers)
        load = [0] * len(actors)
        pending: deque[tuple[int, Any]] = deque()
        limit = len(actors) * (1 + QUEUED_PER_ACTOR)

        def take() -> list[ConversationResult | Record]:
            actor, ref = pending.popleft()
            out: list[ConversationResult | Record] = ray.get(ref)
            load[actor] -= 1
            return out

        for work in works:
            actor = min(range(len(actors)), key=lambda a: load[a])
            pending.append((actor, actors[actor].run.remote(work)))
            load[actor] += 1
            while len(pending) >= limit:
                yield take()
        while pending:
            yield take()
        runner.worker_peak_rss = [ray.get(a.peak_rss.remote()) for a in actors]
        for a in actors:
            ray.kill(a)
    finally:
        if started:
            ray.shutdown()
