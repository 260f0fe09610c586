"""The PendingList actor: this Svc's replica of the pending list.

It is fed only by group messages, delivered in agreed order, through the pure
state machine in ``actors/pending_state.py``; every Svc applies the same
messages, so every replica agrees.  Listeners (the Notifier) are told when a job
leaves PROCESSING.

State transfer.  A Svc that joins a group with an older Svc in it starts empty
and asks the leader for the list with ``pending.snapshot_request``, multicast in
agreed order.  The leader's replica answers at the point where that request sits
in the order, with the list as it stands there, in chunks sent to the newcomer's
private name.  The newcomer buffers every message it receives after its own
request and applies them on top of the snapshot, so it ends exactly where the
others are.  If the leader leaves before the snapshot is complete, the newcomer
asks the next leader.  A Svc that finds itself the leader before it has the list
has nobody to ask (every Svc was down): it starts from the leader's last
checkpoint in storage, and Svcs that join later get that from it.  A replica that
already holds the list never reads the checkpoint: it would bring back jobs that
finished since.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence

import pykka
import structlog

from actorkit.messaging import tell_call
from actors import group_messages, leadership, pending_snapshot, pending_state
from actors.group_messages import ListMessage, SnapshotChunk, SnapshotRequest
from actors.pending_state import FAILED, Entry
from ports.group import GroupListener, MessageReceived, ViewChanged
from storage import layout
from storage.backend import ObjectNotFound

log = structlog.get_logger()


class PendingList(GroupListener, pykka.ThreadingActor):
    def __init__(self, group: pykka.ActorProxy | None = None, listeners: Sequence[pykka.ActorProxy] = (),
                 storage: pykka.ActorProxy | None = None, chunk_bytes: int = pending_snapshot.CHUNK_BYTES) -> None:
        super().__init__()
        self.group, self.listeners, self.chunk_bytes = group, list(listeners), chunk_bytes
        self.storage = storage
        self.entries: pending_state.Entries = {}
        self.version = 0  # counts applied changes, so the leader checkpoints only when needed
        self.me = ""
        self.members: tuple[str, ...] = ()
        # State transfer: synced once this replica holds the list (a group of one is synced at once).
        self.synced = group is None
        self.asked: str | None = None  # the leader asked for a snapshot
        self.request: pending_snapshot.Assembler | None = None
        self.buffer: list[ListMessage] | None = None  # messages after our request, until the snapshot is in

    def on_start(self) -> None:
        if self.group is not None:
            self.me = self.group.private_name().get()

    # -- group events -------------------------------------------------------------

    def on_view_changed(self, event: ViewChanged) -> None:
        if event.group != group_messages.SVCS_GROUP or (self.me and self.me not in event.members):
            return
        self.members = event.members
        leader = leadership.leader_of(event.members)
        if self.synced:
            return
        if leader == self.me:
            saved = self._checkpoint()
            log.info("pending.synced", how="leading: from the checkpoint", entries=len(saved))
            self._synced_with(saved)
        elif leader is not None and leader != self.asked:
            self._ask_for_snapshot(leader)

    def on_message_received(self, event: MessageReceived) -> None:
        try:
            message = group_messages.decode(event.message_type, event.payload)
        except group_messages.BadPayload as error:
            log.warning("group.bad_payload", sender=event.sender, error=str(error))
            return
        try:
            if isinstance(message, SnapshotChunk):
                self._snapshot_chunk(message)
            elif event.group != group_messages.SVCS_GROUP:
                return
            elif isinstance(message, SnapshotRequest):
                self._snapshot_requested(message, event.sender)
            elif isinstance(message, ListMessage):
                if self.synced:
                    self.apply(message)
                elif self.buffer is not None:
                    self.buffer.append(message)
                # else: it precedes our request, so the snapshot holds it
        except pending_snapshot.BadSnapshot as error:
            log.warning("pending.bad_message", type=message.TYPE, sender=event.sender, error=repr(error))

    # -- state transfer -------------------------------------------------------------

    def _ask_for_snapshot(self, leader: str) -> None:
        nonce = secrets.token_hex(8)
        self.asked, self.request, self.buffer = leader, pending_snapshot.Assembler(nonce), None
        log.info("pending.snapshot_asked", leader=leader)
        group_messages.multicast(self.group, SnapshotRequest(self.me, leader, nonce))

    def _snapshot_requested(self, message: SnapshotRequest, sender: str) -> None:
        if sender == self.me:
            if self.request is not None and message.nonce == self.request.nonce:
                self.buffer = []  # from here on, what the snapshot will not hold
            return
        if not self.synced or message.leader != self.me:
            return
        parts = pending_snapshot.chunks(self.entries.values(), message.nonce, sender, self.chunk_bytes)
        for part in parts:
            group_messages.multicast(self.group, part, to=sender)
        log.info("pending.snapshot_sent", to=sender, entries=len(self.entries), chunks=len(parts))

    def _snapshot_chunk(self, message: SnapshotChunk) -> None:
        if self.synced or self.request is None or self.buffer is None:
            return
        entries = self.request.add(message)
        if entries is not None:
            log.info("pending.synced", how="snapshot", entries=len(entries), buffered=len(self.buffer))
            self._synced_with(entries)

    def _synced_with(self, entries: list[Entry]) -> None:
        self.entries = {entry.id: entry for entry in entries}
        buffered, self.buffer, self.request, self.synced = self.buffer or [], None, None, True
        self.version += 1
        for message in buffered:
            self.apply(message)

    def _checkpoint(self) -> list[Entry]:
        if self.storage is None:
            return []
        try:
            saved = json.loads(self.storage.read(layout.PENDING_STATE).get())
            listed = saved["entries"]
        except ObjectNotFound:
            return []
        except (ValueError, TypeError, KeyError) as error:
            log.error("pending.checkpoint_unreadable", error=str(error))
            return []
        entries = []
        for data in listed if isinstance(listed, list) else []:
            try:
                entries.append(Entry.from_dict(data))
            except pending_state.BadEntry as error:
                log.error("pending.checkpoint_bad_entry", error=str(error))
        return entries

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
        return self.synced

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
