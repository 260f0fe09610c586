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
from collections.abc import Sequence

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

    def on_start(self) -> None:
        self.me = self.group.private_name().get()
        self.sync = Sync(self.me, secrets.token_hex(4))
        # A restarted actor hears no view until the next change: start from the members known now.
        self._carry_out(self.sync.view(self.group.members(group_messages.SVCS_GROUP).get()))
        self.ticker = Ticker(self.actor_ref, "tick", self.tick_interval).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()

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
                self._carry_out(self.sync.checkpoint_read(self._checkpoint()))

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
