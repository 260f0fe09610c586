"""The connection thread: one pika ``BlockingConnection`` and the one thread that uses it.

Why link threads beside the actor
---------------------------------
pika's ``BlockingConnection`` is not thread-safe: each connection must be used
from exactly one thread, and it only reads the socket (deliveries, publisher
confirms, heartbeats) while that thread is inside pika.  A Pykka actor's thread
spends its idle time blocked on its inbox, so a connection owned by the actor
thread would miss heartbeats whenever the actor idles, and pumping it with a
self-told ``_pump`` loop would put every call behind a poll.

So the actor owns no connection.  It owns *links* (``publishing.PublishLink``
and ``consuming.ConsumeLink``), each a daemon thread that owns one
``BlockingConnection`` for its whole life and is the only thread that touches
it.

A link loops on ``connection.process_data_events(time_limit=1)`` and runs
commands that other threads put in a thread-safe queue; after queueing one, the
caller wakes the link with ``connection.add_callback_threadsafe`` (the one pika
call documented as safe from another thread).  The caller then waits on the
command's ``concurrent.futures.Future`` (``Link.call``), or leaves a callback
on it (``Link.submit``).  A link never asks an actor anything.

Reconnection
------------
When a connection is lost (broker restart, network), its link reconnects with
exponential backoff (0.25 s doubling to 5 s, jittered) and calls its
``on_connected`` hook, where the subclass redeclares or resumes what it had.
While offline it still runs the commands that need no connection (a stale ack
is refused at once) and fails, with ``BrokerUnavailable``, those whose
deadline passed.  A command whose connection died under it is run again on the
next connection (a publish is resent: at-least-once).
"""

from __future__ import annotations

import collections
import concurrent.futures
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pika
import pika.exceptions
import structlog

from ports.broker import BrokerError, BrokerUnavailable

log = structlog.get_logger(__name__)

# How long the actor waits for a link to carry out a short command (ack,
# reject, cancel, consume, stats); the link thread is never busy for long.
COMMAND_TIMEOUT = 10.0
BACKOFF_FIRST = 0.25
BACKOFF_MAX = 5.0

CONNECTION_ERRORS = (
    pika.exceptions.AMQPConnectionError,
    pika.exceptions.ConnectionWrongStateError,
    ConnectionError,
    OSError,
)


def redact(url: str) -> str:
    """The URL without its password, for logs and errors."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = f"{parts.username}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def describe(error: BaseException) -> str:
    """pika's connection errors often carry their reason only in the chain."""
    reason = str(error) or str(error.__cause__ or error.__context__ or "") or repr(error)
    return f"{type(error).__name__}: {reason}"


def resolve(future: concurrent.futures.Future, result: Any = None, error: BaseException | None = None) -> None:
    """Settle a command's future unless its caller gave up on it already."""
    try:
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)
    except concurrent.futures.InvalidStateError:
        pass


@dataclass
class Command:
    """Work for a link thread, with the future the caller waits on."""

    run: Callable[[Any], Any]  # run(connection or None) -> result
    name: str
    deadline: float
    needs_connection: bool = True
    future: concurrent.futures.Future = field(default_factory=concurrent.futures.Future)


