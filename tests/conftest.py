"""Fixtures every test can use."""

from __future__ import annotations

import os
from pathlib import Path

import pykka
import pytest

ROOT = Path(__file__).resolve().parents[1]
# The evaluation sets live in the shared folder beside the repository (CI clones
# the repository with shared/ beside it).
EVAL_DIR = Path(os.environ.get("PHOTOMARK_EVAL_DIR", ROOT.parent / "shared" / "eval"))


@pytest.fixture(autouse=True)
def stop_all_actors():
    """Every test starts from, and leaves, a process with no running actors."""
    yield
    pykka.ActorRegistry.stop_all()


@pytest.fixture
def eval_dir() -> Path:
    if not (EVAL_DIR / "dev" / "cases.jsonl").exists():
        pytest.fail(f"evaluation set not found at {EVAL_DIR} (set PHOTOMARK_EVAL_DIR)")
    return EVAL_DIR
