"""The group gateway on a real Spread (or Spread-compatible) daemon.

``SpreadGroupConnection`` owns one Spread client connection.  Its actor thread
sends (join, leave, multicast); a reader thread receives and tells listeners
domain events (``ViewChanged``, ``MessageReceived``), never Spread frames.
When the daemon goes away the reader tells every listener it is out of its
groups (cause ``"network"``, no members), reconnects with backoff, and rejoins;
the rejoin brings ordinary join views.  A multicast while the connection is
down raises ``SpreadConnectionError`` with CONNECTION_CLOSED, the port's
``GroupConnectionError`` (a sender must know its message is lost).

The reader keeps reading whatever the actors do: a Spread daemon cuts a
session that leaves about 1,000 messages unread (MaxSessionMessages), so the
reader never waits for a listener's mailbox, for the actor thread, or for a
send (see "the reader thread" below).  Slow listeners hold the backlog in their
own mailboxes; a session cut anyway is reconnected and rejoined like a lost one.

Names and messages are checked as the in-memory twin checks them
(``spread/names.py``, ``ports.group.check_multicast``): a user name over 10
bytes is refused, not cut as libspread would; message types are 0..65535 both
ways (Spread's wire carries a signed 16-bit number; the gateway hands it back
unsigned).  ``tests/conformance/test_group_port.py`` holds both twins to one suite.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import pykka
import structlog

from actorkit.messaging import ref_of, tell_call
from ports.group import (
    CONNECTION_CLOSED,
    REJECT_ILLEGAL_NAME,
    MessageReceived,
    ViewChanged,
    check_multicast,
)
from spread.client import SpreadClient, check_destination, check_group_name
from spread.errors import SpreadConnectionError, SpreadError, SpreadRejected
from spread.messages import Message
from spread.names import user_name_problem

log = structlog.get_logger()

RECONNECT_DELAYS = (0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0)  # then 5 s between attempts


def check_user(user: str) -> None:
    """The user name rule of ``spread/names.py``, before connecting (libspread would cut a long name)."""
    if not isinstance(user, str):
        raise TypeError(f"a user name is a str, not {type(user).__name__}")
    problem = user_name_problem(user)
    if problem:
        raise SpreadRejected(REJECT_ILLEGAL_NAME, problem)


def events_of(message: Message, me: str, joined: set[str]) -> list[ViewChanged | MessageReceived]:
    """What one received Spread message means to listeners (a pure function)."""
    if message.is_reject:
        log.warning("spread.request_rejected", service_type=hex(message.service_type), groups=list(message.groups))
        return []
    if message.is_reg_memb:
        changed = message.membership.changed_member if message.membership else ""
        return [
            ViewChanged(message.sender, tuple(sorted(message.groups)), message.cause, (changed,) if changed else (), me)
        ]
    if message.is_self_leave:
        return [ViewChanged(message.sender, (), "leave", (me,), me)]
    if message.is_membership:  # a transitional view: the next regular view says it all
        return []
    if message.is_regular:
        ours = [g for g in message.groups if g in joined]
        group = ours[0] if ours else (message.groups[0] if message.groups else me)
        return [MessageReceived(group, message.sender, message.mess_type & 0xFFFF, message.data, me)]
    return []


def _method(event: ViewChanged | MessageReceived) -> str:
    return "on_view_changed" if isinstance(event, ViewChanged) else "on_message_received"


class SpreadGroupConnection(pykka.ThreadingActor):
    def __init__(self, address: str, user: str, reconnect_delays: Sequence[float] = RECONNECT_DELAYS) -> None:
        super().__init__()
        self._address = address
        self._user = user
        self._delays = tuple(reconnect_delays)
        check_user(user)
        self._lock = threading.Lock()
        self._client = SpreadClient()
        self._me = self._client.connect(address, user)
        self._groups: set[str] = set()
        self._listeners: list[pykka.ActorRef] = []
        self._waiting: list[ViewChanged | MessageReceived] = []  # arrived while nobody listened
        self._views: dict[str, tuple[str, ...]] = {}  # the last view of each group
        self._stopping = threading.Event()
        self._reader = threading.Thread(target=self._read_loop, name=f"spread-reader {self._me}", daemon=True)

    # -- actor life ------------------------------------------------------------
    def on_start(self) -> None:
        self._reader.start()

    def on_stop(self) -> None:
        self.disconnect()

    def on_failure(self, *_exc_info) -> None:
        # A crashed connection actor must not leave its session behind: the daemon would keep
        # it in its groups (an older member than the replacement, so it would even "lead").
        self.disconnect()

    # -- the messages it accepts ---------------------------------------------------
    def private_name(self) -> str:
        return self._me

    def is_connected(self) -> bool:
        """Whether the session with the daemon is up (the gRPC health service reads this)."""
        with self._lock:
            return self._client.connected

    def members(self, group: str) -> tuple[str, ...]:
        """The members in the last view of ``group`` received (empty if not joined)."""
        with self._lock:
            return self._views.get(group, ())

    def subscribe(self, listener: pykka.ActorRef | pykka.ActorProxy) -> None:
        """Tell ``listener`` every view and message from now on; what arrived while
        nobody listened goes to the first listener."""
        ref = ref_of(listener)
        with self._lock:  # the reader tells under the lock too: what waited comes before anything newer
            if ref in self._listeners:
                return
            self._listeners.append(ref)
            waiting, self._waiting = self._waiting, []
            for i, event in enumerate(waiting):
                if not tell_call(ref, _method(event), event):  # it died already: keep the rest for the next
                    self._listeners.remove(ref)
                    self._waiting = waiting[i:]
                    return

    def join(self, group: str) -> None:
        check_group_name(group)
        with self._lock:
            self._require_open()
            self._groups.add(group)
            client = self._client
        try:
            client.join(group)
        except SpreadConnectionError:
            pass  # the reader reconnects and rejoins every group in self._groups

    def leave(self, group: str) -> None:
        check_group_name(group)
        with self._lock:
            self._require_open()
            self._groups.discard(group)
            client = self._client
        try:
            client.leave(group)
        except SpreadConnectionError:
            pass  # not rejoined after the reconnect

    def multicast(
        self, group: str, message_type: int, payload: bytes, service: str = "AGREED", self_discard: bool = False
    ) -> None:
        check_destination(group)
        check_multicast(message_type, payload, service)
        with self._lock:
            self._require_open()
            client = self._client
        try:
            client.multicast([group], service, message_type, bytes(payload), self_discard)
        except SpreadConnectionError as exc:  # down, or reconnecting: the message is lost
            raise SpreadConnectionError(CONNECTION_CLOSED, f"{self._me}: {exc}") from None

    def disconnect(self) -> None:
        """Close the session for good (the others see cause "disconnect"); closing twice changes nothing."""
        self._stopping.set()
        with self._lock:
            client = self._client
            self._groups.clear()
        client.disconnect()
        if self._reader.is_alive() and threading.current_thread() is not self._reader:
            self._reader.join(5)

    def _require_open(self) -> None:
        """Raises CONNECTION_CLOSED once ``disconnect`` closed the session for good (under the lock)."""
        if self._stopping.is_set():
            raise SpreadConnectionError(CONNECTION_CLOSED, f"{self._me} is disconnected")

    # -- the reader thread --------------------------------------------------------------
    # The reader keeps reading whatever the actors do, so that a slow actor never makes its session a slow
    # reader that the daemon cuts (Spread's MaxSessionMessages: about 1,000 undelivered messages):
    # * it hands events on with ``tell``, a put on the listener's unbounded mailbox, never waiting for the
    #   listener to take them;
    # * it takes ``_lock`` only around the gateway's fields, and the actor thread never sends or waits under
    #   that lock (it picks the client up under it and sends outside);
    # * it never sends on a client the actor thread may be sending on (a send can take a while, and the
    #   client serialises sends): after a reconnect it joins on the new client before handing it over;
    # * an unexpected error while passing a message on does not end it: it is logged, and the session is
    #   dropped and opened again as after a lost connection (listeners hear "network", then fresh views),
    #   never left unread behind an actor that looks alive.
    def _read_loop(self) -> None:
        while not self._stopping.is_set():
            with self._lock:
                client = self._client
            try:
                message = client.receive(timeout=0.2)
            except TimeoutError:
                continue
            except SpreadError as exc:
                if self._stopping.is_set():
                    return
                log.warning("spread.connection_lost", me=self._me, error=str(exc))
                self._start_again()
                continue
            try:
                self._pass_on(message)
            except Exception:  # a bug here must not leave the session unread
                log.exception("spread.reader_failed", me=self._me)
                self._start_again()

    def _pass_on(self, message: Message) -> None:
        with self._lock:
            for event in events_of(message, self._me, self._groups):
                self._tell(event)

    def _tell(self, event: ViewChanged | MessageReceived) -> None:
        """Pass ``event`` on to every listener, or keep it for the first one that subscribes (under
        ``_lock``). A listener that died hears nothing more; the session stays."""
        if isinstance(event, ViewChanged):
            if event.members:
                self._views[event.group] = event.members
            else:
                self._views.pop(event.group, None)
        self._listeners = [ref for ref in self._listeners if tell_call(ref, _method(event), event)]
        if not self._listeners:
            self._waiting.append(event)

    def _start_again(self) -> None:
        """The session is lost (or given up): tell listeners so, and open a new one."""
        self._lost()
        self._reconnect()

    def _lost(self) -> None:
        with self._lock:
            self._client.close_abruptly()
            for group in sorted(self._groups):
                self._tell(ViewChanged(group, (), "network", (self._me,), self._me))

    def _reconnect(self) -> None:
        attempt = 0
        while not self._stopping.is_set():
            delay = self._delays[min(attempt, len(self._delays) - 1)] if self._delays else 1.0
            if self._stopping.wait(delay):
                return
            attempt += 1
            client = SpreadClient()
            try:
                me = client.connect(self._address, self._user, timeout=5)
            except SpreadError as exc:  # refused (SpreadRejected) or unreachable
                log.info("spread.reconnect_failed", attempt=attempt, address=self._address, error=str(exc))
                continue
            try:
                groups = self._hand_over(client, me)
            except SpreadConnectionError:
                client.close_abruptly()
                continue  # lost again at once: try again
            if groups is None:
                return
            log.info("spread.reconnected", me=me, attempts=attempt, groups=groups)
            return

    def _hand_over(self, client: SpreadClient, me: str) -> list[str] | None:
        """Join on the new ``client`` every group the gateway is in, then make it the gateway's client, and
        return those groups (None, and the client disconnected, when the gateway is stopping).

        The joins go out while only the reader knows the client, so the reader never waits behind a send of
        the actor thread; a group joined or left by the actor meanwhile (its request went to the closed
        client, and was lost) is caught up before the hand-over, under the lock that the actor's
        ``join``/``leave`` take to read ``_groups`` and the client."""
        joined: set[str] = set()
        while True:
            with self._lock:
                if self._stopping.is_set():
                    break
                wanted = set(self._groups)
                if wanted == joined:
                    self._client, self._me = client, me
                    return sorted(joined)
            for group in sorted(wanted - joined):
                client.join(group)
            for group in sorted(joined - wanted):
                client.leave(group)
            joined = wanted
        client.disconnect()
        return None
