"""The daemon with several clients: agreed views and order, crashes, rejects, limits."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading

import pytest
import structlog.testing

from spread import protocol as p
from spread.client import SpreadClient
from spread.daemon import SpreadDaemon
from tests.polling import eventually
from tests.spread.sessions import GROUP, before_marker, join_in_turn, next_view, raw_session, silent_member, told

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def daemon():
    d = SpreadDaemon("127.0.0.1", 0, "localhost", max_queue_bytes=256 * 1024, handshake_timeout=2).start()
    yield d
    d.stop()


@pytest.fixture
def connect(daemon):
    clients = []

    def _connect(user, membership=True):
        c = SpreadClient()
        c.connect(daemon.address, user, membership, timeout=5)
        clients.append(c)
        return c

    yield _connect
    for c in clients:
        c.close_abruptly()


def test_every_member_sees_the_same_views_in_the_same_order(connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    alice.join(GROUP)
    assert next_view(alice).groups == ("#alice#localhost",)
    bob_frames = []
    bob.join(GROUP)
    bob_frames.append(next_view(bob))
    carol.join(GROUP)
    carol_frames = [next_view(carol).encode()]
    bob_frames.append(next_view(bob))
    bob.leave(GROUP)
    bob_frames.append(next_view(bob))  # his self-leave: the daemon has done his leave
    frames_alice = [m.encode() for m in before_marker(alice, bob)]
    frames_carol = carol_frames + [m.encode() for m in before_marker(carol, bob)]
    assert len(frames_alice) == 3
    assert frames_carol == frames_alice[1:]  # carol joined after bob's join view
    views = [p.decode_message(f) for f in frames_alice]
    assert [(v.cause, v.groups, v.membership.changed_member, v.membership.group_id.index) for v in views] == [
        ("join", ("#alice#localhost", "#bob#localhost"), "#bob#localhost", 2),
        ("join", ("#alice#localhost", "#bob#localhost", "#carol#localhost"), "#carol#localhost", 3),
        ("leave", ("#alice#localhost", "#carol#localhost"), "#bob#localhost", 4),
    ]
    assert [m.encode() for m in bob_frames[:2]] == frames_alice[:2]
    assert bob_frames[-1].is_self_leave and bob_frames[-1].sender == GROUP
    assert before_marker(bob, bob) == []


@pytest.mark.timeout(30)
def test_concurrent_senders_are_delivered_in_one_order_to_every_member(connect):
    members = [connect(n) for n in ("m1", "m2", "m3")]
    for c in members:
        c.join(GROUP)
    for c in members:
        while len(next_view(c).groups) < 3:
            pass
    per_sender = 150

    def send(c, k):
        for i in range(per_sender):
            c.multicast([GROUP], "AGREED", k, f"{k}:{i}".encode())

    threads = [threading.Thread(target=send, args=(c, k)) for k, c in enumerate(members)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seen = []
    for c in members:
        got = []
        while len(got) < 3 * per_sender:
            got.append(c.receive(5).data)
        seen.append(got)
    assert seen[0] == seen[1] == seen[2]
    for k in range(3):  # and each sender's own messages in FIFO order
        mine = [d for d in seen[0] if d.startswith(f"{k}:".encode())]
        assert mine == [f"{k}:{i}".encode() for i in range(per_sender)]


def test_views_and_messages_keep_one_order_relative_to_each_other(connect):
    alice, bob = connect("alice"), connect("bob")
    join_in_turn(alice, bob)
    alice.multicast([GROUP], "AGREED", 1, b"before")
    carol = connect("carol")
    carol.join(GROUP)
    bob.multicast([GROUP], "AGREED", 2, b"after")  # races carol's join: either order, but one order for all
    seen = []  # carol's own join view comes first, "after" only if ordered after it
    while ("join", "#carol#localhost") not in seen:
        seen.append(told(carol.receive(5)))
    carol.multicast([GROUP], "SAFE", 3, b"last")

    def story(c, *awaited):
        """What ``c`` is told until it has heard every one of ``awaited``, then up to a marker."""
        lines = []
        while not all(line in lines for line in awaited):
            lines.append(told(c.receive(5)))
        return lines + [told(m) for m in before_marker(c, carol)]

    a, b = story(alice, b"after", b"last"), story(bob, b"after", b"last")
    a, b = a[a.index(b"before") :], b[b.index(b"before") :]
    assert a == b
    assert a[a.index(b"before") :] in (  # bob's "after" is concurrent with carol's join and her "last"
        [b"before", ("join", "#carol#localhost"), b"after", b"last"],
        [b"before", b"after", ("join", "#carol#localhost"), b"last"],
        [b"before", ("join", "#carol#localhost"), b"last", b"after"],
    )
    after_join = a[a.index(("join", "#carol#localhost")) :]
    assert seen + story(carol, b"last") == after_join


def test_a_client_closing_its_socket_without_kill_is_a_disconnect_for_the_rest(connect):
    alice, bob = connect("alice"), connect("bob")
    join_in_turn(alice, bob)
    assert next_view(alice).membership.changed_member == "#bob#localhost"
    bob.close_abruptly()
    view = next_view(alice)
    assert view.service_type == p.REG_MEMB_MESS | p.CAUSED_BY_DISCONNECT
    assert view.groups == ("#alice#localhost",) and view.membership.changed_member == "#bob#localhost"


@pytest.mark.timeout(30)
def test_a_sigkilled_client_process_is_a_disconnect_for_the_rest(daemon, connect):
    alice = connect("alice")
    join_in_turn(alice)
    code = (  # the victim joins, says so, and waits to be killed
        "import sys, threading\n"
        "from spread.client import SpreadClient\n"
        "c = SpreadClient(); c.connect(sys.argv[1], 'victim')\n"
        "c.join('photomark.svcs'); c.receive(5)\n"
        "print('ready', flush=True); threading.Event().wait()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, daemon.address], cwd=ROOT, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        assert next_view(alice).cause == "join"
        os.kill(proc.pid, signal.SIGKILL)
        view = next_view(alice)
        assert view.cause == "disconnect" and view.membership.changed_member == "#victim#localhost"
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
        proc.wait(10)
        proc.stdout.close()


def test_a_malformed_client_is_dropped_and_the_others_carry_on(daemon, connect):
    alice, bob = connect("alice"), connect("bob")
    alice.join(GROUP)
    assert len(next_view(alice).groups) == 1
    bob.join(GROUP)
    assert len(next_view(alice).groups) == 2
    bad = raw_session(daemon, b"bad")
    bad.sendall(p.join_request("#bad#localhost", GROUP).encode())
    assert next_view(alice).membership.changed_member == "#bad#localhost"
    bad.sendall(b"\x80\x00\x00\x00" + b"\xff" * 60)  # a half-set endian marker
    view = next_view(alice)
    assert view.cause == "disconnect" and view.membership.changed_member == "#bad#localhost"
    bad.settimeout(5)
    while bad.recv(65536):  # the views it was sent, then the daemon's close
        pass
    bad.close()
    bob.multicast([GROUP], "AGREED", 9, b"still here")
    assert alice.receive(5).data == b"still here"  # and nothing else came before it


def test_a_duplicate_name_is_rejected_not_unique(connect, daemon):
    connect("alice")
    with pytest.raises(p.SpreadRejected) as caught:
        SpreadClient().connect(daemon.address, "alice")
    assert caught.value.code == p.REJECT_NOT_UNIQUE
    assert "REJECT_NOT_UNIQUE" in str(caught.value)


@pytest.mark.parametrize("name", [b"bad#name", b"bad name", b"elevenbytes", b"tab\tx", b"\x7fdel"])
def test_an_illegal_name_is_rejected(daemon, name):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(p.ConnectRequest(name).encode())
        assert sock.recv(10) == bytes([p.REJECT_ILLEGAL_NAME & 0xFF])
        assert sock.recv(10) == b""


@pytest.mark.parametrize("version", [(3, 1, 0), (2, 0, 0), (3, 14, 9)])  # 5.0.0 is served: test_daemon_limits
def test_an_unsupported_library_version_is_rejected(daemon, version):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(p.ConnectRequest(b"old", version=version).encode())
        assert sock.recv(10) == bytes([p.REJECT_VERSION & 0xFF])


def test_an_unknown_auth_method_is_rejected(daemon):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(p.ConnectRequest(b"who").encode())
        assert sock.recv(6) == b"\x05NULL "
        sock.sendall(p.AuthChoice((b"IP",)).encode())
        assert sock.recv(10) == bytes([p.REJECT_AUTH & 0xFF])


def test_a_client_that_never_finishes_its_handshake_is_dropped(daemon):
    with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
        sock.sendall(b"\x04\x04")
        sock.settimeout(5)  # more than the daemon's handshake_timeout (2 s): a deadline, not a measure
        assert sock.recv(10) == b""


def test_a_message_over_the_size_limit_disconnects_its_sender(daemon, connect):
    alice = connect("alice")
    join_in_turn(alice)
    sock = raw_session(daemon, b"big")
    header = bytearray(p.data_message("#big#localhost", [GROUP], p.AGREED_MESS, 1, b"").encode())
    header[44:48] = (p.MAX_MESSAGE_BODY_LEN + 1).to_bytes(4, "little")
    sock.sendall(bytes(header))
    sock.settimeout(5)
    assert sock.recv(10) == b""
    sock.close()
    assert daemon.session_names() == ["#alice#localhost"]
    with pytest.raises(p.SpreadError) as caught:
        alice.multicast([GROUP], "AGREED", 1, bytes(p.MAX_MESSAGE_BODY_LEN + 1))
    assert caught.value.code == p.MESSAGE_TOO_LONG
    with pytest.raises(p.SpreadError) as caught:  # 144,000 bytes is over what Spread 4.4.0 takes (issue 10)
        alice.multicast([GROUP], "AGREED", 1, bytes(p.MAX_MESSAGE_BODY_LEN))
    assert caught.value.code == p.MESSAGE_TOO_LONG
    alice.multicast([GROUP], "AGREED", 1, bytes(p.max_body(1)))
    assert len(alice.receive(5).data) == p.max_body(1)


@pytest.mark.timeout(30)
def test_a_client_that_stops_reading_is_disconnected_and_does_not_block_the_others():
    # 20 MB to a member that reads nothing: more than its queue bound (2 MiB) plus
    # whatever the kernel buffers; the member that reads gets everything.
    with SpreadDaemon("127.0.0.1", 0, "localhost", max_queue_bytes=2 << 20) as daemon:
        alice, carol = SpreadClient(), SpreadClient()
        alice.connect(daemon.address, "alice")
        carol.connect(daemon.address, "carol")
        try:
            join_in_turn(alice)
            slow = silent_member(daemon, alice)
            payload, sends = bytes(50_000), 400
            received = []
            regular = [0]  # how many of them are carol's messages
            progress = threading.Condition()

            def read_all():
                while regular[0] < sends:
                    m = alice.receive(10)
                    with progress:
                        received.append(m)
                        regular[0] += m.is_regular
                        progress.notify_all()

            reader = threading.Thread(target=read_all)
            reader.start()
            for i in range(sends):
                carol.multicast([GROUP], "AGREED", 1, payload)  # an open-group sender
                with progress:  # the reading member keeps up; the silent one cannot
                    assert progress.wait_for(lambda i=i: i - regular[0] <= 10, timeout=10), "alice stopped reading"
            reader.join(20)
            assert not reader.is_alive()
            views = [(m.cause, m.membership.changed_member) for m in received if m.is_membership]
            assert views == [("disconnect", "#slow#localhost")]
            assert daemon.members(GROUP) == ["#alice#localhost"]
            slow.close()
        finally:
            alice.close_abruptly()
            carol.close_abruptly()


def test_self_discard_open_group_and_private_sends(connect):
    alice, bob, carol = connect("alice"), connect("bob"), connect("carol")
    join_in_turn(alice, bob)
    assert next_view(alice).membership.changed_member == "#bob#localhost"
    alice.multicast([GROUP], "AGREED", 5, b"nodup", self_discard=True)
    got = bob.receive(5)
    assert got.data == b"nodup" and got.self_discard and got.sender == "#alice#localhost"
    carol.multicast([GROUP], "SAFE", 1, b"open")
    assert alice.receive(5).data == b"open" and bob.receive(5).data == b"open"  # alice's own "nodup" never came
    carol.multicast(["#bob#localhost", GROUP], "FIFO", 2, b"once")
    assert [m.data for m in before_marker(bob, carol)] == [b"once"]
    assert [m.data for m in before_marker(alice, carol)] == [b"once"]
    assert before_marker(carol, carol) == []


def test_join_of_a_group_field_without_its_nul_comes_back_as_reject_mess(daemon):
    # Spread 4.4.0 joins "#alice#localhost" like any name (test_daemon_limits); a name that fills
    # its whole field cannot be echoed in one, so this daemon hands the request back instead.
    sock = raw_session(daemon, b"rej")
    request = p.Message(p.JOIN_MESS, "#rej#localhost", ("y" * 32,), group_fields=(b"y" * 32,)).encode()
    sock.sendall(request)
    sock.settimeout(5)
    got = b""
    while len(got) < len(request):
        got += sock.recv(1024)
    m = p.decode_message(got)
    assert m.is_reject and m.service_type & p.JOIN_MESS and m.groups == ("y" * 32,)
    sock.close()


def test_an_emptied_group_starts_its_index_again_and_other_groups_keep_theirs(connect):
    alice = connect("alice")
    alice.join(GROUP)
    alice.join("other.grp")
    alice.leave(GROUP)
    alice.join(GROUP)
    indexes = [(m.sender, m.membership.group_id.index) for m in before_marker(alice, alice) if m.is_reg_memb]
    assert indexes == [(GROUP, 1), ("other.grp", 1), (GROUP, 1)]


def test_stop_closes_every_connection(daemon, connect):
    alice = connect("alice")
    daemon.stop()
    with pytest.raises(p.SpreadConnectionError):
        alice.receive(5)


def test_the_daemon_logs_named_events_through_structlog():
    with structlog.testing.capture_logs() as logs, SpreadDaemon("127.0.0.1", 0, "localhost") as daemon:
        with socket.create_connection(("127.0.0.1", daemon.port), timeout=5) as sock:
            sock.sendall(p.ConnectRequest(b"bad#name").encode())
            assert sock.recv(10) == bytes([p.REJECT_ILLEGAL_NAME & 0xFF])
        alice = SpreadClient()
        alice.connect(daemon.address, "alice")
        alice.close_abruptly()
        eventually(lambda: daemon.session_names() == [], what="the daemon to see alice go")
    events = [(e["event"], e["log_level"]) for e in logs]
    assert events[0] == ("spread.daemon_listening", "info")
    assert logs[0]["address"] == daemon.address and logs[0]["daemon"] == "localhost"
    assert ("spread.session_ended", "info") in events
    assert all(event.startswith("spread.") for event, _ in events)
