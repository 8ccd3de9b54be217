"""Importing escalate, and asking the command line for help, load nothing heavy.

The heavy parts (SQLAlchemy, ONNX Runtime and numpy, replay, matplotlib, asyncio) load on
first use. Each check runs in a fresh interpreter and reads ``sys.modules``: which
modules were loaded, not how long it took (``benchmarks/startup.py`` measures that).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = [
    "sqlalchemy",
    "onnxruntime",
    "tokenizers",
    "numpy",
    "matplotlib",
    "asyncio",
    "escalate.replay",
    "escalate.engine.core",
    "escalate.affect.onnx",
    "escalate.stores.sql",
    "ray",
    "escalate.replay._ray",
]


def loaded_after(code: str) -> list[str]:
    probe = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    modules: list[str] = json.loads(done.stdout.splitlines()[-1])
    return modules


def heavy(modules: list[str]) -> list[str]:
    return [m for m in HEAVY if m in modules]


def test_import_escalate_loads_nothing_heavy() -> None:
    modules = loaded_after("import escalate")
    assert heavy(modules) == []
    assert [m for m in modules if m.startswith("escalate")] == ["escalate", "escalate.errors"]


def test_the_command_line_help_loads_nothing_heavy() -> None:
    code = (
        "import sys; sys.argv = ['escalate', '--help']\n"
        "from escalate.cli import main\n"
        "try:\n    main()\nexcept SystemExit as exc:\n    assert exc.code == 0, exc.code"
    )
    assert heavy(loaded_after(code)) == []


@pytest.mark.parametrize(
    ("use", "loads"),
    [
        ("escalate.Turn(role='user', text='hi')", "escalate.models"),
        ("escalate.Engine", "escalate.engine.core"),
        ("escalate.SQLHistoryStore", "sqlalchemy"),
    ],
)
def test_public_names_load_on_first_use(use: str, loads: str) -> None:
    assert loads not in loaded_after("import escalate")
    assert loads in loaded_after(f"import escalate\n{use}")


def test_asyncio_loads_only_for_aobserve() -> None:
    code = (
        "import escalate\n"
        "e = escalate.Engine.from_policy('dialogue_only', affect=None, history=None)\n"
        "e.session('c').observe(escalate.Turn(role='user', text='hi'))"
    )
    assert "asyncio" not in loaded_after(code)
