"""How a replica comes to hold the pending list: the synchronisation protocol, as a pure state machine.

Every Svc keeps a replica of the pending list, fed by the group's messages in
agreed order.  A replica that does not hold the list, because its Svc just
started, or its ``PendingList`` actor was restarted, or the Svc was out of the
group for a while (it left, or its connection to the daemon broke, so it missed
messages), must get the list before it may act on it:

* it buffers every list message it sees from its start;
* while another Svc is in the view, it asks one (the oldest other Svc first:
  usually the leader) with a ``SnapshotRequest`` multicast in agreed order; the
  Svc asked answers at the point where the request sits in the order: with the
  list as it stands there, in chunks to the asker's private name, if it holds
  the list, or with a ``SnapshotRefused`` if it is synchronising too;
* on the last chunk, the asker installs the snapshot and applies what it
  buffered after its own request (what came before is in the snapshot);
* refused, it asks the next Svc; when every other Svc refused, none holds the
  list (every Svc was down): the oldest Svc of the view reads the leader's last
  checkpoint, and the others ask again at a later tick, by when it holds it;
* a Svc alone in the group reads the checkpoint at once;
* when the Svc asked leaves the view, or gives no sign for ``patience`` ticks,
  the asker asks again.

So a replica never starts from the checkpoint while another Svc of its view
holds the list (the checkpoint is up to a tick old, and reading it then would
lose entries, or bring back finished jobs), and a replica that missed messages
never goes on as if it had not.

``Sync`` does no I/O and keeps no clock: events come in as method calls, and
each returns the actions for the actor (``actors/pending.py``) to carry out.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from actors.group_messages import ListMessage, SnapshotChunk, SnapshotRefused, SnapshotRequest
from actors.leadership import SVC_ROLE
from actors.member_names import role_of
from actors.pending_snapshot import Assembler, BadSnapshot
from actors.pending_state import Entry

PATIENCE = 10  # ticks to wait for any sign from the Svc asked before asking again


# -- what the actor is told to do ------------------------------------------------------------


@dataclass(frozen=True)
class Ask:
    """Multicast ``SnapshotRequest(me, holder, nonce)`` to the Svc group."""

    holder: str
    nonce: str


@dataclass(frozen=True)
class Refuse:
    """Send ``SnapshotRefused(to, nonce)`` to the private name ``to``: we do not hold the list."""

    to: str
    nonce: str


@dataclass(frozen=True)
class SendSnapshot:
    """Send the list as it stands now, in chunks, to the private name ``to``, for request ``nonce``."""

    to: str
    nonce: str


@dataclass(frozen=True)
class ReadCheckpoint:
    """Read the leader's last checkpoint and hand its entries to ``Sync.checkpoint_read``."""


@dataclass(frozen=True)
class Install:
    """The list is ``entries`` from now on (the actions after it apply what came since)."""

    entries: tuple[Entry, ...]
    source: str  # "snapshot" or "checkpoint", for the log


@dataclass(frozen=True)
class Apply:
    """Apply one message to the list."""

    message: ListMessage


Action = Ask | Refuse | SendSnapshot | ReadCheckpoint | Install | Apply
Actions = tuple[Action, ...]


def svcs_of(members: Iterable[str]) -> tuple[str, ...]:
    """The Svcs among a view's members, oldest first (the Register is a member too)."""
    return tuple(sorted(name for name in members if role_of(name) == SVC_ROLE))


