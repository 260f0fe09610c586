"""The synchronisation protocol of the pending list (``actors/pending_sync.py``), with no actor and no group.

First the rules one at a time; then a simulation: several replicas on one agreed
order, started, stopped, restarted (with and without leaving the group), their
requests lost, while uploads and results flow; after every step no replica has
read the checkpoint while another of its view held the list, and once the group
settles every replica holds the same list, the one the agreed order says.
"""

from __future__ import annotations

from collections import deque

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from actors.group_messages import (
    SVCS_GROUP,
    JobDone,
    JobFailed,
    JobRetry,
    PendingAdd,
    SnapshotChunk,
    SnapshotRefused,
    SnapshotRequest,
)
from actors.job import Job
from actors.pending_snapshot import chunks
from actors.pending_state import Entry, apply
from actors.pending_sync import Apply, Ask, Install, ReadCheckpoint, Refuse, SendSnapshot, Sync, svcs_of

A, B, C = "#s0000000a1#h", "#s0000000b1#h", "#s0000000c1#h"
REGISTER = "#r0000000a1#h"


def photo(n: int) -> str:
    return f"{n:032x}"


def add(n: int, svc: str = A) -> PendingAdd:
    return PendingAdd(photo(n), Job(photo(n), f"photos/{photo(n)}.png", ("alpha",), "p.png", float(n)), float(n), svc)


def entry(n: int) -> Entry:
    message = add(n)
    return Entry(message.id, message.job, since=message.at, svc=message.svc)


def asked_of(actions) -> Ask:
    (action,) = actions
    assert isinstance(action, Ask), actions
    return action


def synced_alone(me: str = A) -> Sync:
    sync = Sync(me, "i")
    assert sync.view((me,)) == (ReadCheckpoint(),)
    sync.checkpoint_read([])
    return sync


# -- the rules ----------------------------------------------------------------------------------------


def test_a_svc_alone_reads_the_checkpoint_and_replays_what_it_saw_meanwhile():
    sync = Sync(A, "i")
    assert sync.view((REGISTER, A)) == (ReadCheckpoint(),)
    sync.message(add(2))
    actions = sync.checkpoint_read([entry(1)])
    assert actions == (Install((entry(1),), "checkpoint"), Apply(add(2)))
    assert sync.synced


def test_a_newcomer_asks_the_oldest_other_svc_never_the_register():
    sync = Sync(B, "i")
    ask = asked_of(sync.view((REGISTER, A, B)))
    assert ask.holder == A and not sync.synced


def test_a_restarted_oldest_replica_asks_the_next_svc_instead_of_reading_the_checkpoint():
    # The leader's PendingList restarted: it is still the oldest, but B holds the list.
    sync = Sync(A, "restarted")
    ask = asked_of(sync.view((A, B, C)))
    assert ask.holder == B


def test_the_snapshot_holds_what_came_before_the_request_and_the_buffer_what_came_after():
    holder, newcomer = synced_alone(A), Sync(B, "i")
    holder.message(add(1))
    holder_entries = {photo(1): entry(1)}
    ask = asked_of(newcomer.view((A, B)))
    newcomer.message(add(1))  # before the request: the snapshot has it
    request = SnapshotRequest(B, A, ask.nonce)
    assert newcomer.request(request, B) == ()
    assert holder.request(request, B) == (SendSnapshot(B, ask.nonce),)
    newcomer.message(JobDone(photo(1)))  # after the request: replayed on top
    newcomer.message(add(2))
    parts = chunks(holder_entries.values(), ask.nonce, B, chunk_bytes=50)
    assert len(parts) > 1
    for part in parts[:-1]:
        assert newcomer.chunk(part) == ()
    actions = newcomer.chunk(parts[-1])
    assert actions == (Install((entry(1),), "snapshot"), Apply(JobDone(photo(1))), Apply(add(2)))
    assert newcomer.synced
    assert newcomer.message(add(3)) == (Apply(add(3)),)


def test_a_replica_without_the_list_refuses_and_the_asker_asks_the_next():
    a, c = Sync(A, "a"), Sync(C, "c")
    ask = asked_of(c.view((A, B, C)))
    assert ask.holder == A
    request = SnapshotRequest(C, A, ask.nonce)
    c.request(request, C)
    a.view((A, B, C))
    assert a.request(request, C) == (Refuse(C, ask.nonce),)
    again = asked_of(c.refusal(SnapshotRefused(C, ask.nonce)))
    assert again.holder == B and again.nonce != ask.nonce


