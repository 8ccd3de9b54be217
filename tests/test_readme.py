"""The README tells the truth: its code runs and its set-up commands are the ones CI runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.DOTALL)


def test_exactly_two_set_up_commands_and_ci_runs_the_second() -> None:
    setup = README.split("## Set up", 1)[1].split("```console\n", 1)[1].split("```", 1)[0]
    commands = [line for line in setup.splitlines() if line.strip()]
    assert len(commands) == 2
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert commands[1] in ci.splitlines()


@pytest.mark.parametrize("code", blocks("python"), ids=lambda c: c.splitlines()[2][:40])
def test_python_examples_run(code: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    exec(compile(code, "README.md", "exec"), {"__name__": "readme"})


def test_policy_example_is_a_valid_policy() -> None:
    from escalate import parse_policy

    yaml_blocks = blocks("yaml")
    assert yaml_blocks
    for text in yaml_blocks:
        policy = parse_policy(text, source="README.md")
        assert policy.rules


def test_json_example_is_a_valid_conversation() -> None:
    import json

    from escalate import Conversation

    (text,) = blocks("json")
    conversation = Conversation.model_validate(json.loads(text))
    assert conversation.label is not None and conversation.label.turn == 2
