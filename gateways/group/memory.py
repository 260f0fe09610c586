"""The fake twin of the Spread group gateway: Spread's semantics on one host, in memory.

``MemoryGroupHub`` plays the daemon: one per embedded cluster or test.  It
serialises every join, leave, disconnect and multicast into one total order and
hands each delivery, in that order, to the connections concerned.
``MemoryGroupConnection`` is the gateway a process role uses, with the same
methods as the Spread client gateway; it passes each delivery on to its
listeners as ``on_view_changed`` / ``on_message_received`` told calls.

What it keeps of Spread 4.4 (see ``tests/data/spread/README.md``; the suite
``tests/conformance/test_group_port.py`` holds it to the Spread gateway's promises):

* private names ``#<user>#<daemon>``; a user name is at most 10 bytes, each
  byte in ``$``..``~`` (REJECT_ILLEGAL_NAME) and unique on the daemon
  (REJECT_NOT_UNIQUE), both raised as the port's ``GroupRejected``; an empty
  user name gets a made-up ``r<n>-<m>`` name (the rules: ``spread/names.py``);
* views list members sorted by private name; a join is seen by every member
  including the joiner, a leave by the remaining members (cause "leave") and by
  the leaver as a self-leave (no members); a disconnect, graceful or not, by the
  remaining members (cause "disconnect") and by nobody else;
* open groups: a non-member may send to a group and does not receive it; a
  member receives its own messages unless ``self_discard``; a private name
  (``#bob#localhost``) is a valid destination, reaching that connection only;
* joining a group twice, or leaving a group one is not in, changes nothing;
* every service level is delivered in the one total order (stronger than
  UNRELIABLE..CAUSAL ask for, which is allowed).

A connection counts as gone when its actor is no longer alive: the hub finds it
when telling it a delivery fails, or with a liveness check every
``liveness_interval`` seconds, and then disconnects it.  A listener that dies is
dropped by its connection; the connection (the process's Spread session) stays.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

import pykka

from actorkit.messaging import ref_of, tell_call
from actorkit.ticker import Ticker
from ports.group import (
    CONNECTION_CLOSED,
    ILLEGAL_GROUP,
    REJECT_ILLEGAL_NAME,
    REJECT_NOT_UNIQUE,
    GroupConnectionError,
    GroupError,
    GroupRejected,
    MessageReceived,
    ViewChanged,
    check_multicast,
)
from spread.names import (
    destination_problem,
    group_name_problem,
    legal_daemon_name,
    private_group,
    user_name_problem,
)

__all__ = ["MemoryGroupConnection", "MemoryGroupHub", "check_destination", "check_group", "check_user"]


# -- rules, checked before anything reaches the hub ------------------------------
# Spread's rules (spread/names.py, ports/group.py's check_multicast), with the
# port's errors: an actor catches the same exceptions, with the same codes and
# words, from the fake and from the real gateway.


def check_user(user: str) -> None:
    """A user name as the Spread daemon accepts it ("" asks the daemon to make one up).

    libspread silently cuts a longer name to 10 bytes; here (and in the Spread
    gateway) it is refused, so two long names that would collide once cut fail loudly."""
    if not isinstance(user, str):
        raise TypeError(f"a user name is a str, not {type(user).__name__}")
    problem = user_name_problem(user)
    if problem:
        raise GroupRejected(REJECT_ILLEGAL_NAME, problem)


def check_group(group: str) -> None:
    """A group to join or leave: 1 to 31 bytes, each '$' to '~' (so never a private group)."""
    if not isinstance(group, str):
        raise TypeError(f"a group name is a str, not {type(group).__name__}")
    problem = group_name_problem(group)
    if problem:
        raise GroupError(ILLEGAL_GROUP, problem)


def check_destination(group: str) -> None:
    """Where a multicast may go: a group one could join, or a private name ``#user#daemon``."""
    if not isinstance(group, str):
        raise TypeError(f"a group name is a str, not {type(group).__name__}")
    problem = destination_problem(group)
    if problem:
        raise GroupError(ILLEGAL_GROUP, problem)


# -- the daemon --------------------------------------------------------------------


@dataclass(frozen=True)
class _Deliver:
    """From the hub to a connection: one event, in the hub's total order."""

    event: ViewChanged | MessageReceived


