"""The storage gateway: an actor in front of a storage backend, whose calls run side by side.

With ``storage.fs.FsStorage`` it reaches a directory or a Gluster mount; its
fake twin is the same actor over ``storage.memory.MemoryStorage``.  Each role
has its own gateway, so one role's slow write does not hold up another's.

The backend calls are independent I/O (every backend is thread-safe), so they
do not queue in the actor's mailbox: the gateway's ref (``StorageRef``) hands
each call of a backend method to the gateway's pool of I/O threads and returns
a pykka future that the pool sets.  A caller writes what it always wrote,
``storage.exists(name).get()``, and a Status check no longer waits behind a
marker's write.  The actor itself keeps the lifecycle: it is a supervised child
like any other (it can crash and be restarted), and once it has stopped every
call fails with ``ActorDeadError``, as a call to any stopped actor does.
"""

from __future__ import annotations

import concurrent.futures
from typing import Any

import pykka
from pykka.messages import ProxyCall

from storage.backend import Storage

IO_THREADS = 8
# The backend's methods (storage/backend.py); anything else (stop, attributes) goes through the mailbox.
IO_METHODS = frozenset({"write", "read", "exists", "size", "delete", "list", "open_writer", "read_blocks"})


class StorageRef(pykka.ActorRef):
    """A ref whose asks of a backend method run on the gateway's I/O pool instead of its mailbox."""

    def ask(self, message: Any, *, block: bool = True, timeout: float | None = None) -> Any:
        actor = self._actor_weakref()
        if not (isinstance(message, ProxyCall) and len(message.attr_path) == 1 and message.attr_path[0] in IO_METHODS):
            return super().ask(message, block=block, timeout=timeout)
        future: pykka.ThreadingFuture = pykka.ThreadingFuture()
        if actor is None or not self.is_alive():
            future.set_exception((pykka.ActorDeadError, pykka.ActorDeadError(f"{self} not found"), None))
        else:
            actor.run(future, message.attr_path[0], message.args, message.kwargs)
        return future.get(timeout=timeout) if block else future


class StorageGateway(pykka.ThreadingActor):
    def __init__(self, backend: Storage, io_threads: int = IO_THREADS) -> None:
        super().__init__()
        self.backend = backend
        self.pool = concurrent.futures.ThreadPoolExecutor(io_threads, thread_name_prefix="storage")
        self._storage_ref = StorageRef(self)

    @property
    def actor_ref(self) -> StorageRef:
        """The ref ``start`` returns and the registry holds: calls of backend methods run on the pool."""
        return self._storage_ref

    def run(self, future: pykka.ThreadingFuture, method: str, args: tuple, kwargs: dict) -> None:
        """Run ``backend.method(*args, **kwargs)`` on the pool; ``future`` gets its result or its exception
        (``ActorDeadError`` when the gateway stops before the call ran)."""

        def call() -> None:
            try:
                future.set(getattr(self.backend, method)(*args, **kwargs))
            except BaseException:  # noqa: BLE001 - handed to the caller, as an ask's exception is
                future.set_exception()

        def cancelled(done: concurrent.futures.Future) -> None:
            if done.cancelled():
                future.set_exception((pykka.ActorDeadError, pykka.ActorDeadError("the storage gateway stopped"), None))

        try:
            self.pool.submit(call).add_done_callback(cancelled)
        except RuntimeError:  # the pool is shut down: the gateway is stopping
            future.set_exception((pykka.ActorDeadError, pykka.ActorDeadError("the storage gateway stopped"), None))

    def on_stop(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    def on_failure(self, *_exc_info: Any) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)

    # The backend's methods, for a caller in the gateway's own thread (the ref runs them on the pool).

    def write(self, name: str, data: bytes) -> None:
        self.backend.write(name, data)

    def read(self, name: str) -> bytes:
        return self.backend.read(name)

    def exists(self, name: str) -> bool:
        return self.backend.exists(name)

    def size(self, name: str) -> int:
        return self.backend.size(name)

    def delete(self, name: str) -> None:
        self.backend.delete(name)

    def list(self, prefix: str) -> list[str]:
        return self.backend.list(prefix)

    def open_writer(self, name: str, size: int | None = None):
        return self.backend.open_writer(name, size)

    def read_blocks(self, name: str, block_size: int | None = None):
        return self.backend.read_blocks(name) if block_size is None else self.backend.read_blocks(name, block_size)
