"""The daemon's Unix socket beside TCP, and the client's use of it for a bare port (issue 10, 4).

Every socket here lives under the test's own tmp_path, named after the daemon's port as
libspread names ``/tmp/PORT``; a port another process takes between the pick and the bind
is picked again."""

from __future__ import annotations

import errno
import os
import socket

import pytest

from spread import protocol as p
from spread.address import parse_address, unix_socket_path
from spread.client import SpreadClient
from spread.daemon import SpreadDaemon
from spread.unix_socket import unix_socket_answers

GROUP = "photomark.svcs"


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as s:
        return s.getsockname()[1]


def start_local_daemon(directory) -> SpreadDaemon:
    """A daemon on a free port whose Unix socket is ``directory/PORT``."""
    for _ in range(10):
        port = free_port()
        daemon = SpreadDaemon("127.0.0.1", port, "localhost", unix_socket=unix_socket_path(port, str(directory)))
        try:
            return daemon.start()
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
    pytest.fail("no free port for the daemon in 10 tries")


@pytest.fixture
def daemon(tmp_path):
    d = start_local_daemon(tmp_path)
    yield d
    d.stop()


def test_the_socket_of_a_bare_port_is_tmp_port_as_libspread_has_it():
    assert unix_socket_path(4803) == "/tmp/4803"
    assert SpreadClient().unix_socket_dir == "/tmp"
    assert parse_address("4803").local and not parse_address("4803@127.0.0.1").local


def test_a_client_given_a_bare_port_talks_through_the_unix_socket(daemon, tmp_path):
    assert os.path.exists(daemon.unix_socket) and daemon.unix_socket.startswith(str(tmp_path))
    local, remote = SpreadClient(unix_socket_dir=str(tmp_path)), SpreadClient()
    try:
        me = local.connect(str(daemon.port), "alice", timeout=5)
        bob = remote.connect(f"{daemon.port}@127.0.0.1", "bob", timeout=5)
        assert daemon.transport_of(me) == "unix" and daemon.transport_of(bob) == "tcp"
        remote.join(GROUP)
        assert remote.receive(5).is_reg_memb
        local.multicast([GROUP], "AGREED", 7, b"through the socket")
        m = remote.receive(5)
        assert (m.sender, m.mess_type, m.data) == (me, 7, b"through the socket")
        remote.multicast([me], "SAFE", 8, b"and back")
        assert local.receive(5).data == b"and back"
    finally:
        local.close_abruptly()
        remote.close_abruptly()


def test_the_socket_file_is_gone_after_stop(tmp_path):
    daemon = start_local_daemon(tmp_path)
    path = daemon.unix_socket
    assert unix_socket_answers(path)
    daemon.stop()
    assert not os.path.lexists(path)


def test_a_stale_socket_file_is_replaced_at_start(tmp_path):
    port = free_port()
    path = unix_socket_path(port, str(tmp_path))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as dead:  # a killed daemon's leftover
        dead.bind(path)
    assert os.path.lexists(path) and not unix_socket_answers(path)
    with SpreadDaemon("127.0.0.1", port, "localhost", unix_socket=path) as daemon:
        client = SpreadClient(unix_socket_dir=str(tmp_path))
        assert client.connect(str(port), "alice", timeout=5) == "#alice#localhost"
        assert daemon.transport_of("#alice#localhost") == "unix"
        client.close_abruptly()


def test_a_socket_something_answers_on_is_left_alone_and_the_daemon_does_not_start(tmp_path):
    path = str(tmp_path / "taken")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as running:
        running.bind(path)
        running.listen(1)
        daemon = SpreadDaemon("127.0.0.1", 0, "localhost", unix_socket=path)
        with pytest.raises(OSError) as caught:
            daemon.start()
        assert caught.value.errno == errno.EADDRINUSE
        assert unix_socket_answers(path)  # still the other one's


def test_a_file_that_is_not_a_socket_is_not_removed(tmp_path):
    path = tmp_path / "notes"
    path.write_text("mine")
    with pytest.raises(FileExistsError):
        SpreadDaemon("127.0.0.1", 0, "localhost", unix_socket=str(path)).start()
    assert path.read_text() == "mine"


def test_a_bare_port_with_no_socket_is_could_not_connect(tmp_path):
    with pytest.raises(p.SpreadConnectionError) as caught:
        SpreadClient(unix_socket_dir=str(tmp_path)).connect("4803", "alice", timeout=2)
    assert caught.value.code == p.COULD_NOT_CONNECT
    assert str(tmp_path / "4803") in str(caught.value)


def test_a_daemon_without_a_unix_socket_serves_tcp_only():
    with SpreadDaemon("127.0.0.1", 0, "localhost") as daemon:  # as the embedded cluster's
        assert daemon.unix_socket is None
        assert not unix_socket_answers(unix_socket_path(daemon.port))
        client = SpreadClient()
        me = client.connect(daemon.address, "alice", timeout=5)
        assert daemon.transport_of(me) == "tcp"
        client.close_abruptly()
