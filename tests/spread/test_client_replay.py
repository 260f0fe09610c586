"""The client, replayed against the recorded daemon bytes, sends the recorded client bytes."""

from __future__ import annotations

import socket
import threading

import pytest

from spread import protocol as p
from spread.address import parse_address
from spread.client import SpreadClient
from tests.spread.transcripts import (
    ACCEPT,
    AUTH_CHOICE,
    AUTH_LIST,
    CONNECT,
    REJECT,
    conn_frames,
    load,
    masked,
    transcript_files,
)


class ScriptedDaemon:
    """A fake daemon for one connection: sends the recorded d2c frames, reads and keeps the c2d ones."""

    def __init__(self, frames):
        self.frames = frames
        self.received: list[tuple[object, bytes]] = []
        self.error: BaseException | None = None
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        try:
            self.listener.settimeout(5)
            conn, _ = self.listener.accept()
            with conn:
                conn.settimeout(5)
                for frame in self.frames:
                    if frame.dir == "d2c":
                        conn.sendall(frame.data)
                    else:
                        got = b""
                        while len(got) < len(frame.data):
                            chunk = conn.recv(len(frame.data) - len(got))
                            if not chunk:
                                raise AssertionError(f"client closed before sending frame {frame.id}")
                            got += chunk
                        self.received.append((frame, got))
                # whatever the client sends after the script is an error
                extra = conn.recv(1)
                if extra:
                    raise AssertionError(f"client sent bytes beyond the transcript: {extra!r}")
        except Exception as exc:  # noqa: BLE001 -- reported by finish()
            self.error = exc
        finally:
            self.listener.close()

    def finish(self):
        self.thread.join(10)
        assert not self.thread.is_alive(), "scripted daemon still running"
        if self.error:
            raise self.error
        for frame, got in self.received:
            assert masked(got, frame.dont_care) == masked(frame.data, frame.dont_care), (
                f"{frame.id}: client sent\n{got.hex()}\nrecorded\n{frame.data.hex()}"
            )
        assert len(self.received) == sum(1 for f in self.frames if f.dir == "c2d")


def replay(client: SpreadClient, address: str, info: dict, frames, user: str | None = None):
    """Drive the client through the connection's recorded actions; check what it receives."""
    messages = [f for f in frames if f.kind not in (CONNECT, AUTH_CHOICE, AUTH_LIST, ACCEPT, REJECT)]
    name = client.connect(
        address, info["private_name_sent"] if user is None else user, bool(info["membership_flag"]), timeout=5
    )
    assert name == info["private_group"]
    for frame in messages:
        m = p.decode_message(frame.data)
        if frame.dir == "d2c":
            got = client.receive(timeout=5)
            assert got.encode() == frame.data
            assert got == m
        elif m.service_type & p.JOIN_MESS:
            client.join(m.groups[0])
        elif m.service_type & p.LEAVE_MESS:
            client.leave(m.groups[0])
        elif m.service_type & p.KILL_MESS:
            client.disconnect()
        else:
            client.multicast(list(m.groups), m.service_type & p.REGULAR_MESS, m.mess_type, m.data, m.self_discard)


CASES = [
    (path.name, c["conn"])
    for path in transcript_files()
    for c in load(path.name)["connections"]
    if all(f.golden for f in conn_frames(path.name, c["conn"]))
]


@pytest.mark.timeout(30)
@pytest.mark.parametrize(("name", "conn"), CASES, ids=[f"{n}:{c}" for n, c in CASES])
def test_client_sends_the_recorded_bytes(name, conn):
    info = next(c for c in load(name)["connections"] if c["conn"] == conn)
    frames = conn_frames(name, conn)
    daemon = ScriptedDaemon(frames)
    client = SpreadClient()
    address = f"{daemon.port}@127.0.0.1"
    try:
        if info["result"].startswith("rejected"):
            code = int(info["result"].split()[1])
            with pytest.raises(p.SpreadRejected) as caught:
                client.connect(address, info["private_name_sent"], bool(info["membership_flag"]), timeout=5)
            assert caught.value.code == code
            assert not client.connected
        else:
            replay(client, address, info, frames)
    finally:
        client.close_abruptly()
    daemon.finish()


@pytest.mark.timeout(30)
def test_a_long_user_name_is_cut_to_ten_bytes_like_libspread():
    info = next(c for c in load("04_connect_rejects.json")["connections"] if c["conn"] == "alicealice")
    daemon = ScriptedDaemon(conn_frames("04_connect_rejects.json", "alicealice"))
    client = SpreadClient()
    try:
        replay(
            client,
            f"{daemon.port}@127.0.0.1",
            info,
            conn_frames("04_connect_rejects.json", "alicealice"),
            user="alicealicealice",
        )
    finally:
        client.close_abruptly()
    daemon.finish()


@pytest.mark.parametrize(
    ("text", "host", "port", "local"),
    [
        ("4803@127.0.0.1", "127.0.0.1", 4803, False),
        ("4803", "127.0.0.1", 4803, True),  # a bare port: the daemon's Unix socket, as libspread reads it
        ("5000@spread.lab", "spread.lab", 5000, False),
        (" 4803@[::1] ", "::1", 4803, False),
    ],
)
def test_spread_address_notation(text, host, port, local):
    assert parse_address(text) == p_address(host, port, local)


def p_address(host, port, local):
    from spread.address import SpreadAddress

    return SpreadAddress(host, port, local)


@pytest.mark.parametrize("text", ["127.0.0.1:4803", "@host", "abc@host", "70000@host", ""])
def test_a_bad_address_is_illegal_spread(text):
    with pytest.raises(p.SpreadError) as caught:
        parse_address(text)
    assert caught.value.code == p.ILLEGAL_SPREAD


def test_connect_to_nothing_is_could_not_connect():
    port = socket.create_server(("127.0.0.1", 0))
    free = port.getsockname()[1]
    port.close()
    with pytest.raises(p.SpreadConnectionError) as caught:
        SpreadClient().connect(f"{free}@127.0.0.1", "alice", timeout=2)
    assert caught.value.code == p.COULD_NOT_CONNECT


def test_a_daemon_that_never_answers_times_out_as_could_not_connect():
    with (
        socket.create_server(("127.0.0.1", 0)) as silent,
        pytest.raises(p.SpreadConnectionError, match="no answer to the handshake"),
    ):
        SpreadClient().connect(f"{silent.getsockname()[1]}@127.0.0.1", "alice", timeout=0.3)


@pytest.mark.parametrize("group", ["", "bad group", "has#hash", "x" * 32])
def test_join_refuses_an_illegal_group_name_before_sending(group):
    client = SpreadClient()
    with pytest.raises(p.SpreadError) as caught:
        client.join(group)
    assert caught.value.code == p.ILLEGAL_GROUP


def test_multicast_refuses_a_too_long_message_and_a_bad_service():
    client = SpreadClient()
    with pytest.raises(p.SpreadError) as caught:
        client.multicast(["g"], "AGREED", 1, bytes(p.MAX_MESSAGE_BODY_LEN + 1))
    assert caught.value.code == p.MESSAGE_TOO_LONG
    with pytest.raises(p.SpreadError) as caught:
        client.multicast(["g"], "TOTAL", 1, b"")
    assert caught.value.code == p.ILLEGAL_SERVICE


def test_sending_without_a_session_is_illegal_session():
    with pytest.raises(p.SpreadConnectionError) as caught:
        SpreadClient().multicast(["g"], "AGREED", 1, b"x")
    assert caught.value.code == p.ILLEGAL_SESSION
