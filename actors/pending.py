"""The PendingList actor: this Svc's replica of the pending list.

It is fed only by group messages, delivered in agreed order, through the pure
state machine in ``actors/pending_state.py``; every Svc applies the same
messages, so every replica agrees.  Listeners (the Notifier) are told when a job
leaves PROCESSING.

How a replica gets the list in the first place (a Svc that starts, a restarted
actor, a Svc back in the group after missing messages) is the synchronisation
protocol of ``actors/pending_sync.py``: this actor feeds it the group's events
and a tick, and carries out what it answers (ask another Svc for a snapshot,
refuse or send one, read the checkpoint, install, apply).  Until the replica is
synced, ``is_synced()`` says so, and the Leader does not act on it.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass

import pykka
import structlog

from actorkit.messaging import tell_call
from actorkit.ticker import Ticker
from actors import group_messages, leadership, pending_snapshot, pending_state
from actors.group_messages import ListMessage, SnapshotChunk, SnapshotRefused, SnapshotRequest
from actors.pending_state import FAILED, Entry
from actors.pending_sync import Action, Apply, Ask, Install, ReadCheckpoint, Refuse, SendSnapshot, Sync
from ports.group import GroupError, GroupListener, MessageReceived, ViewChanged
from storage import layout
from storage.backend import ObjectNotFound

log = structlog.get_logger()


class PendingList(GroupListener, pykka.ThreadingActor):
    def __init__(
        self,
        group: pykka.ActorProxy,
        listeners: Sequence[pykka.ActorProxy] = (),
        storage: pykka.ActorProxy | None = None,
        chunk_bytes: int = pending_snapshot.CHUNK_BYTES,
        tick: float = 1.0,
    ) -> None:
        super().__init__()
        self.group, self.listeners, self.chunk_bytes = group, list(listeners), chunk_bytes
        self.storage, self.tick_interval = storage, tick
        self.entries: pending_state.Entries = {}
        self.version = 0  # counts applied changes, so the leader checkpoints only when needed
        self.me = ""
        self.sync = Sync("", "")
        self.ticker: Ticker | None = None
        self.checkpoint_failures = 0  # reads of the checkpoint in a row that storage could not answer
        self._checkpoint_timer: threading.Timer | None = None

    def on_start(self) -> None:
        self.me = self.group.private_name().get()
        self.sync = Sync(self.me, secrets.token_hex(4))
        # A restarted actor hears no view until the next change: start from the members known now.
        self._carry_out(self.sync.view(self.group.members(group_messages.SVCS_GROUP).get()))
        self.ticker = Ticker(self.actor_ref, "tick", self.tick_interval).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()
        if self._checkpoint_timer is not None:
            self._checkpoint_timer.cancel()

    # -- group events -------------------------------------------------------------

    def on_view_changed(self, event: ViewChanged) -> None:
        if event.group == group_messages.SVCS_GROUP:
            self._carry_out(self.sync.view(event.members))

    def on_message_received(self, event: MessageReceived) -> None:
        try:
            message = group_messages.decode(event.message_type, event.payload)
        except group_messages.BadPayload as error:
            log.warning("group.bad_payload", sender=event.sender, error=str(error))
            return
        if isinstance(message, SnapshotChunk):
            self._carry_out(self.sync.chunk(message))
        elif isinstance(message, SnapshotRefused):
            self._carry_out(self.sync.refusal(message))
        elif event.group != group_messages.SVCS_GROUP:
            return
        elif isinstance(message, SnapshotRequest):
            self._carry_out(self.sync.request(message, event.sender))
        elif isinstance(message, ListMessage):
            self._carry_out(self.sync.message(message))

    def tick(self) -> None:
        self._carry_out(self.sync.tick())

    # -- what the synchronisation protocol asks for --------------------------------------------

    def _carry_out(self, actions: Sequence[Action]) -> None:
        for action in actions:
            if isinstance(action, Apply):
                self.apply(action.message)
            elif isinstance(action, Install):
                self.entries = {entry.id: entry for entry in action.entries}
                self.version += 1
                log.info("pending.synced", source=action.source, entries=len(self.entries))
            elif isinstance(action, Ask):
                self._ask(action)
            elif isinstance(action, SendSnapshot):
                self._send_snapshot(action)
            elif isinstance(action, Refuse):
                self._send(SnapshotRefused(action.to, action.nonce), to=action.to)
            elif isinstance(action, ReadCheckpoint):
                self._read_checkpoint()

    def _ask(self, action: Ask) -> None:
        log.info("pending.snapshot_asked", holder=action.holder)
        if not self._send(SnapshotRequest(self.me, action.holder, action.nonce)):
            self._carry_out(self.sync.request_lost())

    def _send_snapshot(self, action: SendSnapshot) -> None:
        parts = pending_snapshot.chunks(self.entries.values(), action.nonce, action.to, self.chunk_bytes)
        for part in parts:
            if not self._send(part, to=action.to):
                return  # the asker waits, then asks again
        log.info("pending.snapshot_sent", to=action.to, entries=len(self.entries), chunks=len(parts))

    def _send(self, message: group_messages.GroupMessage, to: str = group_messages.SVCS_GROUP) -> bool:
        try:
            group_messages.multicast(self.group, message, to=to)
        except GroupError as error:
            log.warning("pending.send_lost", type=message.TYPE, to=to, error=str(error))
            return False
        return True

    def _read_checkpoint(self) -> None:
        """Carry out ``ReadCheckpoint``: install what the leader last saved.  A checkpoint that was never
        written (fresh storage) is normal and installs an empty list.  One that storage cannot hand out now
        (the store manager still starting, a mount gone) is read again after a pause (``checkpoint_retry``)
        rather than taken for empty, which would lose its entries; the Svc is not synced meanwhile."""
        self._checkpoint_timer = None
        try:
            entries = self._checkpoint()
        except OSError as error:
            delay, level = checkpoint_retry(self.checkpoint_failures, self.tick_interval)
            self.checkpoint_failures += 1
            getattr(log, level)(
                "pending.checkpoint_unavailable",
                error=str(error),
                attempt=self.checkpoint_failures,
                retry_in=delay,
            )
            self._checkpoint_timer = threading.Timer(delay, tell_call, (self.actor_ref, "_read_checkpoint"))
            self._checkpoint_timer.daemon = True
            self._checkpoint_timer.start()
            return
        self.checkpoint_failures = 0
        self._carry_out(self.sync.checkpoint_read(entries))

    def _checkpoint(self) -> list[Entry]:
        """The checkpoint's entries (none when there is none); raises ``OSError`` when storage fails."""
        if self.storage is None:
            return []
        try:
            data = self.storage.read(layout.PENDING_STATE).get()
        except ObjectNotFound:
            log.info("pending.no_checkpoint", name=layout.PENDING_STATE)
            return []
        checkpoint = parse_checkpoint(data)
        if checkpoint.unreadable:
            log.error("pending.checkpoint_unreadable", name=layout.PENDING_STATE, error=checkpoint.unreadable)
        for reason in checkpoint.bad_entries:
            log.error("pending.checkpoint_bad_entry", name=layout.PENDING_STATE, error=reason)
        return list(checkpoint.entries)

    # -- the list -----------------------------------------------------------------------

    def apply(self, message: ListMessage) -> None:
        entry = pending_state.apply(self.entries, message)
        self.version += 1
        if entry is None or entry.status == FAILED:
            for listener in self.listeners:
                tell_call(listener, "on_job_finished", message.id)

    def member(self) -> str:
        return self.me

    def is_synced(self) -> bool:
        return self.sync.synced

    def entry(self, photo_id: str) -> Entry | None:
        return self.entries.get(photo_id)

    def count(self) -> int:
        return pending_state.pending_count(self.entries)

    def load(self) -> int:
        """Jobs this Svc accepted that are still pending: what it announces as its load."""
        return pending_state.pending_count(self.entries, self.me)

    def changes(self) -> int:
        """How many changes this replica has applied: the leader checkpoints when it moved."""
        return self.version

    def snapshot(self) -> tuple[int, list[dict]]:
        """(version, entries as dicts): what the leader checkpoints."""
        return self.version, [entry.as_dict() for entry in self.entries.values()]

    def overdue(self, now: float, timeout: float, max_attempts: int) -> leadership.Overdue:
        return leadership.overdue(self.entries, now, timeout, max_attempts)


