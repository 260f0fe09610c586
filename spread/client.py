"""A blocking client of the Spread 4 client protocol (what libspread's SP_* calls do).

One connection to one daemon, over TCP for ``PORT@HOST`` and over the daemon's
Unix socket (``/tmp/PORT``, as libspread does) for a bare ``PORT``::

    client = SpreadClient()
    me = client.connect("4803@127.0.0.1", "alice")   # "#alice#<daemon>"
    client.join("photomark.svcs")
    client.multicast(["photomark.svcs"], "AGREED", 1, b"{}")
    message = client.receive(timeout=1.0)            # a decoded Message
    client.disconnect()

Sends may come from any thread (they are serialised); ``receive`` belongs to
one reader thread.  A multicast is refused before it is sent when a real Spread
4.4.0 daemon would crash on it or close the session (``max_body``).
"""

from __future__ import annotations

import socket
import threading
from typing import Self

from spread.address import SpreadAddress, parse_address, unix_socket_path
from spread.constants import (
    COULD_NOT_CONNECT,
    ILLEGAL_GROUP,
    ILLEGAL_SERVICE,
    ILLEGAL_SESSION,
    MAX_GROUPS_PER_MESSAGE,
    MAX_PRIVATE_NAME,
    NET_ERROR_ON_SESSION,
    REGULAR_MESS,
    SELF_DISCARD,
    SERVICE_NAMES,
    UNIX_SOCKET_DIR,
    max_body,
)
from spread.errors import MessageTooLong, ProtocolError, SpreadConnectionError, SpreadError
from spread.handshake import (
    ACCEPT_FIXED_SIZE,
    AuthChoice,
    ConnectRequest,
    accept_result,
    auth_list_length,
    decode_accept,
    decode_auth_list,
)
from spread.messages import (
    Message,
    data_message,
    join_request,
    kill_request,
    leave_request,
)
from spread.names import destination_problem, group_name_problem
from spread.stream import FrameReader

__all__ = ["SpreadClient", "check_destination", "check_group_name", "check_size", "service_bits"]


def service_bits(service: str | int, self_discard: bool = False) -> int:
    """``"AGREED"`` (or ``AGREED_MESS``) to the service bits, SELF_DISCARD added when asked."""
    if isinstance(service, str):
        key = service.upper().removesuffix("_MESS")
        if key not in SERVICE_NAMES:
            raise SpreadError(ILLEGAL_SERVICE, f"{service!r} is not one of {', '.join(SERVICE_NAMES)}")
        bits = SERVICE_NAMES[key]
    else:
        bits = int(service)
    if not bits & REGULAR_MESS or bits & ~(REGULAR_MESS | SELF_DISCARD):
        raise SpreadError(ILLEGAL_SERVICE, f"service type {bits:#x} is not a regular message service")
    return bits | (SELF_DISCARD if self_discard else 0)


def check_group_name(group: str) -> None:
    """SP_join's rule: 1..31 bytes, each above '#' and at most '~' (``spread/names.py``)."""
    problem = group_name_problem(group)
    if problem:
        raise SpreadError(ILLEGAL_GROUP, problem)


def check_destination(group: str) -> None:
    """Where a multicast may go: a group one could join, or a private group ``#user#daemon``."""
    problem = destination_problem(group)
    if problem:
        raise SpreadError(ILLEGAL_GROUP, problem)


def check_size(groups: int, payload_size: int) -> None:
    """What a real Spread 4.4.0 daemon takes in one multicast: at most 100 groups, and a body of
    at most ``max_body(groups)`` bytes (it closes the session of, or even crashes on, anything more)."""
    if groups > MAX_GROUPS_PER_MESSAGE:
        raise SpreadError(ILLEGAL_GROUP, f"{groups} groups; a multicast names at most {MAX_GROUPS_PER_MESSAGE}")
    limit = max_body(groups)
    if payload_size > limit:
        raise MessageTooLong(payload_size, groups, limit)


