"""``escalate serve``: the HTTP service (the ``serve`` extra)."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from escalate.cli._io import err
from escalate.errors import EscalateError, MissingExtraError, PolicyError

__all__ = ["serve"]


def serve(
    policy: Annotated[
        str, typer.Option("--policy", "-p", help="A policy file, or the name of a shipped policy.")
    ] = "default",
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            "--workers", "-w", min=1, help="Worker processes (more than one needs --sessions)."
        ),
    ] = 1,
    sessions: Annotated[
        str | None,
        typer.Option(
            "--sessions",
            help="Session store URL shared by the workers and replicas (redis://host:6379/0); "
            "default: ESCALATE_SESSION_URL, else in memory.",
        ),
    ] = None,
    history: Annotated[
        str | None,
        typer.Option(
            "--history", help="History store URL (none for none); default: ESCALATE_HISTORY_URL."
        ),
    ] = None,
    no_affect: Annotated[
        bool, typer.Option("--no-affect", help="Run without the affect model.")
    ] = False,
    affect_cache: Annotated[
        int | None,
        typer.Option("--affect-cache", min=0, help="Texts the model remembers (0: no cache)."),
    ] = None,
    affect_threads: Annotated[
        int | None,
        typer.Option(
            "--affect-threads",
            min=1,
            help="Model threads per worker (default: the cores shared out among the workers).",
        ),
    ] = None,
    watch: Annotated[
        float,
        typer.Option("--watch", min=0, help="Seconds between checks of the policy file (0: off)."),
    ] = 1.0,
    access_log: Annotated[
        bool, typer.Option("--access-log/--no-access-log", help="Log every request.")
    ] = True,
) -> None:
    """Serve decisions over HTTP for bots not written in Python.

    POST /v1/conversations/{id}/turns observes a turn and returns the decision (with the
    packet on handoff); GET /v1/conversations/{id}/packet, POST /v1/conversations/{id}/end,
    GET /healthz, GET /readyz, POST /v1/policy/reload; the OpenAPI document is at
    /openapi.json. The policy file is re-read when it changes, on SIGHUP and on
    POST /v1/policy/reload.
    """
    try:
        from escalate.serve import ServeConfig, run
    except MissingExtraError as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
    config = ServeConfig(
        policy=policy,
        sessions=sessions,
        history=history,
        affect="none" if no_affect else "default",
        affect_cache=affect_cache,
        affect_threads=affect_threads,
        watch_seconds=watch,
    )
    try:
        run(config, host=host, port=port, workers=workers, access_log=access_log)
    except (PolicyError, EscalateError) as exc:
        err.print(f"[red]error:[/] {escape(str(exc))}")
        raise typer.Exit(2) from None
