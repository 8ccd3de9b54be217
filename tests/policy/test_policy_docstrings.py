"""The runnable examples in the policy modules' docstrings are correct."""

from __future__ import annotations

import doctest
from types import ModuleType

import pytest

import escalate.policy
from escalate.policy import expressions, loader, schema


@pytest.mark.parametrize("module", [escalate.policy, expressions, loader, schema])
def test_docstring_examples(module: ModuleType) -> None:
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0
