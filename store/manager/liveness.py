"""Which storage nodes are live: a pure state machine, no clock, no I/O.

A node is LIVE when it is in the store group's last view, its inventory was
reconciled since it (re)joined, and its calls are not failing; JOINING while in
the view but not reconciled yet; DOWN when it left the view or ``max_failures``
calls to it failed in a row.  A down node that is still in the view comes back
when a call to it succeeds again.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from store.model import NodeState

DEFAULT_MAX_FAILURES = 3


@dataclass(frozen=True)
class Liveness:
    in_view: frozenset[str] = frozenset()
    reconciled: frozenset[str] = frozenset()
    failures: tuple[tuple[str, int], ...] = ()  # consecutive failed calls, per node with any
    max_failures: int = DEFAULT_MAX_FAILURES

    def failed_calls(self, node: str) -> int:
        return dict(self.failures).get(node, 0)

    def state(self, node: str) -> NodeState:
        if node not in self.in_view or self.failed_calls(node) >= self.max_failures:
            return NodeState.DOWN
        return NodeState.LIVE if node in self.reconciled else NodeState.JOINING

    def live(self) -> frozenset[str]:
        return frozenset(n for n in self.in_view if self.state(n) is NodeState.LIVE)


def _with_failures(liveness: Liveness, failures: dict[str, int]) -> Liveness:
    return replace(liveness, failures=tuple(sorted((n, c) for n, c in failures.items() if c)))


def view(liveness: Liveness, members: Iterable[str]) -> Liveness:
    """A new view: whoever left loses its reconciliation (it must report again when it returns)
    and its failure count (a new session starts clean)."""
    members = frozenset(members)
    failures = {n: c for n, c in dict(liveness.failures).items() if n in members}
    return _with_failures(replace(liveness, in_view=members, reconciled=liveness.reconciled & members), failures)


def reconciled(liveness: Liveness, node: str) -> Liveness:
    """The node's inventory was applied to the table; it counts only while it is in the view."""
    if node not in liveness.in_view:
        return liveness
    failures = dict(liveness.failures)
    failures.pop(node, None)
    return _with_failures(replace(liveness, reconciled=liveness.reconciled | {node}), failures)


def call_failed(liveness: Liveness, node: str) -> Liveness:
    failures = dict(liveness.failures)
    failures[node] = failures.get(node, 0) + 1
    return _with_failures(liveness, failures)


def call_succeeded(liveness: Liveness, node: str) -> Liveness:
    if not liveness.failed_calls(node):
        return liveness
    failures = dict(liveness.failures)
    failures.pop(node)
    return _with_failures(liveness, failures)
