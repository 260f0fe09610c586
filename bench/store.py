"""The replicated store (issue 8): put, placement, get and re-protection MB/s against plain file I/O.

All in one run, on real processes: a private RabbitMQ, ``photomark spread-daemon``, a
``store-manager`` (default ``--placers`` and ``--repair-in-flight``) and 4 ``store-node``s
(``tests.cluster.lab.Lab``), every directory under one temporary directory, so the store and
the baselines use the same disk.  ``--count`` objects of ``--size`` random bytes (incompressible),
``--clients`` threads, each with its own ``ManagerClient``, each taking the next object:

* put, as answered: bytes / (first put .. last put returned);
* put, as fully placed: bytes / (first put .. the first poll of ``stats()`` after the last put
  that says objects == count, spooled == 0, under_replicated == 0), then checked with ``stat()``:
  every object on exactly two distinct nodes with the sha256 it was put with;
  baseline of both: the same bytes written to files with the same number of threads, each file
  written, flushed and fsynced (one file per object, on the same disk);
* get: bytes / (first get .. last get returned, every object compared with what was put);
  baseline: the same bytes read from the baseline's files with the same number of threads.
  Nothing is dropped from the page cache, for either side;
* re-protect: SIGKILL the node holding the most objects, then time until ``stats()`` shows it
  not live, under_replicated == 0 and spooled == 0, checked with ``stat()``: every object on
  exactly two live nodes, none on the killed one.  MB/s = the killed node's object bytes / that
  time.  Baseline: ``shutil.copyfile`` of each of the killed node's object files into a new
  directory, each fsynced, one after the other (one thread).

Each ratio is store / baseline (MB/s; higher is better).  MB = 10^6 bytes.  Nothing is asserted:
the figures are printed, with the command line, the load average and the file system.

    flock /tmp/photomark-servers.lock .venv/bin/python bench/store.py [--count 200] [--size 1048576] [--clients 4]
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lab_servers import exit_on_sigterm, private_lab  # noqa: E402

NODES = 4
MB = 1e6
PLACE_TIMEOUT = 900.0
REPROTECT_TIMEOUT = 900.0
START_TIMEOUT = 120.0
POLL = 0.05


@dataclass(frozen=True)
class Row:
    what: str
    measured: float  # MB/s
    baseline: float  # MB/s
    detail: str

    @property
    def ratio(self) -> float:
        return self.measured / self.baseline if self.baseline else float("nan")


def object_id(index: int) -> str:
    return f"bench-{index:05d}"


def in_threads(
    count: int, clients: int, work: Callable[[int, object], None], setup=None, teardown=None
) -> tuple[float, float]:
    """``clients`` threads run ``work(index, state)`` on indexes 0..count-1, each thread taking the next index;
    ``setup()`` makes a thread's state (before the clock starts), ``teardown(state)`` ends it.  Returns the
    perf_counter when the threads were let go and the seconds until the last one ended."""
    lock = threading.Lock()
    next_index = [0]
    errors: list[BaseException] = []
    ready = threading.Barrier(clients + 1)
    states = [setup() if setup else None for _ in range(clients)]

    def run(state) -> None:
        ready.wait()
        try:
            while not errors:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= count:
                    return
                work(index, state)
        except BaseException as error:  # noqa: BLE001 - raised again in the main thread
            errors.append(error)

    threads = [threading.Thread(target=run, args=(state,), daemon=True) for state in states]
    for thread in threads:
        thread.start()
    ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    took = time.perf_counter() - started
    if teardown:
        for state in states:
            teardown(state)
    if errors:
        raise errors[0]
    return started, took


# --- baselines ---------------------------------------------------------------------------------


def plain_write(directory: Path, objects: list[bytes], clients: int) -> float:
    directory.mkdir(parents=True, exist_ok=True)

    def write(index: int, _state) -> None:
        with open(directory / object_id(index), "wb") as file:
            file.write(objects[index])
            file.flush()
            os.fsync(file.fileno())

    return in_threads(len(objects), clients, write)[1]


def plain_read(directory: Path, objects: list[bytes], clients: int) -> float:
    def read(index: int, _state) -> None:
        if (directory / object_id(index)).read_bytes() != objects[index]:
            raise RuntimeError(f"the baseline file {object_id(index)} is not what was written")

    return in_threads(len(objects), clients, read)[1]


def plain_copy(files: list[Path], target: Path) -> float:
    target.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    for index, source in enumerate(files):
        copy = target / f"{index:05d}"
        shutil.copyfile(source, copy)
        with open(copy, "rb+") as file:
            os.fsync(file.fileno())
    return time.perf_counter() - started


def object_files(node_dir: Path) -> list[Path]:
    """A node's object files: the regular files under ``objects/`` whose names do not start with a dot."""
    return sorted(p for p in (node_dir / "objects").rglob("*") if p.is_file() and not p.name.startswith("."))


