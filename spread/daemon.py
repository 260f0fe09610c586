"""A single-host, Spread-compatible daemon (the Spread 4 client protocol over TCP and a Unix socket).

One daemon, no peers: every client connects to it, so one lock gives one total
order of everything it delivers.  Each session has a reader thread (handshake,
then requests) and a writer thread draining its own bounded queue; a change
of state (join, leave, disconnect, a multicast) and the queueing of every frame
it causes happen under the one lock, so every member sees views and messages in
the same order.  That is what AGREED and SAFE promise on one host.

What it does, as the real Spread 4.4.0 daemon does (see tests/data/spread/README.md
and issue 10, which measured the real one at its limits):

* it listens on TCP and, when given a path, on a Unix socket (``/tmp/PORT`` from
  ``photomark spread-daemon``, where libspread looks for a bare port); a stale
  socket file is replaced at start only if nothing answers on it, and removed on stop;
* the handshake: reject byte for a bad version (-7), an illegal name (-5) or a
  name in use (-6), auth list ``"NULL "``, the accept with ``#<user>#<daemon>``;
  an empty name gets ``r<random>-<fd>``; libraries 5.x are served as 4.x; a 3.15
  library, which predates authentication, gets the accept at once;
* JOIN / LEAVE / KILL, open-group sends by non-members, sends to private
  groups, one copy per recipient of a multi-group message, SELF_DISCARD; a JOIN
  or LEAVE takes any group name that fits its field (``"bad name"``, ``"#priv"``,
  the empty name), as the real one does;
* REG_MEMB_MESS to every member that asked for membership messages: members
  sorted by name, group id (proc id, membership time, per-group index), one
  vs-set holding the member that changed; the leaver's bare self-leave; a
  client that vanishes (FIN, RST, or a graceful disconnect while in groups)
  gives CAUSED_BY_DISCONNECT;
* regular messages relayed unchanged but for the header's byte order (the
  daemon's, little-endian) and the hint, passed through in the sender's order;
* it closes, and logs in one line, the session of a client that sends a frame the
  real one punishes (``frame_problem``): a sender field that is not the session's
  own private name, more than one service or request bit (AGREED|SAFE), more than
  100 groups, or body + 32 x groups over 143,152 bytes;
* a session with more than ``max_session_messages`` frames queued (Spread's
  MaxSessionMessages, 1,000) is cut off for not reading; its socket buffers are
  Spread's 200 KiB, so a silent member goes about as far as on the real daemon.

Where it is stricter than the real one, and why:

* body + 32 x groups between 143,153 and 143,952 bytes closes the session: the
  real daemon aborts on it (taking every client down), which nobody should copy;
* libraries 3.01 to 3.14 are refused (-7): they send a two-byte version, and this
  daemon reads the three bytes every library since 3.15 sends;
* a JOIN or LEAVE naming other than one group, or a group field without its NUL,
  comes back as REJECT_MESS (the real one reads the first field, past its end);
* a frame that does not decode, or a request of no known kind (a membership bit
  from a client), disconnects that client (others are not affected);
* a session whose queue of undelivered bytes passes ``max_queue_bytes`` is also cut
  off: a few big messages are as much a slow reader as many small ones.
"""

from __future__ import annotations

import collections
import os
import random
import signal
import socket
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Self

import structlog

from spread.constants import (
    AUTH_CHOICE_SIZE,
    CAUSED_BY_DISCONNECT,
    CAUSED_BY_JOIN,
    CAUSED_BY_LEAVE,
    CONNECT_FIXED_SIZE,
    DAEMON_VERSION,
    JOIN_MESS,
    KILL_MESS,
    LEAVE_MESS,
    MAX_GROUP_NAME,
    MAX_GROUPS_PER_MESSAGE,
    MAX_MULTICAST_SIZE,
    MAX_SESSION_MESSAGES,
    MEMBERSHIP_MESS,
    REGULAR_MESS,
    REJECT_AUTH,
    REJECT_ILLEGAL_NAME,
    REJECT_NOT_UNIQUE,
    REJECT_QUOTA,
    REJECT_VERSION,
    REQUEST_KIND_BITS,
    SELF_DISCARD,
    SESSION_SOCKET_BUFFER,
)
from spread.errors import SpreadError
from spread.handshake import (
    Accept,
    AuthList,
    decode_auth_choice,
    decode_connect,
    encode_reject,
)
from spread.messages import (
    LITTLE,
    GroupId,
    Message,
    encode_name,
    membership_message,
    reject_message,
    self_leave_message,
)
from spread.names import (
    legal_daemon_name,
    legal_user_name,
    private_group,
)
from spread.stream import FrameReader
from spread.unix_socket import bind_unix_socket, remove_unix_socket