class MemoryGroupHub(pykka.ThreadingActor):
    """The in-process Spread daemon: groups, members, one total order of deliveries."""

    def __init__(self, daemon_name: str = "localhost", liveness_interval: float = 0.1) -> None:
        super().__init__()
        if liveness_interval <= 0:
            raise ValueError(f"liveness_interval must be positive, not {liveness_interval!r}")
        if not legal_daemon_name(daemon_name):
            raise ValueError(f"daemon name {daemon_name!r}: 1..19 bytes, each above '#' and at most '~'")
        self.daemon_name = daemon_name
        self._connections: dict[str, pykka.ActorRef] = {}  # private name -> connection actor
        self._groups: dict[str, set[str]] = {}  # group -> private names of its members
        self._gone: set[str] = set()  # connections found dead, to disconnect
        self._random = random.Random()
        self._liveness_interval = liveness_interval
        self._ticker: Ticker | None = None

    def on_start(self) -> None:
        self._ticker = Ticker(self.actor_ref, "check_liveness", self._liveness_interval).start()

    def on_stop(self) -> None:
        self._ticker.stop()

    def on_failure(self, *_exc_info: Any) -> None:
        self._ticker.stop()

    def check_liveness(self) -> None:
        """Told by the ticker: disconnects every connection whose actor died."""
        self._gone.update(name for name, ref in self._connections.items() if not ref.is_alive())
        self._reap()

    # -- for tests -----------------------------------------------------------

    def members(self, group: str) -> tuple[str, ...]:
        return tuple(sorted(self._groups.get(group, ())))

    # -- for MemoryGroupConnection (the client side of the session) ----------

    def connect(self, user: str, connection: pykka.ActorRef) -> str:
        """Open a session; returns its private name."""
        check_user(user)
        if not user:
            user = self._made_up_user()
        name = private_group(user, self.daemon_name)
        if name in self._connections:
            raise GroupRejected(REJECT_NOT_UNIQUE, f"{name} is already connected")
        self._connections[name] = connection
        return name

    def join(self, name: str, group: str) -> None:
        self._require_connected(name)
        check_group(group)
        members = self._groups.setdefault(group, set())
        if name not in members:
            members.add(name)
            self._announce(group, "join", name)
        self._reap()

    def leave(self, name: str, group: str) -> None:
        self._require_connected(name)
        check_group(group)
        members = self._groups.get(group, set())
        if name in members:
            self._remove(group, name)
            self._send(
                name,
                ViewChanged(group=group, members=(), cause="leave", changed=(name,), me=name),
            )
            self._announce(group, "leave", name)
        self._reap()

    def multicast(
        self,
        name: str,
        group: str,
        message_type: int,
        payload: bytes,
        service: str,
        self_discard: bool,
    ) -> None:
        self._require_connected(name)
        check_destination(group)
        check_multicast(message_type, payload, service)
        if group.startswith("#"):
            recipients = [group] if group in self._connections else []
        else:
            recipients = sorted(self._groups.get(group, ()))
        body = bytes(payload)
        for member in recipients:
            if self_discard and member == name:
                continue
            self._send(member, MessageReceived(group, name, message_type, body, me=member))
        self._reap()

    def disconnect(self, name: str) -> None:
        """Close a session: every group it was in sees it go (cause "disconnect").
        Disconnecting a closed session changes nothing."""
        self._gone.add(name)
        self._reap()

    # -- inside ----------------------------------------------------------------

    def _made_up_user(self) -> str:
        while True:  # as the daemon does: r<random 0..9998>-<a small number>
            user = f"r{self._random.randint(0, 9998)}-{self._random.randint(1, 999)}"
            if private_group(user, self.daemon_name) not in self._connections:
                return user

    def _require_connected(self, name: str) -> None:
        if name not in self._connections or name in self._gone:
            raise GroupConnectionError(CONNECTION_CLOSED, f"{name} is not connected")

    def _remove(self, group: str, name: str) -> None:
        members = self._groups[group]
        members.discard(name)
        if not members:
            del self._groups[group]

    def _announce(self, group: str, cause: str, changed: str) -> None:
        """Tell every current member of ``group`` its new view."""
        members = self.members(group)
        for member in members:
            self._send(
                member,
                ViewChanged(
                    group=group,
                    members=members,
                    cause=cause,
                    changed=(changed,),
                    me=member,
                ),
            )

    def _send(self, name: str, event: ViewChanged | MessageReceived) -> None:
        ref = self._connections.get(name)
        if ref is None or name in self._gone:
            return
        try:
            ref.tell(_Deliver(event))
        except pykka.ActorDeadError:
            self._gone.add(name)

    def _reap(self) -> None:
        """Disconnect every connection found gone, which may find more."""
        while self._gone:
            name = min(self._gone)
            self._connections.pop(name, None)
            for group in sorted(g for g, members in self._groups.items() if name in members):
                self._remove(group, name)
                if group in self._groups:
                    self._announce(group, "disconnect", name)
            self._gone.discard(name)