# --- the store ---------------------------------------------------------------------------------


def store_put(address: str, objects: list[bytes], clients: int) -> tuple[float, float, list[str]]:
    """(perf_counter at the first put, seconds until the last put returned, the sha256 of each put)."""
    from store.manager_client import ManagerClient

    digests = [""] * len(objects)

    def put(index: int, client) -> None:
        digests[index] = client.put(object_id(index), objects[index]).sha256

    started, took = in_threads(len(objects), clients, put, lambda: ManagerClient(address), lambda c: c.close())
    return started, took, digests


def store_get(address: str, objects: list[bytes], clients: int) -> float:
    from store.manager_client import ManagerClient

    def get(index: int, client) -> None:
        if client.get(object_id(index)) != objects[index]:
            raise RuntimeError(f"get {object_id(index)}: not the bytes that were put")

    return in_threads(len(objects), clients, get, lambda: ManagerClient(address), lambda c: c.close())[1]


def misplaced(client, digests: list[str], dead: str = "") -> list[str]:
    """Objects not on exactly two distinct live nodes with the sha256 they were put with (or on ``dead``)."""
    wrong = []
    for index, digest in enumerate(digests):
        stat = client.stat(object_id(index))
        if stat is None:
            wrong.append(f"{object_id(index)}: missing")
        elif stat.sha256 != digest or len(set(stat.nodes)) != 2 or len(stat.nodes) != 2 or dead in stat.nodes:
            wrong.append(f"{object_id(index)}: sha256 {stat.sha256[:12]}, nodes {list(stat.nodes)}")
    return wrong


def until_settled(client, lab, digests: list[str], timeout: float, what: str, dead: str = "") -> tuple[float, float]:
    """Polls ``stats()`` until every object is placed (and ``dead`` is not live), then checks each object with
    ``stat()``; returns (perf_counter when ``stats()`` first said so, perf_counter when ``dead`` was first seen not
    live, or 0).  On a timeout raises with the last figures and the log tails."""
    deadline = time.monotonic() + timeout
    seen_down = 0.0
    last = None
    wrong: list[str] = []
    while time.monotonic() < deadline:
        stats = client.stats()
        now = time.perf_counter()
        last = stats
        states = {n.node: n.state for n in stats.nodes}
        if dead and not seen_down and states.get(dead) != "live":
            seen_down = now
        if (
            stats.objects == len(digests)
            and stats.spooled == 0
            and stats.under_replicated == 0
            and (not dead or states.get(dead) != "live")
        ):
            wrong = misplaced(client, digests, dead)
            if not wrong:
                return now, seen_down
        time.sleep(POLL)
    raise TimeoutError(
        f"{what}: not settled after {timeout} s; last stats {last}; "
        f"{len(wrong)} objects misplaced at the last check: {wrong[:5]}\n{lab.logs()}"
    )