def test_when_every_other_svc_refused_the_oldest_reads_the_checkpoint_and_the_others_ask_again_later():
    a, b = Sync(A, "a"), Sync(B, "b")
    a_ask, b_ask = asked_of(a.view((A, B))), asked_of(b.view((A, B)))
    assert (a_ask.holder, b_ask.holder) == (B, A)
    assert a.refusal(SnapshotRefused(A, a_ask.nonce)) == (ReadCheckpoint(),)  # A is the oldest
    assert b.refusal(SnapshotRefused(B, b_ask.nonce)) == ()  # B waits for A to read it
    a.checkpoint_read([entry(1)])
    assert asked_of(b.tick()).holder == A


def test_a_refusal_or_chunk_of_another_request_changes_nothing():
    sync = Sync(B, "i")
    ask = asked_of(sync.view((A, B)))
    sync.request(SnapshotRequest(B, A, ask.nonce), B)
    assert sync.refusal(SnapshotRefused(B, "old.1")) == ()
    assert sync.refusal(SnapshotRefused(C, ask.nonce)) == ()
    assert sync.chunk(SnapshotChunk(B, "old.1", 0, 1, "")) == ()
    assert sync.asked == A


def test_chunks_before_the_request_was_seen_are_ignored():
    sync = Sync(B, "i")
    ask = asked_of(sync.view((A, B)))
    (part,) = chunks([entry(1)], ask.nonce, B)
    assert sync.chunk(part) == ()
    assert not sync.synced


def test_a_snapshot_that_does_not_decode_counts_as_a_refusal():
    sync = Sync(B, "i")
    ask = asked_of(sync.view((A, B, C)))
    sync.request(SnapshotRequest(B, A, ask.nonce), B)
    assert asked_of(sync.chunk(SnapshotChunk(B, ask.nonce, 0, 1, "not base64!"))).holder == C


def test_when_the_svc_asked_leaves_the_next_one_is_asked():
    sync = Sync(C, "i")
    asked_of(sync.view((A, B, C)))
    assert sync.view((A, B, C, "#s0000000d1#h")) == ()  # still waiting for A
    assert asked_of(sync.view((B, C))).holder == B


def test_an_svc_asked_that_gives_no_sign_is_asked_again_after_patience():
    sync = Sync(B, "i", patience=3)
    first = asked_of(sync.view((A, B)))
    assert sync.tick() == () and sync.tick() == ()
    again = asked_of(sync.tick())
    assert again.holder == A and again.nonce != first.nonce


def test_each_chunk_resets_the_patience():
    sync = Sync(B, "i", patience=2)
    ask = asked_of(sync.view((A, B)))
    sync.request(SnapshotRequest(B, A, ask.nonce), B)
    parts = chunks([entry(n) for n in range(200)], ask.nonce, B, chunk_bytes=100)
    for part in parts[:-1]:
        assert sync.tick() == ()
        sync.chunk(part)
    assert sync.chunk(parts[-1])[0] == Install(tuple(entry(n) for n in range(200)), "snapshot")


def test_a_lost_request_is_sent_again_at_the_next_tick():
    sync = Sync(B, "i")
    asked_of(sync.view((A, B)))
    assert sync.request_lost() == ()
    assert asked_of(sync.tick()).holder == A


def test_a_synced_replica_that_leaves_the_group_no_longer_holds_the_list():
    sync = synced_alone(A)
    assert sync.view(()) == ()  # our own leave, or the connection broke
    assert not sync.synced
    assert sync.message(add(1)) == ()  # out of the group: nothing is buffered
    assert asked_of(sync.view((A, B))).holder == B  # back: like a newcomer


def test_a_synced_replica_answers_and_ignores_views_and_ticks():
    sync = synced_alone(A)
    assert sync.view((A, B)) == () and sync.tick() == ()
    assert sync.request(SnapshotRequest(B, A, "n"), B) == (SendSnapshot(B, "n"),)
    assert sync.request(SnapshotRequest(B, C, "n"), B) == ()  # asked someone else


def test_a_late_checkpoint_read_after_a_snapshot_changes_nothing():
    sync = Sync(A, "i")
    sync.view((A,))
    assert sync.view(()) == ()
    assert sync.checkpoint_read([entry(1)]) == ()


def test_svcs_are_ordered_oldest_first_without_other_roles():
    assert svcs_of([C, REGISTER, A, "#w0000000a1#h", B]) == (A, B, C)


# -- the simulation -------------------------------------------------------------------------------------


class Replica:
    def __init__(self, name: str, incarnation: int) -> None:
        self.name = name
        self.sync = Sync(name, f"{name}/{incarnation}", patience=3)
        self.entries: dict[str, Entry] = {}
        self.lose_next_request = False


