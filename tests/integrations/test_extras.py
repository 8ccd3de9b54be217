"""Each integration needs only its own extra, and says which ``pip install`` it lacks."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

from escalate.errors import MissingExtraError


@pytest.mark.parametrize(
    ("module", "package", "extra"),
    [
        ("escalate.serve.app", "fastapi", "serve"),
        ("escalate.integrations.langgraph", "langgraph", "langgraph"),
        ("escalate.integrations.rasa", "rasa_sdk", "rasa"),
        ("escalate.integrations.botframework", "botbuilder", "botframework"),
    ],
)
def test_a_missing_extra_names_the_install(
    module: str, package: str, extra: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in list(sys.modules):
        if name == module or name.split(".")[0] == package:
            monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, package, None)  # the import system treats None as absent
    with pytest.raises(MissingExtraError) as caught:
        importlib.import_module(module)
    assert f"pip install 'escalate[{extra}]'" in str(caught.value)


def test_the_core_and_its_command_line_load_no_extra() -> None:
    code = (
        "import sys, escalate, escalate.cli; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'fastapi', 'starlette', "
        "'uvicorn', 'langgraph', 'langchain_core', 'rasa_sdk', 'botbuilder', 'playwright'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
