"""The lab deployment as real processes, for cluster tests.

``Lab`` starts ``photomark spread-daemon``, ``register``, ``svc`` and ``worker``
as subprocesses of this interpreter, each with its own log file, against a real
RabbitMQ and a storage directory (a Gluster mount or a plain directory).  It
waits for each gRPC server's health service to say SERVING, kills processes by
pid when a test asks, and stops everything it started, by pid, at the end.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

from protos.channels import insecure_channel
from tests.integration.rabbitmq_server import free_ports

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0


class LabError(RuntimeError):
    pass


@dataclass
class Process:
    role: str
    popen: subprocess.Popen
    log: Path
    address: str = ""  # the gRPC address, for a register, svc, store manager or store node
    metrics: str = ""  # the Prometheus endpoint, for a store manager
    stderr: Path | None = None  # the process's stderr, when kept apart from its log

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log_tail(self, lines: int = 30) -> str:
        tails = []
        for path in (self.log, self.stderr):
            try:
                tails += path.read_text(errors="replace").splitlines()[-lines:] if path else []
            except OSError:
                pass
        return "\n".join(tails)


def health_serving(address: str, timeout: float = 1.0) -> bool:
    with insecure_channel(address) as channel:  # its own connection: no backoff left by an earlier poll
        try:
            reply = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=timeout)
        except grpc.RpcError:
            return False
    return reply.status == health_pb2.HealthCheckResponse.SERVING


@dataclass
class Lab:
    base: Path
    amqp_url: str
    storage: Path
    spread_port: int = 0
    processes: list[Process] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        self.storage.mkdir(parents=True, exist_ok=True)
        if not self.spread_port:
            self.spread_port = free_ports(1)[0]

    @property
    def spread(self) -> str:
        return f"{self.spread_port}@127.0.0.1"

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PHOTOMARK_")}
        env.update(
            {
                "PYTHONPATH": str(ROOT),
                "PHOTOMARK_LOG_LEVEL": "info",
                "PHOTOMARK_LOG_JSON": "1",
                "PHOTOMARK_SPREAD": self.spread,
                "PHOTOMARK_AMQP": self.amqp_url,
                "PHOTOMARK_STORAGE": str(self.storage),
                "OMP_THREAD_LIMIT": "1",
            }
        )
        env.update(extra)
        return env

    def _start(
        self,
        role: str,
        args: list[str],
        env: dict[str, str] | None = None,
        address: str = "",
        stderr_apart: bool = False,
    ) -> Process:
        """Starts ``photomark <args>``; its stdout (and stderr, unless ``stderr_apart``: then in a file of
        its own, ``Process.stderr``) goes to ``base/<role>-<n>.log``."""
        number = sum(1 for p in self.processes if p.role == role) + 1
        log = self.base / f"{role}-{number}.log"
        stderr = self.base / f"{role}-{number}.stderr" if stderr_apart else None
        popen = subprocess.Popen(
            [sys.executable, "-m", "cli.main", *args],
            cwd=ROOT,
            env=self._env(env or {}),
            stdout=log.open("wb"),
            stderr=stderr.open("wb") if stderr else subprocess.STDOUT,
            start_new_session=True,
        )
        process = Process(role, popen, log, address, stderr=stderr)
        self.processes.append(process)
        return process

    def _wait(self, what: str, ready, process: Process, timeout: float = START_TIMEOUT) -> None:
        deadline = time.monotonic() + timeout
        while not ready():
            if not process.alive():
                raise LabError(f"{what} exited with {process.popen.returncode}:\n{process.log_tail()}")
            if time.monotonic() > deadline:
                raise LabError(f"{what} not ready after {timeout} s:\n{process.log_tail()}")
            time.sleep(0.1)

    def start_spread(self) -> Process:
        # TCP only: the lab's roles name host:port, and a daemon a test SIGKILLs would leave /tmp/PORT behind.
        arguments = ["spread-daemon", "--port", str(self.spread_port), "--name", "lab", "--unix-socket", ""]
        process = self._start("spread", arguments)

        def answers() -> bool:
            import socket

            try:
                socket.create_connection(("127.0.0.1", self.spread_port), timeout=0.5).close()
                return True
            except OSError:
                return False

        self._wait("the spread daemon", answers, process)
        return process

    def start_register(self) -> Process:
        address = f"127.0.0.1:{free_ports(1)[0]}"
        process = self._start("register", ["register", "--listen", address], address=address)
        self._wait("the register", lambda: health_serving(address), process)
        return process

    def start_svc(self, *extra: str) -> Process:
        address = f"127.0.0.1:{free_ports(1)[0]}"
        process = self._start("svc", ["svc", "--listen", address, *extra], address=address)
        self._wait("a svc", lambda: health_serving(address), process)
        return process

    def start_worker(self, concurrency: int = 1) -> Process:
        address = f"127.0.0.1:{free_ports(1)[0]}"
        process = self._start(
            "worker", ["worker", "--concurrency", str(concurrency), "--health-listen", address], address=address
        )
        self._wait("a worker", lambda: health_serving(address), process)
        return process

    # --- the replicated store ---------------------------------------------------------------

    def start_store_manager(self, *extra: str, listen: str = "", metrics: str = "") -> Process:
        """The store manager on this lab's RabbitMQ and Spread daemon, its spool and table under
        ``base/store``; the same ``listen`` and table again after a kill restarts it."""
        address = listen or f"127.0.0.1:{free_ports(1)[0]}"
        metrics = metrics or f"127.0.0.1:{free_ports(1)[0]}"
        args = ["store-manager", "--listen", address, "--metrics-listen", metrics]
        args += ["--spool", str(self.store_spool()), "--db", str(self.base / "store" / "objects.sqlite")]
        process = self._start("store-manager", [*args, *extra], address=address)
        process.metrics = metrics
        self._wait("the store manager", lambda: health_serving(address), process)
        return process

    def start_store_node(
        self, number: int, manager: str, *extra: str, wait: bool = True, stderr_apart: bool = False
    ) -> Process:
        """Storage node ``n<number>`` on its own directory ``base/store/node-<number>`` (the same one again
        after a kill: it returns with its disk), reporting to ``manager``; ``wait``: until it serves."""
        address = f"127.0.0.1:{free_ports(1)[0]}"
        directory = self.store_node_dir(number)
        args = ["store-node", "--dir", str(directory), "--name", f"n{number}", "--manager", manager]
        process = self._start(
            f"store-node-{number}", [*args, "--listen", address, *extra], address=address, stderr_apart=stderr_apart
        )
        if wait:
            self._wait(f"store node {number}", lambda: health_serving(address), process)
        return process

    def store_node_dir(self, number: int) -> Path:
        return self.base / "store" / f"node-{number}"

    def store_spool(self) -> Path:
        return self.base / "store" / "spool"

    def wait_serving(self, process: Process, what: str = "") -> None:
        """Until ``process``'s gRPC health service says SERVING (a ``LabError`` if it exits first or never does)."""
        self._wait(what or process.role, lambda: health_serving(process.address), process)

    def of(self, role: str) -> list[Process]:
        return [p for p in self.processes if p.role == role and p.alive()]

    def kill(self, process: Process, sig: int = signal.SIGKILL) -> None:
        os.kill(process.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            process.popen.wait(timeout=30)

    def stop(self) -> None:
        """SIGTERM every process we started, newest first; SIGKILL what is left after a grace period."""
        for process in reversed(self.processes):
            if process.alive():
                process.popen.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in reversed(self.processes):
            try:
                process.popen.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.popen.wait(timeout=10)

    def logs(self) -> str:
        return "\n\n".join(f"--- {p.role} pid {p.pid} ({p.log.name})\n{p.log_tail(15)}" for p in self.processes)