CHECKPOINT_RETRY_FIRST = 0.05  # seconds before a checkpoint storage could not hand out is read again; doubling
CHECKPOINT_QUIET_ATTEMPTS = 5  # failed reads logged at info (storage starting with the Svc), then at warning


def checkpoint_retry(failures: int, longest: float) -> tuple[float, str]:
    """(seconds to wait, log level) after the ``failures``-th failed read in a row (from 0) of the checkpoint:
    a pause that doubles up to ``longest`` (the actor's tick), and info level while storage may just be
    starting alongside the Svc, warning once it has failed longer."""
    delay = min(CHECKPOINT_RETRY_FIRST * 2 ** min(failures, 30), longest)
    return delay, "info" if failures < CHECKPOINT_QUIET_ATTEMPTS else "warning"


@dataclass(frozen=True)
class Checkpoint:
    """What a checkpoint's bytes hold: its entries, why it could not be read at all (``unreadable``), and
    why each entry left out was (``bad_entries``)."""

    entries: tuple[Entry, ...] = ()
    unreadable: str = ""
    bad_entries: tuple[str, ...] = ()


def parse_checkpoint(data: bytes) -> Checkpoint:
    """The checkpoint the leader wrote (``Leader.checkpoint``: an object with ``"entries"``).  Bytes that
    are not one yield no entries and say why; an entry that does not check is left out, and said, while the
    others are kept."""
    try:
        saved = json.loads(data)
    except ValueError as error:
        return Checkpoint(unreadable=f"not JSON: {error}")
    if not isinstance(saved, dict) or "entries" not in saved:
        return Checkpoint(unreadable='not a checkpoint: expected an object with "entries"')
    listed = saved["entries"]
    if not isinstance(listed, list):
        return Checkpoint(unreadable=f'not a checkpoint: "entries" is {type(listed).__name__}, not a list')
    entries, bad = [], []
    for item in listed:
        try:
            entries.append(Entry.from_dict(item))
        except pending_state.BadEntry as error:
            bad.append(str(error))
    return Checkpoint(tuple(entries), bad_entries=tuple(bad))
