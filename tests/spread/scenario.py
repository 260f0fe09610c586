"""Replay a recorded transcript's scenario against a daemon and compare what the daemon sends.

Every connection of the transcript is played in capture order, either by
``SpreadClient`` (mode "client") or by sending the recorded client bytes
verbatim (mode "raw"; always for the hand-made big-endian client of file 08).
Each recorded d2c frame is read from its connection and compared with the
recorded bytes, apart from what the README says varies: the group id's
memb_time, and the daemon-invented name of an anonymous client.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import replace

from spread import protocol as p
from spread.client import SpreadClient
from spread.stream import FrameReader
from tests.spread.transcripts import (
    ACCEPT,
    AUTH_CHOICE,
    AUTH_LIST,
    CONNECT,
    REJECT,
    frames,
    load,
)


def without_memb_time(data: bytes) -> bytes:
    m = p.decode_message(data)
    if m.membership is None:
        return data
    start = 48 + 32 * len(m.groups) + 4
    return data[:start] + b"\0\0\0\0" + data[start + 4 :]


def renamed(data: bytes, names: dict[str, str]) -> bytes:
    """A message frame with recorded private names replaced by the ones this run got."""
    if not names:
        return data
    m = p.decode_message(data)

    def sub(n):
        return names.get(n, n)

    membership = m.membership
    data_bytes = m.data
    if membership is not None and not membership.transition:
        membership = replace(membership, vs_sets=tuple(tuple(sub(x) for x in s) for s in membership.vs_sets))
        data_bytes = membership.encode(m.byte_order)
    groups = tuple(sub(g) for g in m.groups)
    if m.membership is not None:
        groups = tuple(sorted(groups))
    return p.Message(
        m.service_type, sub(m.sender), groups, m.mess_type, data_bytes, m.byte_order, m.hint_byte_order
    ).encode()


def as_sent_by(data: bytes, names: dict[str, str]) -> bytes:
    """A recorded client frame with its sender field naming the session as this run's daemon named
    it (libspread always sends its own private name there; the daemon closes a session that forges
    another's).  Only an anonymous client's daemon-made name differs between runs."""
    sender = p.decode_message(data).sender
    if sender not in names:
        return data
    return data[:4] + p.encode_name(names[sender]) + data[4 + p.MAX_GROUP_NAME :]


class RawConnection:
    """Sends recorded client bytes as they are; reads whole daemon frames."""

    def __init__(self, address: str):
        port, host = address.split("@")
        self.sock = socket.create_connection((host, int(port)), timeout=5)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.reader = FrameReader(self.sock)
        self.killed = False

    def send(self, data: bytes):
        self.sock.sendall(data)

    def read_handshake(self, kind: str) -> bytes:
        first = self.reader.read_exact(1, 5)
        if kind in (AUTH_LIST, REJECT):
            if first[0] >= 0x80:
                return first
            return first + self.reader.read_exact(first[0], 5)
        rest = self.reader.read_exact(4, 5)
        return first + rest + self.reader.read_exact(rest[3], 5)

    def receive(self) -> bytes:
        return self.reader.read_message(5).encode()

    def close(self, reset: bool = False):
        if reset:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.sock.close()


MARKER = 0x7FFF  # the mess_type of the marker a client sends itself before its disconnect


def before_marker(client: SpreadClient) -> list[p.Message]:
    """What ``client`` receives before a marker it sends to its own private group now.

    The daemon delivers in one order, so a frame it meant for ``client`` before
    the marker arrives first: an empty list says the transcript missed nothing.
    (The marker goes to the client alone, so no other connection's frames change.)"""
    payload = b"end of " + client.private_name.encode()
    client.multicast([client.private_name], "AGREED", MARKER, payload)
    got = []
    while not ((m := client.receive(timeout=5)).is_regular and m.mess_type == MARKER and m.data == payload):
        got.append(m)
    return got


def play(name: str, address: str, mode: str) -> list[str]:
    """Play the transcript; returns a list of differences (empty when the daemon matched)."""
    doc = load(name)
    infos = {c["conn"]: c for c in doc["connections"]}
    raw_conns = {f.conn for f in frames(name) if not f.golden} | (set(infos) if mode == "raw" else set())
    conns: dict[str, object] = {}
    names: dict[str, str] = {}  # recorded private group -> this run's
    problems: list[str] = []
    events = doc["tcp_events"]

    def abrupt_closes(before):
        for e in events:
            if e["before_frame"] == before and e["dir"] == "c2d" and e["tcp"] in ("FIN", "RST"):
                c = conns.get(e["conn"])
                if c is not None and not getattr(c, "killed", False):
                    if isinstance(c, RawConnection):
                        c.close(reset=e["tcp"] == "RST")
                    else:
                        if e["tcp"] == "RST":
                            c._sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                        c.close_abruptly()
                    c.killed = True

    try:
        for frame in frames(name):
            abrupt_closes(frame.i)
            info = infos[frame.conn]
            raw = frame.conn in raw_conns
            if frame.kind == CONNECT:
                if raw:
                    conns[frame.conn] = RawConnection(address)
                    conns[frame.conn].send(frame.data)
                    continue
                client = SpreadClient()
                client.killed = False
                conns[frame.conn] = client
                try:
                    got = client.connect(address, info["private_name_sent"], bool(info["membership_flag"]), timeout=5)
                except p.SpreadRejected as exc:
                    want = info["result"]
                    if want != f"rejected {exc.code} ({p.error_name(exc.code)})":
                        problems.append(f"{frame.conn}: rejected with {exc.code}, recorded {want}")
                    client.killed = True
                    continue
                if info["result"] != "accepted":
                    problems.append(f"{frame.conn}: accepted as {got}, recorded {info['result']}")
                if got != info["private_group"]:
                    names[info["private_group"]] = got
                    if info["private_name_sent"]:
                        problems.append(f"{frame.conn}: private group {got}, recorded {info['private_group']}")
                continue
            conn = conns[frame.conn]
            if frame.kind in (AUTH_LIST, REJECT, ACCEPT, AUTH_CHOICE) and not raw:
                continue  # SpreadClient.connect did the whole handshake
            if frame.dir == "c2d":
                if raw:
                    conn.send(frame.data if frame.kind == AUTH_CHOICE else as_sent_by(frame.data, names))
                    if frame.kind != AUTH_CHOICE and p.decode_message(frame.data).service_type & p.KILL_MESS:
                        conn.killed = True
                    continue
                m = p.decode_message(frame.data)
                if m.service_type & p.JOIN_MESS:
                    conn.join(m.groups[0])
                elif m.service_type & p.LEAVE_MESS:
                    conn.leave(m.groups[0])
                elif m.service_type & p.KILL_MESS:
                    unexpected = before_marker(conn)
                    if unexpected:
                        problems.append(f"{frame.conn}: unexpected frames before its disconnect: {unexpected}")
                    conn.disconnect()
                    conn.killed = True
                else:
                    targets = [names.get(g, g) for g in m.groups]
                    conn.multicast(targets, m.service_type & p.REGULAR_MESS, m.mess_type, m.data, m.self_discard)
                continue
            # a frame the daemon sent
            try:
                if raw and frame.kind != "message":
                    got = conn.read_handshake(frame.kind)
                else:
                    got = conn.receive() if raw else conn.receive(timeout=5).encode()
            except (TimeoutError, p.SpreadError) as exc:
                problems.append(f"{frame.id}: nothing arrived ({exc})")
                break
            if frame.kind == ACCEPT:
                got_name = p.decode_accept(got).private_group
                if got_name != info["private_group"]:
                    names[info["private_group"]] = got_name
                    want = p.Accept(got_name, (4, 4, 0)).encode()
                else:
                    want = frame.data
            elif frame.kind == "message":
                want = without_memb_time(renamed(frame.data, names))
                got = without_memb_time(got if not names else renamed(got, {}))
            else:
                want = frame.data
            if got != want:
                problems.append(f"{frame.id}: daemon sent\n  {got.hex()}\nrecorded\n  {want.hex()}")
        abrupt_closes(None)
    finally:
        for c in conns.values():
            if isinstance(c, RawConnection):
                c.close()
            else:
                c.close_abruptly()
    return problems
