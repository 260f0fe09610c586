"""A gRPC server with the standard health service and reflection, as every role serves.

The server is gRPC's asyncio server (``grpc.aio``) on an event loop of its own
thread: a call that waits (a long ``Status``, a slow upload or download) is a
suspended coroutine, not a held thread, so no fixed pool limits how many calls
may wait at once.  A servicer whose handlers are plain functions (the store's
services) still works: the server runs those on a pool of threads
(``sync_workers``), as the threaded server did.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # gRPC's default; blocks are at most 1 MiB
START_TIMEOUT = 30.0


class RunningServer:
    """One ``grpc.aio`` server and the thread whose event loop runs it."""

    def __init__(self, address: str, services: Sequence[tuple[Callable, object, str]], sync_workers: int) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name=f"grpc-loop {address}", daemon=True)
        self.sync_pool = futures.ThreadPoolExecutor(max_workers=sync_workers, thread_name_prefix="grpc")
        self.names = [name for _, _, name in services]
        self.port = 0
        self.thread.start()
        try:
            self.port = self.call(self._start(address, services), START_TIMEOUT)
        except BaseException:
            self._end_loop()
            raise

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coroutine, timeout: float | None = None):
        """Run ``coroutine`` on the server's loop and wait for its result (from any other thread)."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(timeout)

    async def _start(self, address: str, services: Sequence[tuple[Callable, object, str]]) -> int:
        self.server = grpc.aio.server(
            migration_thread_pool=self.sync_pool,
            options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)],
        )
        self.health = health.aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        for add, servicer, _ in services:
            add(servicer, self.server)
        reflection.enable_server_reflection([*self.names, health.SERVICE_NAME, reflection.SERVICE_NAME], self.server)
        port = self.server.add_insecure_port(address)
        if port == 0:
            raise OSError(f"cannot listen on {address}")
        await self.server.start()
        for name in [*self.names, ""]:
            await self.health.set(name, health_pb2.HealthCheckResponse.SERVING)
        return port

    def set_health(self, name: str, status: int) -> None:
        self.call(self.health.set(name, status), timeout=10)

    async def _stop(self, grace: float) -> None:
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)
        await self._drain()

    async def _drain(self, timeout: float = 5.0) -> None:
        """Let the calls the stop cancelled finish being cancelled before the loop ends: a task still
        pending when the loop closes is destroyed, which asyncio and gRPC log as errors."""
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)

    def stop(self, grace: float = 2.0) -> None:
        """Refuse new calls, give running ones ``grace`` seconds, then end the loop and its thread."""
        try:
            self.call(self._stop(grace), timeout=grace + 10)
        finally:
            self._end_loop()

    def _end_loop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        if not self.thread.is_alive():
            # A sync handler on the pool asks the loop for its stream's next message by queueing a callback
            # and waiting on its future: one queued after the last drain would wait for ever, and its thread
            # would hold up the interpreter's exit.  Run such callbacks once more, cancelled, then close the
            # loop, after which a new ask fails at once.
            self.loop.run_until_complete(self._drain())
            self.loop.close()
        self.sync_pool.shutdown(wait=False, cancel_futures=True)


def start_server(
    address: str, services: Sequence[tuple[Callable, object, str]], sync_workers: int = 16
) -> tuple[RunningServer, health.aio.HealthServicer, int]:
    """Start serving ``services`` (add-function, servicer, full service name) on ``address``.

    Returns the server, its health servicer (every service SERVING) and the bound port."""
    server = RunningServer(address, services, sync_workers)
    return server, server.health, server.port


def stop_server(server: RunningServer, _health: object = None, grace: float = 2.0) -> None:
    server.stop(grace)
