"""The repository stands alone: a clone with nothing beside it collects every test and refers to nothing outside.

The clone is made from this repository, or from ``PHOTOMARK_STANDALONE_REPO``
when set (a clone holds only committed files, so to check uncommitted work,
point it at a throw-away repository that commits a copy of the working tree).
Collection runs in a subprocess with the clone first on the path, so the
clone's own modules are imported, not those of the editable install.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path(os.environ.get("PHOTOMARK_STANDALONE_REPO", ROOT))
# Variables that would send the tests to data outside the repository.
OUTSIDE_DATA = ("PHOTOMARK_EVAL_DIR", "PHOTOMARK_SPREAD_TRANSCRIPTS", "PHOTOMARK_STANDALONE_REPO")
# What pointed at the folder beside the repository (split, so this file does not match itself).
SHARED_REFERENCES = ("../" + "shared", 'parent / "' + 'shared"')

COLLECT = """
import json, sys
import pytest
rc = pytest.main(["--collect-only", "-q", "-p", "no:cacheprovider"])
files = {name: getattr(module, "__file__", None) for name, module in list(sys.modules.items())}
print("MODULE-FILES " + json.dumps({name: f for name, f in files.items() if f}))
sys.exit(int(rc))
"""


@dataclass(frozen=True)
class Collection:
    returncode: int
    test_ids: frozenset[str]
    summary: str  # pytest's last line: "N tests collected in ...", with ", M errors" if any
    module_files: dict[str, str]  # module name -> file, for the modules of the tree's own packages
    output: str


def collect(tree: Path) -> Collection:
    """``pytest --collect-only -q`` in ``tree``, importing ``tree``'s modules."""
    env = {k: v for k, v in os.environ.items() if k not in OUTSIDE_DATA}
    env.update(PYTHONPATH=str(tree), PYTHONDONTWRITEBYTECODE="1")
    done = subprocess.run(
        [sys.executable, "-c", COLLECT], cwd=tree, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    *lines, modules_line = done.stdout.splitlines() or ["MODULE-FILES {}"]
    if not modules_line.startswith("MODULE-FILES "):
        lines, modules_line = [*lines, modules_line], "MODULE-FILES {}"
    packages = {p.parent.name for p in tree.glob("*/__init__.py")} | {"tests"}
    module_files = {
        name: f for name, f in json.loads(modules_line.split(" ", 1)[1]).items() if name.split(".")[0] in packages
    }
    summary = next((line for line in reversed(lines) if line.strip()), "")
    test_ids = frozenset(line for line in lines if line.startswith("tests/") and "::" in line)
    output = "\n".join(lines)[-4000:] + "\n" + done.stderr[-2000:]
    return Collection(done.returncode, test_ids, summary, module_files, output)


def uncommitted_paths(repo: Path) -> set[str]:
    """Files of ``repo``'s working tree that differ from its last commit (a clone cannot have them)."""
    done = subprocess.run(
        ["git", "-C", str(repo), "status", "--porcelain", "--untracked-files=all"],
        capture_output=True,
        text=True,
        check=True,
    )
    paths = set()
    for line in done.stdout.splitlines():
        path = line[3:]
        paths.update(p.strip('"') for p in path.split(" -> "))
    return paths


def committed_only(test_ids: frozenset[str], dirty: set[str]) -> set[str]:
    return {t for t in test_ids if t.split("::")[0] not in dirty}


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = tmp_path_factory.mktemp("alone") / "photomark"
    subprocess.run(["git", "clone", "--quiet", str(SOURCE), str(target)], check=True, timeout=60)
    assert not target.parent.joinpath("shared").exists()
    return target


def test_a_clone_alone_collects_every_test_of_the_working_tree_without_error(clone):
    alone, tree = collect(clone), collect(SOURCE)
    returncode, summary = alone.returncode, alone.summary
    assert returncode == 0 and "error" not in summary, alone.output
    returncode = tree.returncode
    assert returncode == 0, tree.output
    # the clone's modules were imported, not the working tree's
    assert Path(alone.module_files["marking"]).is_relative_to(clone), alone.module_files["marking"]
    elsewhere = {name: f for name, f in alone.module_files.items() if not Path(f).is_relative_to(clone)}
    assert elsewhere == {}
    # tests in files that are not committed exist only in the working tree
    dirty = uncommitted_paths(SOURCE)
    missing = committed_only(tree.test_ids, dirty) - alone.test_ids
    extra = committed_only(alone.test_ids, dirty) - tree.test_ids
    assert (sorted(missing)[:20], sorted(extra)[:20]) == ([], [])
    if not dirty:
        assert len(alone.test_ids) == len(tree.test_ids) > 0


def test_a_clone_refers_to_no_shared_folder_outside_markdown(clone):
    patterns = [arg for pattern in SHARED_REFERENCES for arg in ("-e", pattern)]
    found = subprocess.run(
        ["git", "-C", str(clone), "grep", "-n", "-F", *patterns, "--", ".", ":(exclude)*.md"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 1, found.stdout + found.stderr  # 1: nothing found
