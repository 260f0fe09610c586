"""A cheap guard for ``make mutation``, which ``make test`` does not run: every public function of a module
under mutation testing is named in the test files that pin it (``mutation/modules.toml``).

A function tested only from other files (an actor's test, a gateway's) is not tested at all when its module's
mutants run, so each of its mutants survives; ``actors/upload_validation.py`` fell from over 90 % to 48 % that
way when its upload checks moved in, unnoticed until the next mutation run.
"""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MODULES = tomllib.loads((ROOT / "mutation" / "modules.toml").read_text())["modules"]


def public_functions(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_")
    ]


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_public_function_of_a_mutation_tested_module_is_named_in_its_tests(module):
    tests = "\n".join((ROOT / test).read_text() for test in MODULES[module])
    untested = [name for name in public_functions(ROOT / module) if not re.search(rf"\b{name}\b", tests)]
    assert not untested, f"{module}: {untested} named in none of {MODULES[module]}"
