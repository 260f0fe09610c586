"""A RabbitMQ server for the integration tests.

``RabbitServer.attach_or_start(base)`` uses a broker that already answers AMQP
on 127.0.0.1:5672 (or at ``$PHOTOMARK_TEST_AMQP_URL``) and leaves it running
afterwards; otherwise it starts a private node with every file under ``base``
(database, logs, pid file, Erlang cookie, config) and every port its own:
AMQP, Erlang distribution and epmd on free ports below the ephemeral range, no
plugins (so no management port).  The private node is stopped by its pid (from
its pid file: SIGTERM, wait, SIGKILL), and its epmd with ``epmd -kill``.

Needs the Debian package ``rabbitmq-server`` (which pulls Erlang).
"""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from tests.processes import alive, wait_gone

AMQP_HEADER = b"AMQP\x00\x00\x09\x01"
DEFAULT_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
DEBIAN_BIN = Path("/usr/lib/rabbitmq/bin")  # the real scripts, not the su-to-rabbitmq wrappers
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0


class RabbitServerError(RuntimeError):
    """The server could not be started or stopped; the message carries its log tail."""


def amqp_answers(host: str, port: int, timeout: float = 1.0) -> bool:
    """True when something at host:port answers the AMQP 0-9-1 header with a
    Connection.Start frame (frame type 1), i.e. a broker is ready for clients."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.settimeout(timeout)
            sock.sendall(AMQP_HEADER)
            return sock.recv(1) == b"\x01"
    except OSError:
        return False


def _port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def free_ports(count: int, low: int = 20000, high: int = 32000) -> list[int]:
    """Ports that are free now, below Linux's ephemeral range (32768+) so no
    outgoing connection takes one before the server binds it."""
    ports: list[int] = []
    candidates = list(range(low, high))
    random.shuffle(candidates)
    for port in candidates:
        if port not in ports and _port_is_free(port):
            ports.append(port)
            if len(ports) == count:
                return ports
    raise RabbitServerError(f"no {count} free ports between {low} and {high}")


def _executable(name: str) -> str:
    candidate = DEBIAN_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found is None:
        raise RabbitServerError(f"{name} not found: install RabbitMQ (apt-get install rabbitmq-server)")
    return found


@dataclass
class RabbitServer:
    """One broker for the test session: attached (not ours) or private (ours)."""

    url: str
    owned: bool
    base: Path | None = None
    node: str = ""
    ports: dict[str, int] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)

    # --- construction ---------------------------------------------------------

    @classmethod
    def attach_or_start(cls, base: Path) -> RabbitServer:
        url = os.environ.get("PHOTOMARK_TEST_AMQP_URL", DEFAULT_URL)
        parts = urlsplit(url)
        if amqp_answers(parts.hostname or "127.0.0.1", parts.port or 5672):
            return cls(url=url, owned=False)
        if "PHOTOMARK_TEST_AMQP_URL" in os.environ:
            raise RabbitServerError(f"nothing answers AMQP at $PHOTOMARK_TEST_AMQP_URL={url}")
        server = cls.private(base)
        server.start()
        return server

    @classmethod
    def private(cls, base: Path) -> RabbitServer:
        amqp, dist, epmd = free_ports(3)
        node = f"photomark-test-{os.getpid()}@localhost"
        base.mkdir(parents=True, exist_ok=True)
        (base / "enabled_plugins").write_text("[].\n")
        (base / "rabbitmq.conf").write_text("loopback_users.guest = true\nlog.file.level = info\nlog.console = false\n")
        (base / "rabbitmq-env.conf").write_text("")
        env = {
            **os.environ,
            "HOME": str(base),  # the Erlang cookie lands here, not in the user's home
            "RABBITMQ_NODENAME": node,
            "RABBITMQ_NODE_IP_ADDRESS": "127.0.0.1",
            "RABBITMQ_NODE_PORT": str(amqp),
            "RABBITMQ_DIST_PORT": str(dist),
            "ERL_EPMD_PORT": str(epmd),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "RABBITMQ_MNESIA_BASE": str(base / "mnesia"),
            "RABBITMQ_LOG_BASE": str(base / "log"),
            "RABBITMQ_PID_FILE": str(base / "rabbitmq.pid"),
            "RABBITMQ_CONFIG_FILE": str(base / "rabbitmq.conf"),
            "RABBITMQ_ADVANCED_CONFIG_FILE": str(base / "advanced.config"),
            "RABBITMQ_CONF_ENV_FILE": str(base / "rabbitmq-env.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(base / "enabled_plugins"),
            "RABBITMQ_PLUGINS_EXPAND_DIR": str(base / "plugins-expand"),
        }
        return cls(
            url=f"amqp://guest:guest@127.0.0.1:{amqp}/%2F",
            owned=True,
            base=base,
            node=node,
            ports={"amqp": amqp, "dist": dist, "epmd": epmd},
            env=env,
        )

    # --- where things are -------------------------------------------------------

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or "127.0.0.1"

    @property
    def port(self) -> int:
        return urlsplit(self.url).port or 5672

    @property
    def pid_file(self) -> Path:
        assert self.base is not None
        return self.base / "rabbitmq.pid"

    def pid(self) -> int | None:
        try:
            return int(self.pid_file.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def log_tail(self, lines: int = 40) -> str:
        if self.base is None:
            return "(not our server: no log)"
        chunks = []
        for path in sorted((self.base / "log").glob("*.log")) + sorted(self.base.glob("*.out")):
            text = path.read_text(errors="replace").splitlines()
            first_errors = [line for line in text if "[error]" in line][:5]
            if first_errors:
                chunks.append(f"--- first errors in {path}\n" + "\n".join(first_errors))
            chunks.append(f"--- end of {path}\n" + "\n".join(text[-lines:]))
        return "\n".join(chunks) or f"(no log under {self.base})"

    # --- life -------------------------------------------------------------------

    def start(self) -> None:
        """Start the private node and wait until it answers AMQP."""
        try:
            self._start()
        except (OSError, subprocess.SubprocessError) as error:
            self._kill_quietly()
            raise RabbitServerError(f"could not start rabbitmq node {self.node}: {error}\n{self.log_tail()}") from error

    def _start(self) -> None:
        assert self.owned and self.base is not None
        with contextlib.suppress(FileNotFoundError):
            self.pid_file.unlink()
        with open(self.base / "server.out", "ab") as out:
            launcher = subprocess.run(
                [_executable("rabbitmq-server"), "-detached"],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                timeout=30,
                check=False,
            )
        if launcher.returncode != 0:
            raise RabbitServerError(f"rabbitmq-server -detached exited {launcher.returncode}\n{self.log_tail()}")
        deadline = time.monotonic() + START_TIMEOUT
        with open(self.base / "ctl.out", "ab") as out:
            wait = subprocess.run(
                [
                    _executable("rabbitmqctl"),
                    "-n",
                    self.node,
                    "wait",
                    "--timeout",
                    str(int(START_TIMEOUT)),
                    str(self.pid_file),
                ],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.base,
                timeout=START_TIMEOUT + 15,
                check=False,
            )
        if wait.returncode != 0:
            self._kill_quietly()
            raise RabbitServerError(
                f"rabbitmqctl wait exited {wait.returncode}: node {self.node} did not boot\n{self.log_tail()}"
            )
        while not amqp_answers(self.host, self.port):
            if time.monotonic() > deadline:
                self._kill_quietly()
                raise RabbitServerError(
                    f"node {self.node} booted but AMQP on {self.port} does not answer\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the private node by its pid: SIGTERM, wait, then SIGKILL."""
        if not self.owned:
            return
        pid = self.pid()
        if pid is None or not alive(pid):
            return
        os.kill(pid, signal.SIGTERM)
        if wait_gone(pid, STOP_TIMEOUT):
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        if not wait_gone(pid, 10.0):
            raise RabbitServerError(f"rabbitmq node pid {pid} survived SIGKILL")

    def close(self) -> None:
        """End of session: stop the node, then the epmd it started on our port."""
        if not self.owned:
            return
        try:
            self.stop()
        finally:
            epmd = shutil.which("epmd") or "/usr/lib/erlang/bin/epmd"
            if Path(epmd).exists():
                subprocess.run(
                    [epmd, "-port", str(self.ports["epmd"]), "-kill"],
                    env=self.env,
                    capture_output=True,
                    timeout=10,
                    check=False,
                )

    def restart(self) -> None:
        """Stop the broker and start it again with the same data: every client
        connection drops and the port refuses connections meanwhile."""
        if self.owned:
            self.stop()
            deadline = time.monotonic() + STOP_TIMEOUT
            while amqp_answers(self.host, self.port, timeout=0.2):  # the listener closes with the node
                if time.monotonic() > deadline:
                    raise RabbitServerError(f"node {self.node} stopped but AMQP on {self.port} still answers")
                time.sleep(0.05)
            self.start()
            return
        # Not our process: stop and start the broker application inside it.
        ctl = shutil.which("rabbitmqctl") or _executable("rabbitmqctl")
        for action in ("stop_app", "start_app"):
            done = subprocess.run([ctl, action], capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                raise RabbitServerError(f"rabbitmqctl {action} failed on the shared broker: {done.stdout}{done.stderr}")
        deadline = time.monotonic() + START_TIMEOUT
        while not amqp_answers(self.host, self.port):
            if time.monotonic() > deadline:
                raise RabbitServerError("the shared broker did not answer AMQP after start_app")
            time.sleep(0.1)

    def _kill_quietly(self) -> None:
        with contextlib.suppress(Exception):
            self.stop()

    # --- between tests --------------------------------------------------------------

    def delete(self, queues: tuple[str, ...] = (), exchanges: tuple[str, ...] = ()) -> None:
        """Delete queues and exchanges (missing ones are fine)."""
        import pika  # here, so that importing this module needs no client library

        connection = pika.BlockingConnection(pika.URLParameters(self.url))
        try:
            channel = connection.channel()
            for queue in queues:
                channel.queue_delete(queue)
            for exchange in exchanges:
                channel.exchange_delete(exchange)
        finally:
            connection.close()