class Sync:
    """One replica's side of the protocol.  ``incarnation`` makes this replica's request
    nonces unique across restarts of its actor (a chunk meant for an earlier one is ignored)."""

    def __init__(self, me: str, incarnation: str, patience: int = PATIENCE) -> None:
        self.me, self.incarnation, self.patience = me, incarnation, patience
        self.synced = False
        self.svcs: tuple[str, ...] = ()  # the Svcs of the last view that held us, oldest first
        self.in_view = False
        self.buffer: list[ListMessage] = []  # every list message since we started, until synced
        self.refused: set[str] = set()  # Svcs that said they do not hold the list
        self.reading = False  # a checkpoint read is under way
        self.requests = 0
        # The request under way (none yet): whom we asked, its nonce, where it sits in the buffer once we
        # saw it, the chunks of its answer, and the ticks without a sign from the Svc asked.
        self._forget_request()

    # -- events ---------------------------------------------------------------------------------

    def view(self, members: Sequence[str]) -> Actions:
        """A new view of the Svc group (or the members known when the actor starts)."""
        if self.me not in members:
            # Out of the group (our own leave, or the connection broke): what is sent meanwhile
            # does not reach us, so the list we hold stops being the list.
            self.in_view = False
            if self.synced:
                self.synced = False
                self.buffer = []
            self._forget_request()
            self.refused.clear()
            return ()
        self.in_view = True
        self.svcs = svcs_of(members)
        self.refused &= set(self.svcs)
        if self.synced or self.reading:
            return ()
        if self.asked is not None and self.asked in self.svcs:
            return ()  # still waiting for its answer
        self._forget_request()
        return self._next()

    def message(self, message: ListMessage) -> Actions:
        """A message that changes the list."""
        if self.synced:
            return (Apply(message),)
        if self.in_view:
            self.buffer.append(message)
        return ()

    def request(self, request: SnapshotRequest, sender: str) -> Actions:
        """A snapshot request, ours or another Svc's, in its place in the agreed order."""
        if sender == self.me:
            if request.nonce == self.nonce:
                self.cut = len(self.buffer)  # what came before is in the snapshot; what follows, not
            return ()
        if request.asked != self.me:
            return ()
        if self.synced:
            return (SendSnapshot(sender, request.nonce),)
        return (Refuse(sender, request.nonce),)

    def refusal(self, refusal: SnapshotRefused) -> Actions:
        """The Svc asked does not hold the list: ask the next one."""
        if self.synced or refusal.to != self.me or refusal.nonce != self.nonce or self.asked is None:
            return ()
        self.refused.add(self.asked)
        self._forget_request()
        return self._next()

    def chunk(self, chunk: SnapshotChunk) -> Actions:
        """A piece of the snapshot we asked for."""
        if self.assembler is None or self.cut is None or chunk.to != self.me:
            return ()  # not asked (a synced replica asks nothing), not yet in order, or not ours
        try:
            entries = self.assembler.add(chunk)
        except BadSnapshot:  # the holder sent what does not add up: ask the next one
            if self.asked is not None:
                self.refused.add(self.asked)
            self._forget_request()
            return self._next()
        if chunk.nonce == self.nonce:
            self.waited = 0
        if entries is None:
            return ()
        return self._install(entries, self.buffer[self.cut :], "snapshot")

    def checkpoint_read(self, entries: Iterable[Entry]) -> Actions:
        """The entries of the checkpoint asked for with ``ReadCheckpoint``."""
        if self.synced or not self.reading:
            return ()
        self.reading = False
        if not self.in_view:
            return ()
        return self._install(tuple(entries), self.buffer, "checkpoint")

    def request_lost(self) -> Actions:
        """Our request could not be sent: ask again at the next tick."""
        self._forget_request()
        return ()

    def tick(self) -> Actions:
        """Time passes: ask again if we wait for nobody, or waited too long."""
        if self.synced or self.reading or not self.in_view:
            return ()
        if self.asked is not None:
            self.waited += 1
            if self.waited < self.patience:
                return ()
            self._forget_request()  # no sign: it may have restarted and forgotten the request
        elif self.refused >= set(self.svcs) - {self.me}:
            self.refused.clear()  # everyone refused a while ago: the oldest holds the list by now
        return self._next()

    # -- inside ---------------------------------------------------------------------------------

    def _next(self) -> Actions:
        others = [svc for svc in self.svcs if svc != self.me]
        if not others:
            return self._read()  # alone: nobody else can hold the list
        for holder in others:
            if holder not in self.refused:
                return self._ask(holder)
        if self.svcs[0] == self.me:
            return self._read()  # every other Svc refused: none holds the list, and the oldest reads it
        return ()  # the oldest reads the checkpoint; ask again at a later tick

    def _ask(self, holder: str) -> Actions:
        self.requests += 1
        self.asked, self.nonce = holder, f"{self.incarnation}.{self.requests}"
        self.assembler = Assembler(self.nonce)
        return (Ask(holder, self.nonce),)

    def _read(self) -> Actions:
        self.reading = True
        return (ReadCheckpoint(),)

    def _forget_request(self) -> None:
        self.asked: str | None = None
        self.nonce: str | None = None
        self.cut: int | None = None
        self.assembler: Assembler | None = None
        self.waited = 0

    def _install(self, entries: Iterable[Entry], replay: Iterable[ListMessage], source: str) -> Actions:
        actions = (Install(tuple(entries), source), *(Apply(message) for message in replay))
        self.synced, self.buffer, self.reading = True, [], False
        self.refused.clear()
        self._forget_request()
        return actions