class Replicas(RuleBasedStateMachine):
    """Svcs on one agreed order: every view and message goes through one queue, delivered in order."""

    def __init__(self) -> None:
        super().__init__()
        self.queue: deque = deque()  # ("view", members) | ("message", sender, to, message)
        self.members: tuple[str, ...] = ()  # as of the last view delivered
        self.future_members: list[str] = []  # as of the last view queued
        self.replicas: dict[str, Replica] = {}
        self.started = 0
        self.incarnations = 0
        self.photos = 0
        self.checkpoint: list[Entry] = []
        self.truth: dict[str, Entry] = {}  # the list as the agreed order makes it
        self.rebase_truth: str | None = None

    # -- the group -------------------------------------------------------------------------------

    def multicast(self, sender: str, message, to: str = SVCS_GROUP) -> None:
        self.queue.append(("message", sender, to, message))

    def change_view(self, members: list[str]) -> None:
        self.future_members = sorted(members)
        self.queue.append(("view", tuple(self.future_members)))

    def deliver(self) -> None:
        event = self.queue.popleft()
        if event[0] == "view":
            self.members = event[1]
            for name in list(self.replicas):
                replica = self.replicas[name]
                self.carry_out(replica, replica.sync.view(self.members))
                if name not in self.future_members and name not in self.members:
                    del self.replicas[name]  # it stopped: its own leave was its last view
            return
        _, sender, to, message = event
        if to == SVCS_GROUP:
            if isinstance(message, (PendingAdd, JobDone, JobFailed, JobRetry)):
                apply(self.truth, message)
            for name in self.members:
                if name in self.replicas:
                    self.receive(self.replicas[name], sender, message)
        elif to in self.replicas:
            self.receive(self.replicas[to], sender, message)

    def receive(self, replica: Replica, sender: str, message) -> None:
        sync = replica.sync
        if isinstance(message, SnapshotChunk):
            self.carry_out(replica, sync.chunk(message))
        elif isinstance(message, SnapshotRefused):
            self.carry_out(replica, sync.refusal(message))
        elif isinstance(message, SnapshotRequest):
            self.carry_out(replica, sync.request(message, sender))
        else:
            self.carry_out(replica, sync.message(message))

    def carry_out(self, replica: Replica, actions) -> None:
        for action in actions:
            if isinstance(action, Apply):
                apply(replica.entries, action.message)
            elif isinstance(action, Install):
                if action.source == "checkpoint":
                    holders = [
                        name
                        for name in self.members
                        if name != replica.name and name in self.replicas and self.replicas[name].sync.synced
                    ]
                    assert not holders, f"{replica.name} read the checkpoint while {holders} held the list"
                replica.entries = {entry.id: entry for entry in action.entries}
                if action.source == "checkpoint":
                    self.rebase_truth = replica.name
            elif isinstance(action, Ask):
                if replica.lose_next_request:
                    replica.lose_next_request = False
                    self.carry_out(replica, replica.sync.request_lost())
                else:
                    self.multicast(replica.name, SnapshotRequest(replica.name, action.holder, action.nonce))
            elif isinstance(action, Refuse):
                self.multicast(replica.name, SnapshotRefused(action.to, action.nonce), to=action.to)
            elif isinstance(action, SendSnapshot):
                for part in chunks(replica.entries.values(), action.nonce, action.to, chunk_bytes=300):
                    self.multicast(replica.name, part, to=action.to)
            elif isinstance(action, ReadCheckpoint):
                self.carry_out(replica, replica.sync.checkpoint_read(list(self.checkpoint)))
        if self.rebase_truth == replica.name:
            # Recovery from the checkpoint (nobody held the list): from here the agreed order continues it.
            self.truth = dict(replica.entries)
            self.rebase_truth = None

    def new_replica(self, name: str) -> Replica:
        self.incarnations += 1
        replica = self.replicas[name] = Replica(name, self.incarnations)
        self.carry_out(replica, replica.sync.view(self.members))  # on_start: the members known now
        return replica

    # -- what happens ------------------------------------------------------------------------------

    @precondition(lambda self: len(self.future_members) < 4)
    @rule()
    def start_svc(self) -> None:
        self.started += 1
        name = f"#s{self.started:09d}#h"
        self.new_replica(name)
        self.change_view([*self.future_members, name])

    @precondition(lambda self: self.future_members)
    @rule(data=st.data())
    def stop_svc(self, data) -> None:
        name = data.draw(st.sampled_from(self.future_members))
        self.change_view([m for m in self.future_members if m != name])

    @precondition(lambda self: any(name in self.future_members for name in self.replicas))
    @rule(data=st.data(), leave=st.booleans())
    def restart_replica(self, data, leave: bool) -> None:
        """The PendingList actor crashes and is restarted; with ``leave`` its Svc's membership restarts too."""
        name = data.draw(st.sampled_from(sorted(n for n in self.replicas if n in self.future_members)))
        self.new_replica(name)
        if leave:
            rest = [m for m in self.future_members if m != name]
            self.change_view(rest)
            self.change_view([*rest, name])

    @precondition(lambda self: self.replicas)
    @rule(data=st.data())
    def lose_a_request(self, data) -> None:
        self.replicas[data.draw(st.sampled_from(sorted(self.replicas)))].lose_next_request = True

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def upload(self, data) -> None:
        self.photos += 1
        self.multicast(data.draw(st.sampled_from(self.members)), add(self.photos, "svc"))

    @precondition(lambda self: self.photos)
    @rule(data=st.data(), outcome=st.sampled_from(["done", "failed", "retry"]))
    def worker_result(self, data, outcome: str) -> None:
        photo_id = photo(data.draw(st.integers(1, self.photos)))
        message = {
            "done": JobDone(photo_id, 1.0),
            "failed": JobFailed(photo_id, "broken", 1.0),
            "retry": JobRetry(photo_id, 2, 5.0),
        }[outcome]
        self.multicast("#w000000001#h", message)

    @precondition(lambda self: self.queue)
    @rule(count=st.integers(1, 6))
    def deliver_some(self, count: int) -> None:
        for _ in range(min(count, len(self.queue))):
            self.deliver()

    @rule()
    def tick(self) -> None:
        """Every replica's tick; the leader (the oldest Svc of the view) checkpoints a list it holds."""
        for replica in list(self.replicas.values()):
            self.carry_out(replica, replica.sync.tick())
        svcs = svcs_of(self.members)
        if svcs and svcs[0] in self.replicas and self.replicas[svcs[0]].sync.synced:
            self.checkpoint = list(self.replicas[svcs[0]].entries.values())

    # -- what must hold -----------------------------------------------------------------------------

    @invariant()
    def synced_replicas_in_a_quiet_group_agree_with_the_order(self) -> None:
        if self.queue:
            return
        for name in self.members:
            replica = self.replicas.get(name)
            if replica is not None and replica.sync.synced:
                assert replica.entries == self.truth, name

    def teardown(self) -> None:
        """Let the group settle: every Svc in the view ends synced, holding the list of the agreed order."""
        for _ in range(60):
            while self.queue:
                self.deliver()
            if all(self.replicas[name].sync.synced for name in self.members if name in self.replicas):
                break
            self.tick()
        for name in self.members:
            replica = self.replicas[name]
            assert replica.sync.synced, f"{name} never got the list"
            assert replica.entries == self.truth, name


