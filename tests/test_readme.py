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


#: Options whose value is a file or folder a command writes, not one it reads.
OUTPUT_OPTIONS = {"--out", "-o", "--json", "--report", "--plot", "--resume"}
#: Options whose value is a file or folder a command reads.
INPUT_OPTIONS = {"--model", "-m", "--data"}


def escalate_commands() -> list[list[str]]:
    """Every ``escalate ...`` command of the README's console blocks, as arguments."""
    import shlex

    commands = []
    for block in blocks("console"):
        for line in block.replace("\\\n", " ").splitlines():
            for part in line.split("&&"):
                words = shlex.split(part, comments=True)
                if words[:1] == ["escalate"]:
                    commands.append(words[1:])
    return commands


def named_inputs(args: list[str]) -> list[str]:
    """The files and folders a command reads: path-like arguments and input options."""
    found = []
    for i, word in enumerate(args):
        previous = args[i - 1] if i else ""
        if word.startswith("-") or previous in OUTPUT_OPTIONS or "://" in word:
            continue
        if previous in INPUT_OPTIONS or "/" in word or re.search(r"\.(jsonl|gz|txt|csv)$", word):
            found.append(word)
    return found


def test_every_file_a_readme_command_reads_is_shipped() -> None:
    commands = escalate_commands()
    assert len(commands) >= 8
    produced = {  # e.g. a trained run, an imported log
        a[a.index(option) + 1] for a in commands for option in ("--out", "-o") if option in a
    }
    for args in commands:
        if args[0] == "train":  # reads the public datasets, which are not shipped
            continue
        for name in named_inputs(args):
            assert name in produced or (ROOT / name).exists(), f"escalate {' '.join(args)}"


def test_readme_commands_run_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each command whose inputs are shipped, run in a fresh folder beside examples/."""
    from typer.testing import CliRunner

    from escalate.cli import app

    (tmp_path / "examples").symlink_to(ROOT / "examples")
    monkeypatch.chdir(tmp_path)
    # Replay's default is a process per core; results do not depend on it (see the
    # runner tests), so one core keeps this test from spawning a pool per command.
    monkeypatch.setattr("os.cpu_count", lambda: 1)
    ran = []
    for args in escalate_commands():
        # Training reads the public datasets; a server runs until it is stopped (the
        # service's own tests start it).
        if args[0] in ("train", "serve") or not all(Path(n).exists() for n in named_inputs(args)):
            continue
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 0, (args, result.output)
        ran.append(args[0])
    assert sorted(set(ran)) == ["compare", "decide", "import", "replay", "sweep", "tune"]
    assert (tmp_path / "report" / "index.html").is_file() and (tmp_path / "tuned.yaml").is_file()


def test_the_example_data_is_what_its_script_writes(tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "make_examples", ROOT / "examples" / "make_examples.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in module.write(tmp_path):
        assert path.read_bytes() == (ROOT / "examples" / path.name).read_bytes(), path.name
