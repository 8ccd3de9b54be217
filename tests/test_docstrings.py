"""Every runnable example in escalate's docstrings is correct, and every public class has one."""

from __future__ import annotations

import doctest
import importlib
import inspect
import pkgutil
from types import ModuleType
from typing import Protocol

import pytest

import escalate

#: Modules that need an optional extra (torch) to import.
OPTIONAL = {
    "escalate.affect.train.export",
    "escalate.affect.train.fit",
    "escalate.affect.train.head",
    "escalate.affect.train.network",
    "escalate.affect.train.run",
}


def modules() -> list[str]:
    names = ["escalate"]
    for info in pkgutil.walk_packages(escalate.__path__, prefix="escalate."):
        if info.name not in OPTIONAL and not info.name.endswith("__main__"):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", modules())
def test_docstring_examples_run(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_every_public_class_shows_an_example() -> None:
    missing = []
    for name in escalate.__all__:
        obj = getattr(escalate, name)
        if not inspect.isclass(obj) or issubclass(obj, BaseException) or Protocol in obj.__mro__:
            continue
        if ">>>" not in (obj.__doc__ or ""):
            missing.append(name)
    assert missing == []