log = structlog.get_logger()

__all__ = ["SpreadDaemon", "accepts_version", "authenticates", "frame_problem", "main"]


def accepts_version(version: tuple[int, int, int]) -> bool:
    """Client libraries from 3.15 on, 4.x and 5.x included (the real daemon takes anything from
    3.01; before 3.15 a library sends a two-byte version, which this daemon does not read)."""
    return version >= (3, 15, 0)


def authenticates(version: tuple[int, int, int]) -> bool:
    """Whether a library of ``version`` takes part in the authentication step (auth list, then
    its choice): from 3.16 on.  A 3.15 library gets the accept right after its connect request."""
    return version >= (3, 16, 0)


def frame_problem(session_name: str, m: Message) -> str | None:
    """Why Spread 4.4.0 would close the session ``session_name`` for sending ``m``, or None.

    Its checks of a client's header: exactly one service or request bit, the session's own
    private name as the sender, at most 100 groups, and (photomark's bound on the range where
    the real daemon closes the session or crashes) body + 32 x groups <= 143,152 bytes."""
    kinds = sum(1 for bit in REQUEST_KIND_BITS if m.service_type & bit)
    if kinds != 1:
        return f"type {m.service_type:#x} sets {kinds} service or request bits; exactly one is allowed"
    if m.sender != session_name:
        return f"session {session_name} sent a frame in the name of {m.sender!r}"
    if len(m.groups) > MAX_GROUPS_PER_MESSAGE:
        return f"{len(m.groups)} groups in one frame; at most {MAX_GROUPS_PER_MESSAGE}"
    size = len(m.data) + MAX_GROUP_NAME * len(m.groups)
    if size > MAX_MULTICAST_SIZE:
        return (
            f"body + groups of {len(m.data)} + {MAX_GROUP_NAME} x {len(m.groups)} = {size} bytes; "
            f"at most {MAX_MULTICAST_SIZE}"
        )
    return None


def default_daemon_name() -> str:
    name = socket.gethostname().split(".")[0][:19] or "localhost"
    return name if legal_daemon_name(name) else "localhost"


def proc_id_of(host: str) -> int:
    """The daemon's IPv4 address as a number (127.0.0.1 for a wildcard or unresolvable host)."""
    try:
        ip = socket.gethostbyname(host)
    except OSError:
        ip = "127.0.0.1"
    if ip == "0.0.0.0":
        ip = "127.0.0.1"
    return int.from_bytes(socket.inet_aton(ip), "big")


@dataclass
class Group:
    members: set[str] = field(default_factory=set)
    index: int = 0


