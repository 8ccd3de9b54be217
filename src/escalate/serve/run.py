"""Serving the app with uvicorn: one process, or several workers sharing Redis sessions."""

from __future__ import annotations

import os
from dataclasses import replace

from escalate.errors import EscalateError, MissingExtraError
from escalate.policy import load_policy
from escalate.serve.config import ServeConfig
from escalate.stores.session import SESSION_URL_ENV

__all__ = ["run"]


def run(
    config: ServeConfig,
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    access_log: bool = True,
    log_level: str = "info",
) -> None:
    """Serve ``config`` with uvicorn until interrupted.

    The policy is checked here first, so a bad policy fails at once rather than in every
    worker. With ``workers > 1`` each worker process builds its own engine from the
    environment (:meth:`ServeConfig.from_env`), so sessions must live in a store the
    workers share: a ``redis://`` URL; unless told, the workers share the cores out for
    the model's threads.

    Raises
    ------
    PolicyError
        The policy is invalid.
    EscalateError
        Several workers without a shared session store.
    """
    try:
        import uvicorn
    except ImportError:
        raise MissingExtraError("escalate serve", "serve") from None
    if workers < 1:
        raise EscalateError(f"workers must be a positive integer, got {workers!r}")
    sessions = config.sessions or os.environ.get(SESSION_URL_ENV) or "memory://"
    if workers > 1 and not sessions.startswith(("redis://", "rediss://", "unix://")):
        raise EscalateError(
            f"{workers} workers need a shared session store: pass --sessions redis://host:6379/0 "
            f"(or set {SESSION_URL_ENV}); with sessions in memory each worker would see only "
            "the turns it happened to receive"
        )
    load_policy(config.policy, affect=config.affect != "none")
    if config.affect_threads is None and workers > 1:
        # the workers share the cores rather than each spinning threads on all of them
        config = replace(config, affect_threads=max(1, (os.cpu_count() or 1) // workers))
    os.environ.update(config.to_env())
    uvicorn.run(
        "escalate.serve.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        access_log=access_log,
        log_level=log_level,
    )