class Link:
    """One pika ``BlockingConnection`` and the one thread that uses it.

    Other threads talk to it only through ``submit`` (a thread-safe queue plus
    a wake-up through ``add_callback_threadsafe``).
    """

    def __init__(self, name: str, parameters: pika.URLParameters, url: str) -> None:
        self.name = name
        self._parameters = parameters
        self._url = redact(url)
        self._commands: collections.deque[Command] = collections.deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._connection: pika.BlockingConnection | None = None
        self._last_error: str = "not connected yet"
        self.log = log.bind(link=name, url=self._url)
        self._thread = threading.Thread(target=self._run, name=f"rabbitmq-{name}", daemon=True)

    # --- any thread -----------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def is_connected(self) -> bool:
        return self._connection is not None

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        self._poke()
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    def submit(
        self, name: str, run: Callable[[Any], Any], timeout: float, needs_connection: bool = True
    ) -> concurrent.futures.Future:
        """Queue ``run`` for the link thread; its future settles with what it returned or raised."""
        command = Command(run=run, name=name, deadline=time.monotonic() + timeout, needs_connection=needs_connection)
        if self._stopping.is_set():
            command.future.set_exception(BrokerError(f"rabbitmq {self.name} link is stopped"))
            return command.future
        with self._lock:
            self._commands.append(command)
        self._poke()
        return command.future

    def call(
        self, name: str, run: Callable[[Any], Any], timeout: float = COMMAND_TIMEOUT, needs_connection: bool = True
    ) -> Any:
        """Submit and wait; raises what the command raised, or BrokerUnavailable."""
        future = self.submit(name, run, timeout, needs_connection)
        try:
            return future.result(timeout + 5.0)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise BrokerUnavailable(f"rabbitmq {self.name} link did not answer {name} within {timeout:.0f} s") from None

    def _poke(self) -> None:
        self._wake.set()
        connection = self._connection
        if connection is not None:
            try:
                connection.add_callback_threadsafe(lambda: None)
            except Exception:  # noqa: BLE001, S110 - closed meanwhile: the loop notices on its own
                pass

    # --- the link thread only -------------------------------------------

    def on_connected(self, connection: pika.BlockingConnection) -> None:
        """Hook: set up channels after every (re)connection."""

    def on_lost(self) -> None:
        """Hook: forget every channel of the connection that just died."""

    def tick(self, connection: pika.BlockingConnection) -> None:
        """Hook: run on every loop turn while connected."""

    def _run(self) -> None:
        backoff = BACKOFF_FIRST
        while not self._stopping.is_set():
            try:
                connection = pika.BlockingConnection(self._parameters)
            except Exception as error:  # noqa: BLE001 - refused, DNS, auth, handshake: retry
                self._last_error = describe(error)
                self.log.warning("rabbitmq.connect_failed", error=self._last_error, retry_in=round(backoff, 2))
                self._wait_offline(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            self._connection = connection
            self.log.info("rabbitmq.connected")
            try:
                self.on_connected(connection)
                backoff = BACKOFF_FIRST
                while not self._stopping.is_set():
                    self._drain(connection)
                    self.tick(connection)
                    connection.process_data_events(time_limit=1.0)
            except Exception as error:  # noqa: BLE001 - whatever killed the connection: reconnect
                self._last_error = describe(error)
                if not self._stopping.is_set():
                    self.log.warning("rabbitmq.connection_lost", error=self._last_error, retry_in=round(backoff, 2))
            finally:
                self._connection = None
                self.on_lost()
                try:
                    if connection.is_open:
                        connection.close()  # unacked deliveries go back to their queue
                except Exception:  # noqa: BLE001, S110 - it is dead already
                    pass
            if not self._stopping.is_set():
                self._wait_offline(backoff)
                backoff = min(backoff * 2, BACKOFF_MAX)
        self._fail_all(BrokerError(f"rabbitmq {self.name} link stopped"))
        self.log.info("rabbitmq.link_stopped")

    def _wait_offline(self, seconds: float) -> None:
        """Wait before reconnecting, still serving commands that need no
        connection and failing those whose deadline passed."""
        until = time.monotonic() + seconds * random.uniform(0.8, 1.2)
        while not self._stopping.is_set():
            self._drain(None)
            left = until - time.monotonic()
            if left <= 0:
                return
            self._wake.wait(min(left, 0.5))
            self._wake.clear()

    def _drain(self, connection: pika.BlockingConnection | None) -> None:
        with self._lock:
            pending, self._commands = self._commands, collections.deque()
        keep: collections.deque[Command] = collections.deque()
        try:
            while pending:
                command = pending.popleft()
                if command.future.done():  # cancelled by an impatient caller
                    continue
                if connection is None and command.needs_connection:
                    if time.monotonic() > command.deadline:
                        resolve(
                            command.future,
                            error=BrokerUnavailable(
                                f"rabbitmq at {self._url} unreachable, {command.name} not done "
                                f"(last error: {self._last_error})"
                            ),
                        )
                    else:
                        keep.append(command)
                    continue
                try:
                    result = command.run(connection)
                except CONNECTION_ERRORS:
                    # The connection died under the command: do it again on
                    # the next connection (a publish is resent: at-least-once).
                    keep.append(command)
                    raise
                except Exception as error:  # noqa: BLE001 - handed to the caller
                    resolve(command.future, error=error)
                else:
                    resolve(command.future, result=result)
        finally:
            with self._lock:
                self._commands.extendleft(reversed(keep + pending))

    def _fail_all(self, error: Exception) -> None:
        with self._lock:
            pending, self._commands = self._commands, collections.deque()
        for command in pending:
            resolve(command.future, error=error)
