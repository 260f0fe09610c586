"""Group communication: the Spread daemon against a plain TCP relay, and leader failover.

Part 1, multicast.  ``photomark spread-daemon`` runs as a subprocess; 5 member
clients (``SpreadClient``, each read by its own thread) join one group and
AGREED messages of ~200 B and ~10 kB go to it from one sender, then from five
(each member also sends, from a sender thread of its own).  Every message
carries its send time (``time.perf_counter``, same process), so each delivery
gives a latency.  Two measurements per case:

* throughput: N messages with a bounded window (at most W sent but not yet
  delivered to every member, so no member queue nears the daemon's 8 MiB
  limit); rate = N / (first send .. last delivery to the last member);
* latency: light load, at most one message in flight per sender (a message is
  sent when fewer than S (senders) are undelivered to some member); median and
  p99 over every delivery to every member.

The baseline, in the same run, is the same messages through a minimal fan-out
relay written here: length-prefixed frames over plain TCP, one reader thread per
client connection writing each frame to all 5 connections under one lock (the
same total order the daemon gives).  It runs as a subprocess of this script
(``--relay-serve``), like the daemon, so both have their own interpreter and
GIL.  Daemon and relay alternate (daemon, relay, relay, daemon, twice), so drift
of the shared machine hits both alike; a side's rate is the median of its 4
runs, its latencies pool the deliveries of its 4 runs.
Printed: rates and latencies, and daemon/relay ratios (throughput ratio: higher
is better; latency ratio: lower is better).

Part 2, leader failover.  A private RabbitMQ, a Lab with 1 Register and 3 Svcs
(no workers, so uploads stay pending).  SIGKILL the leader (``pending().leader``)
and time, from the kill, until the next-oldest Svc answers ``pending()`` with
leader=True and ``status(id)`` of a pending id with PROCESSING (polled back to
back on an open channel).  A fresh Svc replaces the dead one between rounds.
Printed: each round, the median (target < 1 s), and the same-run baseline: one
``status()`` round trip on a healthy Svc.

    .venv/bin/python bench/group.py [--rounds 3] [--skip-multicast] [--skip-failover]
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lab_servers import exit_on_sigterm, median, percentile, private_lab, until  # noqa: E402

GROUP = "bench.group"
MEMBERS = 5
STAMP = struct.Struct("!dII")  # send time, sender index, sequence number
LENGTH = struct.Struct("!I")


# --- the baseline relay (runs in its own process) -------------------------------------------------


def serve_relay() -> None:
    """Accept clients forever; every length-prefixed frame read from one goes to all, in one order."""
    listener = socket.create_server(("127.0.0.1", 0))
    print(listener.getsockname()[1], flush=True)
    conns: list[socket.socket] = []
    lock = threading.Lock()

    def reader(conn: socket.socket) -> None:
        stream = conn.makefile("rb", buffering=1 << 16)
        while True:
            head = stream.read(LENGTH.size)
            if len(head) < LENGTH.size:
                break
            body = stream.read(LENGTH.unpack(head)[0])
            frame = head + body
            with lock:
                for other in conns:
                    try:
                        other.sendall(frame)
                    except OSError:
                        pass
        with lock:
            conns.remove(conn)
        conn.close()

    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with lock:
            conns.append(conn)
        threading.Thread(target=reader, args=(conn,), daemon=True).start()


# --- the two kinds of member ------------------------------------------------------------------------


class RelayMember:
    def __init__(self, port: int, index: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.stream = self.sock.makefile("rb", buffering=1 << 16)
        self.lock = threading.Lock()
        self.view = MEMBERS  # no membership here: everyone connected is in

    def send(self, payload: bytes) -> None:
        with self.lock:
            self.sock.sendall(LENGTH.pack(len(payload)) + payload)

    def recv(self) -> bytes | None:
        head = self.stream.read(LENGTH.size)
        if len(head) < LENGTH.size:
            return None
        return self.stream.read(LENGTH.unpack(head)[0])

    def close(self) -> None:
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()


class SpreadMember:
    def __init__(self, address: str, index: int) -> None:
        from spread.client import SpreadClient

        self.client = SpreadClient()
        self.client.connect(address, f"bench{index}", membership=True)
        self.client.join(GROUP)
        self.view = 0

    def send(self, payload: bytes) -> None:
        self.client.multicast(GROUP, "AGREED", 1, payload)

    def recv(self) -> bytes | None:
        while True:
            message = self.client.receive()
            if message.is_regular:
                return message.data
            if message.is_reg_memb:
                self.view = len(message.groups)

    def close(self) -> None:
        self.client.disconnect()


# --- one measured run --------------------------------------------------------------------------------


@dataclass
class Run:
    expected: int  # messages every member must receive
    window: int  # at most this many sent and not yet delivered to every member
    count: list[int] = field(default_factory=lambda: [0] * MEMBERS)
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    last: float = 0.0
    cond: threading.Condition = field(default_factory=threading.Condition)

    def deliver(self, member: int, latency: float, now: float) -> None:
        with self.cond:
            self.count[member] += 1
            self.latencies.append(latency)
            self.last = now
            self.cond.notify_all()

    def take_slot(self) -> None:
        with self.cond:
            deadline = time.monotonic() + 60
            while self.sent - min(self.count) >= self.window:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"deliveries stalled: sent {self.sent}, delivered {self.count}")
                self.cond.wait(1.0)
            self.sent += 1


class Members:
    """Five members of one transport, each read by its own thread that feeds the current Run."""

    def __init__(self, members: list) -> None:
        self.members = members
        self.run: Run | None = None
        self.threads = [threading.Thread(target=self._read, args=(i,), daemon=True) for i in range(len(members))]
        for thread in self.threads:
            thread.start()

    def _read(self, index: int) -> None:
        member = self.members[index]
        while True:
            try:
                data = member.recv()
            except Exception:  # noqa: BLE001 - closed at the end
                return
            if data is None:
                return
            now = time.perf_counter()
            run = self.run
            if run is not None:
                run.deliver(index, now - STAMP.unpack_from(data)[0], now)

    def measure(self, senders: int, size: int, total: int, window: int) -> tuple[float, list[float]]:
        """Sends ``total`` messages of ``size`` bytes from ``senders`` members; (messages/s, latencies)."""
        run = Run(expected=total, window=window)
        self.run = run
        pad = b"x" * (size - STAMP.size)
        per_sender = [total // senders + (1 if i < total % senders else 0) for i in range(senders)]
        errors: list[BaseException] = []

        def send(index: int, count: int) -> None:
            member = self.members[index]
            try:
                for seq in range(count):
                    run.take_slot()
                    member.send(STAMP.pack(time.perf_counter(), index, seq) + pad)
            except BaseException as error:  # noqa: BLE001
                errors.append(error)

        threads = [threading.Thread(target=send, args=(i, n), daemon=True) for i, n in enumerate(per_sender)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        with run.cond:
            deadline = time.monotonic() + 120
            while min(run.count) < total:
                if errors:
                    raise RuntimeError(f"a sender failed: {errors[0]!r}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"only {run.count} of {total} delivered")
                run.cond.wait(1.0)
        for thread in threads:
            thread.join()
        self.run = None
        return total / (run.last - started), run.latencies

    def close(self) -> None:
        for member in self.members:
            member.close()


def start_daemon(base: Path) -> tuple[subprocess.Popen, str]:
    from tests.integration.rabbitmq_server import free_ports

    port = free_ports(1)[0]
    log = (base / "spread-daemon.log").open("wb")
    popen = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "spread-daemon",
            "--port",
            str(port),
            "--name",
            "bench",
            "--unix-socket",
            "",
        ],
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        start_new_session=True,
    )

    def answers() -> bool:
        if popen.poll() is not None:
            raise RuntimeError(f"the spread daemon exited with {popen.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return True
        except OSError:
            return False

    until(answers, 30, "the spread daemon", pause=0.05)
    return popen, f"{port}@127.0.0.1"


def start_relay() -> tuple[subprocess.Popen, int]:
    popen = subprocess.Popen(
        [sys.executable, str(Path(__file__).resolve()), "--relay-serve"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    line = popen.stdout.readline()
    if not line:
        raise RuntimeError(f"the relay exited with {popen.wait()}")
    return popen, int(line)


def stop_process(popen: subprocess.Popen | None) -> None:
    if popen is None or popen.poll() is not None:
        return
    popen.send_signal(signal.SIGTERM)
    try:
        popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait(timeout=10)


CASES = [  # (size, senders, throughput messages, throughput window, latency messages)
    (200, 1, 4000, 200, 400),
    (200, 5, 4000, 200, 400),
    (10_000, 1, 1500, 80, 300),
    (10_000, 5, 1500, 80, 300),
]


def multicast(base: Path, scale: float) -> None:
    daemon = relay = None
    spread_members = relay_members = None
    try:
        daemon, address = start_daemon(base)
        relay, relay_port = start_relay()
        spread_members = Members([SpreadMember(address, i) for i in range(MEMBERS)])
        until(lambda: all(m.view == MEMBERS for m in spread_members.members), 20, "a view of 5 members")
        relay_members = Members([RelayMember(relay_port, i) for i in range(MEMBERS)])
        sides = {"daemon": spread_members, "relay": relay_members}
        for side in sides.values():  # warm up both paths
            side.measure(5, 200, 500, 50)

        print("multicast to 5 members (AGREED through the daemon; plain TCP fan-out relay as baseline)")
        print(
            f"{'size':>7} {'senders':>7} | {'daemon msg/s':>12} {'relay msg/s':>11} {'ratio':>6} | "
            f"{'daemon p50 ms':>13} {'relay p50 ms':>12} {'ratio':>6} | "
            f"{'daemon p99 ms':>13} {'relay p99 ms':>12} {'ratio':>6}"
        )
        for size, senders, total, window, lat_total in CASES:
            total, lat_total = max(50, int(total * scale)), max(20, int(lat_total * scale))
            rates: dict[str, list[float]] = {"daemon": [], "relay": []}
            lats: dict[str, list[float]] = {"daemon": [], "relay": []}
            for name in ("daemon", "relay", "relay", "daemon") * 2:
                side = sides[name]
                rate, _ = side.measure(senders, size, total, window)
                _, latencies = side.measure(senders, size, lat_total, senders)  # one in flight per sender
                rates[name].append(rate)
                lats[name].extend(latencies)
            rate = {n: median(rates[n]) for n in rates}  # the median of each side's 4 runs
            p50 = {n: median(lats[n]) * 1000 for n in lats}
            p99 = {n: percentile(lats[n], 99) * 1000 for n in lats}
            print(
                f"{size:>7} {senders:>7} | {rate['daemon']:>12.0f} {rate['relay']:>11.0f} "
                f"{rate['daemon'] / rate['relay']:>6.2f} | {p50['daemon']:>13.3f} {p50['relay']:>12.3f} "
                f"{p50['daemon'] / p50['relay']:>6.2f} | {p99['daemon']:>13.3f} {p99['relay']:>12.3f} "
                f"{p99['daemon'] / p99['relay']:>6.2f}",
                flush=True,
            )
        print(
            "(msg/s: messages delivered to all 5 members per second; ratio daemon/relay, "
            "throughput higher is better, latency lower is better)"
        )
    finally:
        for side in (spread_members, relay_members):
            if side is not None:
                side.close()
        stop_process(relay)
        stop_process(daemon)


# --- part 2: leader failover ----------------------------------------------------------------------------


def failover(base: Path, rounds: int) -> None:
    import grpc

    from gateways.rpc.client import PhotoClient
    from protos import photos_pb2
    from tests.cluster.photos import page_with

    def pending_of(svc):
        client = PhotoClient(svc.address, timeout=10)
        try:
            return client.pending()
        finally:
            client.close()

    svc_args = ("--retry-after", "3600")  # no re-publication during the benchmark
    with private_lab(base) as (_, lab):
        lab.start_register()
        svcs = [lab.start_svc(*svc_args) for _ in range(3)]
        until(lambda: pending_of(svcs[0]).leader, 20, "a leader")
        uploader = PhotoClient(svcs[1].address, timeout=60)
        pending_ids = {
            uploader.upload(page_with("photomark", 1, seed=i), ["photomark"], filename=f"p{i}.png") for i in range(3)
        }
        uploader.close()
        target = sorted(pending_ids)[0]

        def replicas_agree() -> bool:
            return all(
                (lambda p: p.synced and {e.id for e in p.entries} == pending_ids)(pending_of(s))
                for s in svcs
                if s.alive()
            )

        until(replicas_agree, 20, "every replica to hold the pending list")

        healthy = PhotoClient(svcs[0].address, timeout=10)
        for _ in range(20):
            healthy.status(target)
        rtts = []
        for _ in range(200):
            started = time.perf_counter()
            healthy.status(target)
            rtts.append(time.perf_counter() - started)
        healthy.close()
        rtt = median(rtts)

        times, leader_times = [], []
        for number in range(1, rounds + 1):
            alive = [s for s in svcs if s.alive()]  # in start order: the oldest first
            leaders = [s for s in alive if pending_of(s).leader]
            if leaders != alive[:1]:
                raise RuntimeError(f"round {number}: the leader is not the oldest Svc ({len(leaders)} leaders)")
            doomed, successor = alive[0], alive[1]
            probe = PhotoClient(successor.address, timeout=2)
            probe.pending()
            probe.status(target)  # the channel is open before the kill
            leader_at = None
            killed_at = time.perf_counter()
            os.kill(doomed.pid, signal.SIGKILL)
            while True:
                try:
                    reply = probe.pending()
                    if reply.leader:
                        if leader_at is None:
                            leader_at = time.perf_counter()
                        if probe.status(target).state == photos_pb2.PROCESSING:
                            break
                except grpc.RpcError:
                    pass
                if time.perf_counter() - killed_at > 30:
                    raise TimeoutError(f"round {number}: no new leader answering after 30 s")
            took = time.perf_counter() - killed_at
            doomed.popen.wait(timeout=10)
            held = {e.id for e in probe.pending().entries}
            probe.close()
            times.append(took)
            leader_times.append(leader_at - killed_at)
            print(
                f"failover round {number}: {took * 1000:.1f} ms (leader=True seen after "
                f"{(leader_at - killed_at) * 1000:.1f} ms; new leader holds {len(held & pending_ids)}/"
                f"{len(pending_ids)} pending ids)",
                flush=True,
            )
            if number < rounds:
                svcs.append(lab.start_svc(*svc_args))
                until(replicas_agree, 20, "the replacement Svc to receive the list")

        print(
            f"failover median: {median(times) * 1000:.1f} ms over {rounds} rounds "
            f"(target < 1000 ms; leader=True alone: median {median(leader_times) * 1000:.1f} ms)"
        )
        print(
            f"baseline status() round trip on a healthy Svc: median {rtt * 1000:.3f} ms, "
            f"p99 {percentile(rtts, 99) * 1000:.3f} ms (200 calls)"
        )
        print(f"ratio failover/status round trip: {median(times) / rtt:.0f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="leader kills in the failover part")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply the message counts")
    parser.add_argument("--skip-multicast", action="store_true")
    parser.add_argument("--skip-failover", action="store_true")
    parser.add_argument("--relay-serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.relay_serve:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        serve_relay()
        return
    exit_on_sigterm()
    print(f"load average (1 min) at start: {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    with tempfile.TemporaryDirectory(prefix="bench-group-") as tmp:
        base = Path(tmp)
        if not args.skip_multicast:
            multicast(base, args.scale)
        if not args.skip_failover:
            failover(base / "failover", args.rounds)
    print(f"load average (1 min) at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
