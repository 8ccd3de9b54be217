"""``escalate serve`` refuses what cannot work before it starts a server."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from escalate.cli import app
from escalate.errors import EscalateError
from escalate.serve import ServeConfig

cli = CliRunner()


def test_several_workers_need_a_shared_session_store() -> None:
    result = cli.invoke(app, ["serve", "--workers", "2", "--sessions", "memory://"])
    assert result.exit_code == 2
    assert "shared session store" in result.output


def test_an_invalid_policy_fails_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\nrules: []\nguards: {cooldown_turns: -1}\n")
    result = cli.invoke(app, ["serve", "--policy", str(bad), "--no-affect"])
    assert result.exit_code == 2
    assert "bad.yaml" in result.output


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"ESCALATE_AFFECT": "maybe"}, "ESCALATE_AFFECT"),
        ({"ESCALATE_AFFECT_CACHE": "lots"}, "ESCALATE_AFFECT_CACHE"),
        ({"ESCALATE_AFFECT_CACHE": "-1"}, "ESCALATE_AFFECT_CACHE"),
        ({"ESCALATE_POLICY_WATCH": "often"}, "ESCALATE_POLICY_WATCH"),
        ({"ESCALATE_AFFECT_THREADS": "0"}, "ESCALATE_AFFECT_THREADS"),
    ],
)
def test_a_bad_environment_is_refused_naming_the_variable(env: dict[str, str], name: str) -> None:
    with pytest.raises(EscalateError, match=name):
        ServeConfig.from_env(env)


def test_the_configuration_travels_through_the_environment() -> None:
    config = ServeConfig(
        policy="retail",
        sessions="redis://127.0.0.1:6379/0",
        history="memory://",
        affect="none",
        affect_cache=0,
        affect_threads=1,
        watch_seconds=0.5,
    )
    assert ServeConfig.from_env(config.to_env()) == config
