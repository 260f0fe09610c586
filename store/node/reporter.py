"""What a (re)starting node does once its server is up: tell the manager what it holds, then obey it.

It takes the inventory (every object re-hashed: what is really on disk), sends it with the
``send`` it was given (the manager client's ``report_inventory``), and on success deletes every id
the manager lists in ``reply.delete`` (a corrupt, stale or surplus copy) and logs the ``rejected``
entries.  A manager that cannot be reached is tried again with a growing pause for at most
``give_up_after`` seconds; then ``ManagerUnreachable`` says so, for the command to exit with.  A
manager that answers with a refusal retrying cannot change (a malformed hello) is not retried:
``InventoryRefused``.

The retry decision (``next_attempt``) is pure, with no clock: the function is given the number of
failures and the seconds elapsed, so it is tested alone; ``report_inventory`` takes its ``sleep``
and ``clock`` as arguments for the same reason.  It is a plain blocking function, not an actor:
the node runs it once, in its start-up, between starting its server and announcing itself, and
exits if it fails; an actor would only have to block its mailbox the same way.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc
import pykka
import structlog

from protos import store_pb2
from store.ids import InvalidObjectId
from store.model import InventoryItem
from store.node.disk import NodeDisk

log = structlog.get_logger()

Send = Callable[[store_pb2.NodeHello, list[InventoryItem]], store_pb2.InventoryReply]
DEFAULT_GIVE_UP_AFTER = 60.0
# Refusals that the same request will meet again: retrying only hides them.
FINAL_CODES = frozenset(
    {
        grpc.StatusCode.INVALID_ARGUMENT,
        grpc.StatusCode.PERMISSION_DENIED,
        grpc.StatusCode.UNAUTHENTICATED,
        grpc.StatusCode.UNIMPLEMENTED,
        grpc.StatusCode.OUT_OF_RANGE,
    }
)


class ReportFailed(Exception):
    """The node could not report its inventory to the manager."""


class ManagerUnreachable(ReportFailed):
    def __init__(self, manager: str, seconds: float, last_error: BaseException | str) -> None:
        self.manager, self.seconds, self.last_error = manager, seconds, last_error
        super().__init__(f"could not reach the store manager at {manager} for {seconds:.1f} s: {last_error}")


class InventoryRefused(ReportFailed):
    def __init__(self, manager: str, node: str, error: BaseException) -> None:
        self.manager, self.node, self.error = manager, node, error
        super().__init__(f"the store manager at {manager} refused the inventory of node {node}: {error}")


# -- the retry decision (pure) ------------------------------------------------------------------


@dataclass(frozen=True)
class Backoff:
    """The pause after the n-th failure: ``initial * factor ** (n - 1)``, at most ``maximum`` seconds."""

    initial: float = 0.2
    factor: float = 2.0
    maximum: float = 5.0

    def __post_init__(self) -> None:
        if not 0 <= self.initial <= self.maximum:
            raise ValueError(f"need 0 <= initial <= maximum, got {self.initial}, {self.maximum}")
        if not (self.factor >= 1 and math.isfinite(self.factor)):
            raise ValueError(f"factor must be a finite number >= 1, got {self.factor}")

    def pause(self, failures: int) -> float:
        try:
            return min(self.maximum, self.initial * self.factor ** max(0, failures - 1))
        except OverflowError:
            return self.maximum


@dataclass(frozen=True)
class Retry:
    delay: float


@dataclass(frozen=True)
class GiveUp:
    pass


def next_attempt(failures: int, elapsed: float, give_up_after: float, backoff: Backoff) -> Retry | GiveUp:
    """After ``failures`` failed attempts, the first of which began ``elapsed`` seconds ago: try again
    after a pause (never one that ends past the bound, so the last attempt comes at the bound), or give up
    once ``give_up_after`` seconds have passed."""
    if elapsed >= give_up_after:
        return GiveUp()
    return Retry(min(backoff.pause(failures), give_up_after - elapsed))


def worth_retrying(error: BaseException) -> bool:
    """False for a refusal the manager would repeat; True for anything that may pass (a manager not up yet,
    a lost connection, a timeout, an error the sender does not classify)."""
    unreachable = getattr(error, "unreachable", None)
    if isinstance(unreachable, bool) and unreachable:
        return True
    code = getattr(error, "code", None)
    if callable(code):  # a grpc.RpcError
        code = code()
    return code not in FINAL_CODES


# -- the report ---------------------------------------------------------------------------------


def hello_of(disk: NodeDisk, node: str, address: str, scrub: bool = False) -> store_pb2.NodeHello:
    """The hello that heads an inventory report (``scrub``: the entries come from the scrubber)."""
    usage = disk.usage()
    return store_pb2.NodeHello(
        node=node, address=address, disk_used=usage.disk_used, disk_total=usage.disk_total, scrub=scrub
    )


def report_inventory(
    disk: NodeDisk,
    node: str,
    address: str,
    send: Send,
    manager: str,
    give_up_after: float = DEFAULT_GIVE_UP_AFTER,
    backoff: Backoff = Backoff(),  # noqa: B008 - frozen, shared safely
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    retryable: Callable[[BaseException], bool] = worth_retrying,
) -> store_pb2.InventoryReply:
    """Reports the node's whole inventory to the manager at ``manager`` (named in messages) through ``send``,
    applies the reply (``apply_reply``) and returns it.  Raises ``ManagerUnreachable`` once
    ``give_up_after`` seconds of failed attempts have passed, ``InventoryRefused`` at once for a final
    refusal (``retryable`` says which errors are worth another attempt)."""
    items = list(disk.inventory())
    hello = hello_of(disk, node, address)
    log.info("store.inventory_taken", node=node, objects=len(items), manager=manager)
    started, failures = clock(), 0
    while True:
        try:
            reply = send(hello, items)
            break
        except Exception as error:  # noqa: BLE001 - classified below: retried, or raised as a ReportFailed
            if not retryable(error):
                raise InventoryRefused(manager, node, error) from error
            failures += 1
            elapsed = clock() - started
            decision = next_attempt(failures, elapsed, give_up_after, backoff)
            if isinstance(decision, GiveUp):
                raise ManagerUnreachable(manager, elapsed, error) from error
            log.info(  # expected while the manager starts (the embedded store starts its nodes first)
                "store.inventory_retry", manager=manager, attempt=failures, delay=decision.delay, error=str(error)
            )
            sleep(decision.delay)
    deleted = apply_reply(disk, reply)
    log.info(
        "store.inventory_reported",
        node=node,
        manager=manager,
        accepted=reply.accepted,
        rejected=len(reply.rejected),
        deleted=len(deleted),
    )
    return reply


def apply_reply(disk: NodeDisk, reply: store_pb2.InventoryReply) -> list[str]:
    """Deletes every id the manager listed in ``reply.delete``, logs each ``rejected`` entry; returns the ids
    of the copies deleted."""
    for reason in reply.rejected:
        log.warning("store.inventory_rejected", reason=reason)
    deleted = []
    for object_id in reply.delete:
        try:
            existed = disk.delete(object_id)
        except InvalidObjectId as error:
            log.warning("store.delete_refused", object_id=object_id, error=str(error))
            continue
        log.info("store.deleted_for_manager", object_id=object_id, existed=existed)
        if existed:
            deleted.append(object_id)
    return deleted


class InventoryReporter(pykka.ThreadingActor):
    """Runs ``report_inventory`` once, when the node's role starts, on a thread of its own (its retries
    must not hold the role's supervisor, and a stop must cut them short).  If the report fails for good,
    ``give_up(reason)`` ends the role with that clear message."""

    def __init__(
        self,
        disk: NodeDisk,
        node: str,
        address: str,
        send: Send,
        manager: str,
        give_up_after: float,
        give_up: Callable[[str], None],
    ) -> None:
        super().__init__()
        self.disk, self.node, self.address, self.send, self.manager = disk, node, address, send, manager
        self.give_up_after, self.give_up = give_up_after, give_up
        self.stopping = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, name="store-inventory", daemon=True)

    def on_start(self) -> None:
        self.thread.start()

    def on_stop(self) -> None:
        self.stopping.set()

    def reported(self) -> bool:
        return self.done.is_set()

    def _send(self, hello: store_pb2.NodeHello, items: list[InventoryItem]) -> store_pb2.InventoryReply:
        if self.stopping.is_set():
            raise _Stopping()
        return self.send(hello, items)

    def _run(self) -> None:
        try:
            report_inventory(
                self.disk,
                self.node,
                self.address,
                self._send,
                self.manager,
                self.give_up_after,
                sleep=self.stopping.wait,
                retryable=lambda error: not isinstance(error, _Stopping) and worth_retrying(error),
            )
        except ReportFailed as error:
            if not self.stopping.is_set():
                log.error("store.inventory_failed", node=self.node, error=str(error))
                self.give_up(str(error))
            return
        self.done.set()


class _Stopping(Exception):
    """The role is stopping: no more attempts."""