# -- the gateway ---------------------------------------------------------------------


class MemoryGroupConnection(pykka.ThreadingActor):
    """One Spread session, as a process role holds it; events go to its listeners."""

    def __init__(self, hub: pykka.ActorProxy | pykka.ActorRef, user: str) -> None:
        super().__init__()
        check_user(user)
        self._hub = hub.proxy() if isinstance(hub, pykka.ActorRef) else hub
        self._name: str = self._ask(lambda: self._hub.connect(user, self.actor_ref))
        self._connected = True
        self._listeners: list[pykka.ActorRef] = []
        self._waiting: list[ViewChanged | MessageReceived] = []  # delivered while nobody listened
        self._views: dict[str, tuple[str, ...]] = {}  # the last view of each joined group

    def on_stop(self) -> None:
        self.disconnect()

    def on_receive(self, message: Any) -> Any:
        if isinstance(message, _Deliver):
            self._pass_on(message.event)
            return None
        return super().on_receive(message)

    # -- the gateway's methods -------------------------------------------------

    def private_name(self) -> str:
        return self._name

    def is_connected(self) -> bool:
        return self._connected

    def members(self, group: str) -> tuple[str, ...]:
        """The members in the last view of ``group`` this connection received (empty if not joined),
        so an actor restarted by its supervisor can decide again without waiting for a view."""
        return self._views.get(group, ())

    def subscribe(self, listener: pykka.ActorProxy | pykka.ActorRef) -> None:
        """Pass every view and message on to ``listener``, from now on; events that
        arrived while no listener was alive go to the next one that subscribes."""
        listener = ref_of(listener)
        if listener in self._listeners:
            return
        self._listeners.append(listener)
        waiting, self._waiting = self._waiting, []
        for event in waiting:
            self._pass_on(event)

    def join(self, group: str) -> None:
        check_group(group)
        self._session(lambda: self._hub.join(self._name, group))

    def leave(self, group: str) -> None:
        check_group(group)
        self._session(lambda: self._hub.leave(self._name, group))

    def multicast(
        self,
        group: str,
        message_type: int,
        payload: bytes,
        service: str = "AGREED",
        self_discard: bool = False,
    ) -> None:
        check_destination(group)
        check_multicast(message_type, payload, service)
        self._session(
            lambda: self._hub.multicast(
                self._name,
                group,
                message_type,
                bytes(payload),
                service,
                bool(self_discard),
            )
        )

    def disconnect(self) -> None:
        """Leave every group (the others see cause "disconnect") and close the session."""
        if not self._connected:
            return
        self._connected = False
        try:
            self._ask(lambda: self._hub.disconnect(self._name))
        except GroupConnectionError:
            pass  # the hub is gone: so is the session

    # -- inside ----------------------------------------------------------------

    def _session(self, call) -> None:
        if not self._connected:
            raise GroupConnectionError(CONNECTION_CLOSED, f"{self._name} is disconnected")
        self._ask(call)

    @staticmethod
    def _ask(call) -> Any:
        try:
            return call().get(timeout=10)
        except pykka.ActorDeadError as error:
            raise GroupConnectionError(CONNECTION_CLOSED, "the group hub is not running") from error

    def _pass_on(self, event: ViewChanged | MessageReceived) -> None:
        if isinstance(event, ViewChanged):
            self._views[event.group] = event.members
        if not self._listeners:
            self._waiting.append(event)
            return
        method = "on_view_changed" if isinstance(event, ViewChanged) else "on_message_received"
        self._listeners = [ref for ref in self._listeners if tell_call(ref, method, event)]
        if not self._listeners:  # every listener died: keep the event for the next one
            self._waiting.append(event)