class Session:
    """One accepted client: its name, groups, and the queue its writer thread drains.

    As in the real daemon, a frame goes to the socket at once when nothing is waiting before it (a
    non-blocking send, under the daemon's lock); only what the socket does not take is queued for the
    writer thread.  So the queue, and the ``max_session_messages`` bound on it, count what a client has
    left unread, not how soon this daemon's own writer thread got to run."""

    def __init__(
        self, sock: socket.socket, name: str, membership: bool, daemon: SpreadDaemon, transport: str = "tcp"
    ) -> None:
        self.sock = sock
        self.name = name
        self.membership = membership
        self.transport = transport  # "tcp" or "unix": the listener it came through
        self.groups: set[str] = set()
        self.closed = False
        self._daemon = daemon
        self._queue: collections.deque[bytes] = collections.deque()
        self.queued_bytes = 0
        self._writing = False  # the writer thread is sending a batch it took from the queue
        self._cond = threading.Condition()
        self.writer = threading.Thread(target=self._write, name=f"spread-writer {name}", daemon=True)

    @property
    def queued_messages(self) -> int:
        """Frames waiting for the writer (those it is sending now not counted, as in Spread)."""
        return len(self._queue)

    def enqueue(self, frame: bytes) -> bool:
        """Queue a frame; False when a queue bound (messages or bytes) is passed (the caller then
        kills the session)."""
        with self._cond:
            if self.closed:
                return True
            if not self._queue and not self._writing:
                frame = self._send_now(frame)
                if not frame:
                    return True
            self._queue.append(frame)
            self.queued_bytes += len(frame)
            self._cond.notify()
            daemon = self._daemon
            return len(self._queue) <= daemon.max_session_messages and self.queued_bytes <= daemon.max_queue_bytes

    def _send_now(self, frame: bytes) -> bytes:
        """What of ``frame`` the socket does not take at once (all of it when it takes none, or fails: the
        writer thread then meets the error and ends the session)."""
        try:
            sent = self.sock.send(frame, socket.MSG_DONTWAIT)
        except OSError:  # BlockingIOError (the socket is full) included
            return frame
        return frame[sent:]

    def close(self) -> None:
        with self._cond:
            self.closed = True
            self._queue.clear()
            self._cond.notify()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def _write(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self.closed:
                    self._cond.wait()
                if self.closed:
                    return
                batch = b"".join(self._queue)
                self._queue.clear()
                self.queued_bytes = 0
                self._writing = True
            try:
                self.sock.sendall(batch)
            except OSError:
                self._daemon._vanished(self)
                return
            with self._cond:
                self._writing = False


class SpreadDaemon:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4803,
        name: str | None = None,
        *,
        max_queue_bytes: int = 8 << 20,
        max_session_messages: int = MAX_SESSION_MESSAGES,
        max_sessions: int = 1000,
        handshake_timeout: float = 10.0,
        unix_socket: str | None = None,
    ) -> None:
        """``unix_socket``: a path to serve beside TCP (``photomark spread-daemon`` gives
        ``/tmp/PORT``, where libspread looks for a bare port), or None for TCP only."""
        self.host = host
        self.requested_port = port
        self.name = name or default_daemon_name()
        if not legal_daemon_name(self.name):
            raise ValueError(f"daemon name {self.name!r}: 1..19 bytes, each above '#' and at most '~'")
        self.max_queue_bytes = max_queue_bytes
        if max_session_messages < 1:
            raise ValueError(f"max_session_messages {max_session_messages} is not at least 1")
        self.max_session_messages = max_session_messages
        self.unix_socket = unix_socket
        self._unix_inode: int | None = None
        self.max_sessions = max_sessions
        self.handshake_timeout = handshake_timeout
        self.port = port
        self._lock = threading.RLock()
        self._sessions: dict[str, Session] = {}
        self._reserved: set[str] = set()
        self._groups: dict[str, Group] = {}
        self._doomed: list[Session] = []
        self._stopping = threading.Event()
        self._threads: set[threading.Thread] = set()
        self._acceptors: list[threading.Thread] = []
        self.memb_time = int(time.time())
        self.proc_id = proc_id_of(host)

    # -- life ---------------------------------------------------------------------
    @property
    def address(self) -> str:
        return f"{self.port}@{self.host}"

    def start(self) -> SpreadDaemon:
        listeners = [(socket.create_server((self.host, self.requested_port), reuse_port=False, backlog=128), "tcp")]
        if self.unix_socket:
            try:
                listeners.append((bind_unix_socket(self.unix_socket), "unix"))
            except BaseException:
                listeners[0][0].close()
                raise
            self._unix_inode = os.stat(self.unix_socket).st_ino  # what stop() may remove
        self.port = listeners[0][0].getsockname()[1]
        self.memb_time = int(time.time())
        for listener, transport in listeners:
            listener.settimeout(0.2)
            acceptor = threading.Thread(
                target=self._accept_loop,
                args=(listener, transport),
                name=f"spread-daemon {self.address} {transport}",
                daemon=True,
            )
            self._acceptors.append(acceptor)
            acceptor.start()
        log.info(
            "spread.daemon_listening",
            daemon=self.name,
            address=self.address,
            unix_socket=self.unix_socket,
            max_session_messages=self.max_session_messages,
        )
        return self

    def stop(self) -> None:
        self._stopping.set()
        for acceptor in self._acceptors:
            acceptor.join(5)
        if self.unix_socket and self._unix_inode is not None:
            remove_unix_socket(self.unix_socket, self._unix_inode)
            self._unix_inode = None
        with self._lock:
            sessions = list(self._sessions.values())
            self._sessions.clear()
            self._groups.clear()
        for s in sessions:
            s.close()
        for t in list(self._threads):
            t.join(5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- what tests may look at -------------------------------------------------------
    def members(self, group: str) -> list[str]:
        with self._lock:
            g = self._groups.get(group)
            return sorted(g.members) if g else []

    def session_names(self) -> list[str]:
        with self._lock:
            return sorted(self._sessions)

    def transport_of(self, session_name: str) -> str | None:
        """How the session came in: "tcp" or "unix" (None when there is no such session)."""
        with self._lock:
            s = self._sessions.get(session_name)
            return s.transport if s else None

    # -- connections ----------------------------------------------------------------------
    def _accept_loop(self, listener: socket.socket, transport: str) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    sock, _ = listener.accept()
                except TimeoutError:
                    continue
                except OSError:
                    if self._stopping.is_set():
                        return
                    time.sleep(0.05)
                    continue
                t = threading.Thread(target=self._serve, args=(sock, transport), name="spread-session", daemon=True)
                with self._lock:
                    self._threads.add(t)
                t.start()
        finally:
            listener.close()

    def _serve(self, sock: socket.socket, transport: str) -> None:
        session = None
        try:
            sock.settimeout(None)
            for option in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, option, SESSION_SOCKET_BUFFER)
            if transport == "tcp":
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            reader = FrameReader(sock)
            session = self._handshake(sock, reader, transport)
            if session is None:
                return
            while not session.closed:
                try:
                    message = reader.read_message()
                except SpreadError as exc:  # EOF, reset, or a malformed frame
                    if not session.closed:
                        log.info("spread.session_ended", session=session.name, reason=str(exc))
                    break
                problem = frame_problem(session.name, message)
                with self._lock:
                    if session.closed:
                        break
                    if problem is None:
                        self._dispatch(session, message)
                    else:
                        log.warning("spread.session_closed_for_frame", session=session.name, problem=problem)
                        self._disconnect(session)
                    self._reap()
        except Exception:  # a bug must not take the daemon down with it
            log.exception("spread.session_failed", session=session.name if session else None)
        finally:
            if session is not None:
                self._vanished(session)
                session.writer.join(5)
            sock.close()
            with self._lock:
                self._threads.discard(threading.current_thread())

    def _handshake(self, sock: socket.socket, reader: FrameReader, transport: str) -> Session | None:
        timeout = self.handshake_timeout
        reserved = None
        try:
            fixed = reader.read_exact(CONNECT_FIXED_SIZE, timeout)
            request = decode_connect(fixed + reader.read_exact(fixed[4], timeout))
            raw = request.name
            code = 0
            with self._lock:
                if not accepts_version(request.version):
                    code = REJECT_VERSION
                elif not legal_user_name(raw):
                    code = REJECT_ILLEGAL_NAME
                elif len(self._sessions) + len(self._reserved) >= self.max_sessions:
                    code = REJECT_QUOTA
                else:
                    user = raw.decode("ascii") if raw else self._invent_user(sock)
                    name = private_group(user, self.name)
                    if name in self._sessions or name in self._reserved:
                        code = REJECT_NOT_UNIQUE
                    else:
                        self._reserved.add(name)
                        reserved = name
            if code:
                sock.sendall(encode_reject(code))
                return None
            if authenticates(request.version):
                sock.sendall(AuthList(("NULL",)).encode())
                choice = decode_auth_choice(reader.read_exact(AUTH_CHOICE_SIZE, timeout))
                if choice.methods != (b"NULL",):
                    sock.sendall(encode_reject(REJECT_AUTH))
                    return None
            with self._lock:
                self._reserved.discard(name)
                reserved = None
                session = Session(sock, name, request.membership, self, transport)
                self._sessions[name] = session
                session.enqueue(Accept(name, DAEMON_VERSION).encode())
                session.writer.start()
            return session
        except (SpreadError, TimeoutError, OSError) as exc:
            log.info("spread.handshake_failed", error=str(exc))
            return None
        finally:
            if reserved is not None:
                with self._lock:
                    self._reserved.discard(reserved)

    def _invent_user(self, sock: socket.socket) -> str:
        while True:
            user = f"r{random.randint(0, 9998)}-{sock.fileno()}"[:10]
            name = private_group(user, self.name)
            if name not in self._sessions and name not in self._reserved:
                return user

    # -- requests (under the lock) ------------------------------------------------------------
    def _dispatch(self, session: Session, m: Message) -> None:
        kind = m.service_type
        if kind & KILL_MESS:
            self._disconnect(session)
        elif kind & JOIN_MESS:
            self._join(session, m)
        elif kind & LEAVE_MESS:
            self._leave(session, m)
        elif kind & REGULAR_MESS and not kind & MEMBERSHIP_MESS:
            self._multicast(session, m)
        else:
            log.info("spread.unknown_request", session=session.name, service_type=hex(kind))
            self._disconnect(session)

    def _target_group(self, session: Session, m: Message) -> str | None:
        """The group a JOIN or LEAVE names: any name its field holds, as Spread 4.4.0 takes it
        (``"bad name"``, ``"#priv"``, ``""``); REJECT_MESS for other than one field, or one without its NUL."""
        fields = m.group_fields or ()
        if len(fields) != 1 or b"\0" not in fields[0]:
            self._send(session, self._relayed(session, reject_message(m)))
            return None
        return m.groups[0]

    def _join(self, session: Session, m: Message) -> None:
        name = self._target_group(session, m)
        if name is None or name in session.groups:
            return
        group = self._groups.setdefault(name, Group())
        group.members.add(session.name)
        group.index += 1
        session.groups.add(name)
        self._announce(name, group, CAUSED_BY_JOIN, session.name)

    def _leave(self, session: Session, m: Message) -> None:
        name = self._target_group(session, m)
        if name is None or name not in session.groups:
            return
        if session.membership:
            self._send(session, self_leave_message(name).encode())
        self._remove(session, name, CAUSED_BY_LEAVE)

    def _remove(self, session: Session, name: str, cause: int) -> None:
        session.groups.discard(name)
        group = self._groups[name]
        group.members.discard(session.name)
        group.index += 1
        if group.members:
            self._announce(name, group, cause, session.name)
        else:
            del self._groups[name]

    def _disconnect(self, session: Session) -> None:
        if self._sessions.get(session.name) is not session:
            session.close()
            return
        del self._sessions[session.name]
        session.close()
        for name in sorted(session.groups):
            self._remove(session, name, CAUSED_BY_DISCONNECT)

    def _announce(self, name: str, group: Group, cause: int, changed: str) -> None:
        members = sorted(group.members)
        gid = GroupId(self.proc_id, self.memb_time, group.index)
        frame = membership_message(name, members, cause, gid, changed).encode()
        for member in members:
            s = self._sessions[member]
            if s.membership:
                self._send(s, frame)

    def _multicast(self, session: Session, m: Message) -> None:
        frame = self._relayed(session, m)
        recipients: dict[str, Session] = {}
        for name in m.groups:
            if name.startswith("#"):
                s = self._sessions.get(name)
                if s is not None:
                    recipients.setdefault(s.name, s)
            elif name in self._groups:
                for member in sorted(self._groups[name].members):
                    recipients.setdefault(member, self._sessions[member])
        if m.service_type & SELF_DISCARD:
            recipients.pop(session.name, None)
        for s in recipients.values():
            self._send(s, frame)

    def _relayed(self, session: Session, m: Message) -> bytes:
        """The frame as delivered: daemon byte order, the session's own name, the hint untouched."""
        hint_order = m.hint_byte_order or m.byte_order
        return replace(
            m,
            byte_order=LITTLE,
            hint_byte_order=None if hint_order == LITTLE else hint_order,
            sender_field=encode_name(session.name),
        ).encode()

    def _send(self, session: Session, frame: bytes) -> None:
        if not session.enqueue(frame):
            log.warning(
                "spread.slow_session_dropped",
                session=session.name,
                queued_messages=session.queued_messages,
                queued_bytes=session.queued_bytes,
            )
            self._doomed.append(session)

    def _reap(self) -> None:
        while self._doomed:
            self._disconnect(self._doomed.pop())

    def _vanished(self, session: Session) -> None:
        """The connection broke (EOF, reset, a failed send): as a disconnect."""
        with self._lock:
            self._disconnect(session)
            self._reap()


def main(
    host: str = "127.0.0.1",
    port: int = 4803,
    name: str | None = None,
    *,
    max_session_messages: int = MAX_SESSION_MESSAGES,
    unix_socket: str | None = None,
) -> None:
    """Run a daemon until interrupted (SIGINT or SIGTERM).  It logs through structlog,
    as configured by its caller (``photomark spread-daemon`` does it in ``cli/logs.py``)."""
    daemon = SpreadDaemon(host, port, name, max_session_messages=max_session_messages, unix_socket=unix_socket).start()
    done = threading.Event()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, lambda *_: done.set())
    try:
        while not done.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        daemon.stop()


if __name__ == "__main__":
    import sys

    main(*(sys.argv[1:2] or ["127.0.0.1"]), *(int(a) for a in sys.argv[2:3]), *sys.argv[3:4])
