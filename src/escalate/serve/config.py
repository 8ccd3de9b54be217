"""How the service is configured: one record, read from the command line or the environment.

``escalate serve`` writes its options into the environment so that every uvicorn worker
process builds the same engine (:meth:`ServeConfig.from_env`).

| variable | meaning | default |
|---|---|---|
| ``ESCALATE_POLICY`` | a policy file or shipped policy name | ``default`` |
| ``ESCALATE_SESSION_URL`` | the session store (``redis://...`` to share sessions between replicas) | in memory |
| ``ESCALATE_HISTORY_URL`` | the history store (``none`` for none) | ``sqlite:///escalate-history.db`` |
| ``ESCALATE_AFFECT`` | ``default`` (the shipped model) or ``none`` | ``default`` |
| ``ESCALATE_AFFECT_CACHE`` | texts the shipped model remembers (0: no cache) | the model's default |
| ``ESCALATE_AFFECT_THREADS`` | ONNX Runtime threads per worker | the cores shared out among the workers |
| ``ESCALATE_POLICY_WATCH`` | seconds between checks of the policy file (0: never) | ``1`` |
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from escalate.engine import Engine
from escalate.errors import EscalateError
from escalate.stores.session import SESSION_URL_ENV

__all__ = ["ServeConfig"]

_POLICY = "ESCALATE_POLICY"
_HISTORY = "ESCALATE_HISTORY_URL"
_AFFECT = "ESCALATE_AFFECT"
_CACHE = "ESCALATE_AFFECT_CACHE"
_THREADS = "ESCALATE_AFFECT_THREADS"
_WATCH = "ESCALATE_POLICY_WATCH"


@dataclass(frozen=True, slots=True)
class ServeConfig:
    """What the service runs: a policy, the affect model and the stores.

    Examples
    --------
    >>> config = ServeConfig.from_env({"ESCALATE_POLICY": "dialogue_only", "ESCALATE_AFFECT": "none"})
    >>> config.policy, config.affect, config.sessions
    ('dialogue_only', 'none', None)
    >>> ServeConfig.from_env(config.to_env()) == config
    True
    """

    policy: str = "default"
    sessions: str | None = None
    history: str | None = None
    affect: Literal["default", "none"] = "default"
    affect_cache: int | None = None
    affect_threads: int | None = None
    watch_seconds: float = 1.0

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ServeConfig:
        """Read the configuration from ``environ`` (default: the process environment).

        Raises
        ------
        EscalateError
            A variable holds a value of the wrong kind; the message names it.
        """
        env = os.environ if environ is None else environ
        affect = env.get(_AFFECT, "default").strip().lower()
        if affect not in ("default", "none"):
            raise EscalateError(f"{_AFFECT} must be 'default' or 'none', got {affect!r}")
        watch = env.get(_WATCH, "1")
        cache_size = _whole(env, _CACHE, minimum=0)
        threads = _whole(env, _THREADS, minimum=1)
        try:
            watch_seconds = float(watch)
        except ValueError:
            raise EscalateError(f"{_WATCH} must be a number of seconds, got {watch!r}") from None
        if watch_seconds < 0:
            raise EscalateError(f"{_WATCH} must be 0 or more, got {watch_seconds}")
        return cls(
            policy=env.get(_POLICY) or "default",
            sessions=env.get(SESSION_URL_ENV) or None,
            history=env.get(_HISTORY) or None,
            affect="none" if affect == "none" else "default",
            affect_cache=cache_size,
            affect_threads=threads,
            watch_seconds=watch_seconds,
        )

    def to_env(self) -> dict[str, str]:
        """The environment variables that :meth:`from_env` reads back as this configuration."""
        env = {_POLICY: self.policy, _AFFECT: self.affect, _WATCH: repr(self.watch_seconds)}
        if self.sessions:
            env[SESSION_URL_ENV] = self.sessions
        if self.history:
            env[_HISTORY] = self.history
        if self.affect_cache is not None:
            env[_CACHE] = str(self.affect_cache)
        if self.affect_threads is not None:
            env[_THREADS] = str(self.affect_threads)
        return env

    def build_engine(self) -> Engine:
        """The engine this configuration describes.

        Raises
        ------
        PolicyError
            The policy is invalid.
        """
        from escalate.affect.base import AffectModel

        model: AffectModel | None = None
        if self.affect == "default":
            from escalate.affect import OnnxAffectModel

            options: dict[str, int] = {}
            if self.affect_cache is not None:
                options["cache_size"] = self.affect_cache
            if self.affect_threads is not None:
                options["threads"] = self.affect_threads
            model = OnnxAffectModel.default(**options)
        history = self.history or "default"
        return Engine.from_policy(
            self.policy,
            affect=model,
            sessions=self.sessions,
            history=None if history.strip().lower() == "none" else history,
        )


def _whole(env: Mapping[str, str], name: str, *, minimum: int) -> int | None:
    value = env.get(name)
    if value in (None, ""):
        return None
    try:
        number = int(value)
    except ValueError:
        raise EscalateError(f"{name} must be a whole number, got {value!r}") from None
    if number < minimum:
        raise EscalateError(f"{name} must be {minimum} or more, got {number}")
    return number
