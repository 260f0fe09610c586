"""The packages import each other only downwards (docs/architecture.md, "Inside a process").

actorkit, ports, storage, marking      import nothing of the project's but themselves (ports: nothing)
storage/replicated.py, storage/open.py the replicated backend: a client of the store
spread                                 may use ports (its errors are the group port's)
store                                  the replicated store's own actors and decisions: never photomark's
                                       actors, gateways, Spread library or command line (it gets its
                                       group connection and broker as proxies, through the ports)
actors                                 never a gateway, the Spread library or the command line
gateways                               never an actor, except gateways/rpc, where clients enter a role
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROJECT = {"actorkit", "actors", "cli", "gateways", "marking", "ports", "protos", "spread", "storage", "store"}
STORE_CLIENTS = ("storage/replicated.py", "storage/open.py")

ALLOWED = {
    "actorkit": {"actorkit"},
    "ports": {"ports"},
    "storage": {"storage"},
    "storage/replicated": {"storage", "store", "protos"},
    "store": {"store", "actorkit", "ports", "storage", "protos"},
    "marking": {"marking"},
    "spread": {"spread", "ports"},
    "actors": {"actors", "actorkit", "ports", "storage", "marking"},
    "gateways": {"gateways", "actorkit", "ports", "storage", "spread", "protos"},
    "gateways/rpc": {"gateways", "actorkit", "ports", "storage", "protos", "actors", "marking"},
}


def imported_packages(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & PROJECT


def layer_of(path: Path) -> str:
    relative = path.relative_to(ROOT).as_posix()
    if relative.startswith("gateways/rpc/"):
        return "gateways/rpc"
    if relative in STORE_CLIENTS:
        return "storage/replicated"
    return relative.split("/")[0]


MODULES = sorted(
    path
    for layer in ("actorkit", "ports", "storage", "marking", "spread", "actors", "gateways", "store")
    for path in (ROOT / layer).rglob("*.py")
)


def test_every_layer_has_modules():
    assert {layer_of(path) for path in MODULES} >= set(ALLOWED) - {"gateways/rpc", "storage/replicated"}


@pytest.mark.parametrize("path", MODULES, ids=[path.relative_to(ROOT).as_posix() for path in MODULES])
def test_a_module_imports_only_from_the_layers_below_it(path: Path):
    layer = layer_of(path)
    wrong = imported_packages(path) - ALLOWED[layer]
    assert not wrong, f"{path.relative_to(ROOT)} ({layer}) imports {sorted(wrong)}"