Replicas.TestCase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
test_replicas_never_lose_or_resurrect_an_entry = Replicas.TestCase


def test_a_new_replica_holds_nothing_reads_nothing_and_waits_for_its_first_view():
    sync = Sync(A, "i")
    assert (sync.synced, sync.reading, sync.in_view) == (False, False, False)
    assert sync.tick() == ()  # the ticker may fire before the membership joined
    assert sync.message(add(1)) == () and sync.buffer == []  # not in the group yet: nothing is buffered


def test_no_second_read_or_request_while_a_checkpoint_read_is_under_way():
    sync = Sync(A, "i")
    assert sync.view((A,)) == (ReadCheckpoint(),)
    assert sync.tick() == () and sync.view((A, B)) == ()
    assert sync.checkpoint_read([entry(1)])[0] == Install((entry(1),), "checkpoint")


def test_a_checkpoint_read_nobody_asked_for_changes_nothing():
    sync = Sync(B, "i")
    asked_of(sync.view((A, B)))
    assert sync.checkpoint_read([entry(1)]) == ()
    assert not sync.synced and sync.asked == A


def test_a_replica_that_left_while_reading_the_checkpoint_asks_when_it_is_back():
    sync = Sync(A, "i")
    assert sync.view((A,)) == (ReadCheckpoint(),)
    assert sync.view(()) == ()
    assert sync.checkpoint_read([entry(1)]) == ()  # out of the group meanwhile: that list is not the list
    assert (sync.synced, sync.reading) == (False, False)
    assert asked_of(sync.view((A, B))).holder == B


def test_leaving_the_group_unsyncs_and_forgets_what_was_asked_and_refused():
    sync = Sync(C, "i")
    ask = asked_of(sync.view((A, B, C)))
    sync.refusal(SnapshotRefused(C, ask.nonce))  # A refused; B asked now
    assert sync.view(()) == ()
    assert (sync.synced, sync.in_view, sync.asked, sync.refused) == (False, False, None, set())
    assert asked_of(sync.view((A, B, C))).holder == A  # A may hold the list by now
    synced = synced_alone(A)
    synced.view(())
    assert synced.synced is False