def open_socket(where: SpreadAddress, timeout: float, unix_socket_dir: str) -> socket.socket:
    """A connected stream socket to the daemon: its Unix socket for a bare port, else TCP."""
    if not where.local:
        sock = socket.create_connection((where.host, where.port), timeout=timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(unix_socket_path(where.port, unix_socket_dir))
    except BaseException:
        sock.close()
        raise
    return sock


class SpreadClient:
    def __init__(self, unix_socket_dir: str = UNIX_SOCKET_DIR) -> None:
        """``unix_socket_dir``: where a bare ``PORT`` address finds the daemon's socket (libspread's
        ``/tmp``); tests point it at a directory of their own."""
        self.unix_socket_dir = unix_socket_dir
        self._sock: socket.socket | None = None
        self._reader: FrameReader | None = None
        self._send_lock = threading.Lock()
        self.private_name = ""
        self.daemon_version: tuple[int, int, int] | None = None

    # -- session ---------------------------------------------------------------
    def connect(
        self,
        address: str = "4803@127.0.0.1",
        user: str = "",
        membership: bool = True,
        timeout: float = 5.0,
        priority: int = 0,
    ) -> str:
        """Open a session; returns the private group name ``#<user>#<daemon>``.

        Like libspread, a name longer than 10 bytes is cut to 10.  Raises
        ``SpreadRejected`` with the daemon's code when it refuses.
        """
        if self._sock is not None:
            raise SpreadError(ILLEGAL_SESSION, "this client is already connected")
        where = parse_address(address)
        try:
            sock = open_socket(where, timeout, self.unix_socket_dir)
        except OSError as exc:
            via = unix_socket_path(where.port, self.unix_socket_dir) if where.local else str(where)
            raise SpreadConnectionError(COULD_NOT_CONNECT, f"{via}: {exc}") from None
        try:
            sock.settimeout(None)
            reader = FrameReader(sock)
            name = user.encode("latin-1")[:MAX_PRIVATE_NAME]
            sock.sendall(ConnectRequest(name, membership, priority).encode())
            n = auth_list_length(reader.read_exact(1, timeout)[0])
            auth = decode_auth_list(bytes((n,)) + reader.read_exact(n, timeout))
            if "NULL" not in auth.methods:
                raise ProtocolError(f"the daemon offers only {auth.methods}; this client speaks NULL auth")
            sock.sendall(AuthChoice((b"NULL",)).encode())
            first = reader.read_exact(1, timeout)
            accept_result(first[0])
            fixed = first + reader.read_exact(ACCEPT_FIXED_SIZE - 1, timeout)
            accepted = decode_accept(fixed + reader.read_exact(fixed[4], timeout))
        except TimeoutError:
            sock.close()
            raise SpreadConnectionError(
                COULD_NOT_CONNECT, f"{where}: no answer to the handshake in {timeout}s"
            ) from None
        except BaseException:
            sock.close()
            raise
        self._sock, self._reader = sock, reader
        self.private_name = accepted.private_group
        self.daemon_version = accepted.version
        return self.private_name

    @property
    def connected(self) -> bool:
        return self._sock is not None

    def disconnect(self) -> None:
        """Send KILL_MESS and close (SP_disconnect). Safe to call twice."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        try:
            with self._send_lock:
                sock.sendall(kill_request(self.private_name).encode())
        except OSError:
            pass
        finally:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()

    def close_abruptly(self) -> None:
        """Close the socket without KILL_MESS (what a crashed process does)."""
        sock, self._sock = self._sock, None
        if sock is not None:
            sock.close()

    # -- requests ----------------------------------------------------------------
    def join(self, group: str) -> None:
        check_group_name(group)
        self._send(join_request(self.private_name, group))

    def leave(self, group: str) -> None:
        check_group_name(group)
        self._send(leave_request(self.private_name, group))

    def multicast(
        self,
        groups: str | list[str] | tuple[str, ...],
        service: str | int,
        mess_type: int,
        payload: bytes,
        self_discard: bool = False,
    ) -> None:
        groups = (groups,) if isinstance(groups, str) else tuple(groups)
        if not groups:
            raise SpreadError(ILLEGAL_GROUP, "a multicast needs at least one group")
        for g in groups:
            check_destination(g)
        check_size(len(groups), len(payload))
        if not -0x8000 <= mess_type <= 0xFFFF:
            raise SpreadError(ILLEGAL_SERVICE, f"mess_type {mess_type} does not fit 16 bits")
        bits = service_bits(service, self_discard)
        self._send(data_message(self.private_name, groups, bits, mess_type, payload))

    def receive(self, timeout: float | None = None) -> Message:
        """The next message from the daemon; TimeoutError if none whole arrives in ``timeout`` s."""
        reader = self._reader
        if self._sock is None or reader is None:
            raise SpreadConnectionError(ILLEGAL_SESSION, "not connected")
        return reader.read_message(timeout)

    def _send(self, message: Message) -> None:
        sock = self._sock
        if sock is None:
            raise SpreadConnectionError(ILLEGAL_SESSION, "not connected")
        frame = message.encode()
        try:
            with self._send_lock:
                sock.sendall(frame)
        except OSError as exc:
            raise SpreadConnectionError(NET_ERROR_ON_SESSION, str(exc)) from None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.disconnect()
