"""Helpers for tests that drive the daemon with several clients: views, markers, raw sessions."""

from __future__ import annotations

import socket
from itertools import count

from spread import protocol as p

GROUP = "photomark.svcs"
MARKER = 0x7FFF  # the mess_type of the markers that close a negative assertion
_markers = count()


def next_view(client, timeout=5.0):
    while True:
        m = client.receive(timeout)
        if m.is_membership:
            return m


def before_marker(client, sender):
    """What ``client`` receives before a marker that ``sender`` sends to its private group now.

    The daemon orders everything under one lock, so whatever it ordered before the
    marker (every request ``sender`` sent before it, everything already seen to
    happen) reaches ``client`` first: an empty list says nothing else was coming."""
    payload = b"marker %d" % next(_markers)
    sender.multicast([client.private_name], "AGREED", MARKER, payload)
    got = []
    while not ((m := client.receive(5)).is_regular and m.mess_type == MARKER and m.data == payload):
        got.append(m)
    return got


def told(m):
    """A message as a line of a member's story: its payload, or the view's cause and changed member."""
    return m.data if m.is_regular else (m.cause, m.membership.changed_member)


def join_in_turn(*clients):
    """Join one after the other, each waiting for its own view (joins from two sockets race)."""
    for c in clients:
        c.join(GROUP)
        next_view(c)


def silent_member(daemon, member):
    """A raw session "slow" with a tiny receive buffer that joins GROUP (``member``, in it, sees the join) and
    then reads nothing: the daemon's queue for it only grows."""
    slow = raw_session(daemon, b"slow")
    slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    slow.sendall(p.join_request("#slow#localhost", GROUP).encode())
    assert next_view(member).membership.changed_member == "#slow#localhost"
    return slow


def raw_session(daemon, name=b"raw"):
    sock = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
    sock.sendall(p.ConnectRequest(name).encode())
    assert sock.recv(6) == b"\x05NULL "
    sock.sendall(p.AuthChoice().encode())
    want = p.Accept(f"#{name.decode()}#localhost", (4, 4, 0)).encode()
    got = b""
    while len(got) < len(want):
        got += sock.recv(len(want) - len(got))
    assert got == want
    return sock