def until_live(client, lab, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        stats = client.stats()
        if stats.live_nodes == count:
            return
        time.sleep(POLL)
    raise TimeoutError(f"{count} store nodes not live after {START_TIMEOUT} s: {client.stats()}\n{lab.logs()}")


def file_system(path: Path) -> str:
    """The device and type of the file system holding ``path`` (from /proc/mounts: the longest mount prefix)."""
    best = ("", "?", "?")
    resolved = str(path.resolve())
    try:
        with open("/proc/mounts") as mounts:
            for line in mounts:
                device, mount, kind = line.split()[:3]
                if (resolved == mount or resolved.startswith(mount.rstrip("/") + "/")) and len(mount) > len(best[0]):
                    best = (mount, device, kind)
    except OSError:
        pass
    return f"{best[1]} ({best[2]}) mounted on {best[0] or '?'}"


def print_log_tails(lab, lines: int = 40) -> None:
    """Each process's log tail, to stderr, before the temporary directory (and the logs) go away."""
    for process in lab.processes:
        state = "running" if process.alive() else f"exited with {process.popen.returncode}"
        print(f"--- {process.role} pid {process.pid} ({state})\n{process.log_tail(lines)}", file=sys.stderr)


def print_table(rows: list[Row]) -> None:
    header = ("", "store MB/s", "baseline MB/s", "ratio", "")
    lines = [header] + [(r.what, f"{r.measured:.1f}", f"{r.baseline:.1f}", f"{r.ratio:.3f}", r.detail) for r in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(4)]
    for line in lines:
        print(
            f"{line[0]:<{widths[0]}}  {line[1]:>{widths[1]}}  {line[2]:>{widths[2]}}  {line[3]:>{widths[3]}}  {line[4]}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=200, help="objects put, got and re-protected")
    parser.add_argument("--size", type=int, default=1024 * 1024, help="bytes of each object (random)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent put/get threads (and baseline threads)")
    parser.add_argument("--dir", type=Path, default=None, help="where the temporary directory goes [default: $TMPDIR]")
    args = parser.parse_args()
    if args.count < 1 or args.size < 1 or args.clients < 1:
        parser.error("--count, --size and --clients must be at least 1")
    exit_on_sigterm()

    from store.manager_client import ManagerClient

    objects = [os.urandom(args.size) for _ in range(args.count)]
    total = args.count * args.size
    with tempfile.TemporaryDirectory(prefix="bench-store-", dir=args.dir) as tmp, private_lab(Path(tmp)) as (_, lab):
        base = Path(tmp)
        manager = lab.start_store_manager()
        for number in range(1, NODES + 1):
            lab.start_store_node(number, manager.address)
        client = ManagerClient(manager.address)
        try:
            until_live(client, lab, NODES)
            load_before = os.getloadavg()

            write_s = plain_write(base / "baseline", objects, args.clients)
            put_start, put_s, digests = store_put(manager.address, objects, args.clients)
            placed_at, _ = until_settled(client, lab, digests, PLACE_TIMEOUT, "placing every object")
            placed_s = placed_at - put_start

            read_s = plain_read(base / "baseline", objects, args.clients)
            get_s = store_get(manager.address, objects, args.clients)

            stats = client.stats()
            victim = max(stats.nodes, key=lambda n: (n.objects, n.node))
            number = int(victim.node.removeprefix("n"))
            files = object_files(lab.store_node_dir(number))
            held = sum(f.stat().st_size for f in files)
            process = next(p for p in lab.processes if p.role == f"store-node-{number}" and p.alive())
            killed_at = time.perf_counter()
            lab.kill(process, signal.SIGKILL)
            settled_at, down_at = until_settled(
                client, lab, digests, REPROTECT_TIMEOUT, f"re-protecting node {victim.node}", dead=victim.node
            )
            reprotect_s = settled_at - killed_at
            copy_s = plain_copy(files, base / "copy")
            load_after = os.getloadavg()
        except BaseException:
            print_log_tails(lab)
            raise
        finally:
            client.close()

        rows = [
            Row(
                "put, answered",
                total / MB / put_s,
                total / MB / write_s,
                f"{put_s:.3f} s vs plain write+fsync {write_s:.3f} s",
            ),
            Row(
                "put, placed on 2 nodes",
                total / MB / placed_s,
                total / MB / write_s,
                f"{placed_s:.3f} s vs plain write+fsync {write_s:.3f} s",
            ),
            Row("get", total / MB / get_s, total / MB / read_s, f"{get_s:.3f} s vs plain read {read_s:.3f} s"),
            Row(
                f"re-protect killed {victim.node}",
                held / MB / reprotect_s,
                held / MB / copy_s,
                f"{reprotect_s:.3f} s vs plain copy+fsync {copy_s:.3f} s "
                f"({len(files)} objects, {held / MB:.1f} MB; seen down after {down_at - killed_at:.2f} s)",
            ),
        ]
        python = os.path.relpath(sys.executable) if sys.executable.startswith(os.getcwd()) else sys.executable
        print(f"command: {shlex.join([python, *sys.argv])}")
        print(
            f"store: 1 manager, {NODES} nodes, RabbitMQ and the Spread daemon as real processes; "
            f"{args.count} objects of {args.size} random bytes ({total / MB:.1f} MB), {args.clients} client threads"
        )
        print(f"disk: {file_system(base)} for the store and the baselines alike; MB = 10^6 bytes")
        print("page cache: nothing dropped (the gets and the plain reads may both be served from memory)")
        print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} cores")
        print_table(rows)
        print("ratio = store / baseline (MB/s; higher is better)", flush=True)


if __name__ == "__main__":
    main()
