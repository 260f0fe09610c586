"""Many clients at once against one Svc (issue 9): each figure a ratio against a baseline of the same run.

The servers run as subprocesses of this script (``--serve svc`` or ``--serve bare``), the clients in this
process, so both sides of every ratio sit in the same arrangement:

* svc: the embedded cluster (``EmbeddedCluster``: a Register and one Svc, the group as ``--group`` says,
  the in-memory broker, fs storage in a temporary directory) with ``workers=0``, so only the front end is
  measured and every photo stays PROCESSING; the leader's re-publish is put off for an hour.
* bare: a bare ``grpc.aio`` server offering the same Upload: it writes the blocks to a file as they
  arrive and fsyncs it (in a thread) before it answers, on the same disk.

Measured:

1. uploads/s of ``--clients`` concurrent clients (``grpc.aio`` in one event loop, one connection each),
   each uploading ``--uploads`` photos of ``--photo-mb`` MB (a noise PNG) in a row, after one warm-up each;
   svc against bare, in ABBA order (bare, svc, svc, bare) over the summed times.  Target >= 0.6.
2. one ``--large-mb`` MB photo through the real client (``PhotoClient.upload_file``, streamed from disk;
   median of ``--large-runs`` after a warm-up): MB/s against the slower of a loopback socket copy and a
   write+fsync of the same bytes (medians of 5).  Target >= 0.5.  Then the bench plays the worker (it
   writes the marks, the photo itself, and a report into the Svc's storage) and downloads it: into memory
   against the socket copy (target >= 0.5), and to a file (``download_to``: temporary file, fsync, rename)
   against the slower of the socket copy and write+fsync.
3. ``--waiters`` concurrent ``Status(wait_ms)`` calls on a photo that stays PROCESSING (over connections of
   ``--waiters-per-connection``), and meanwhile ``--probes`` rounds of one upload and one plain ``Status``,
   one at a time: their p99 latency against the same probes with no waiters, on a fresh Svc.  Target <= 2x.
   Every call has a deadline (``--probe-timeout``), probing stops after 3 failures, and whatever is left
   of the waiters is cancelled, so the bench ends even against a Svc that cannot hold them; it prints how
   the waiters and probes ended.
4. the Svc's peak RSS during a ``--big-mb`` MB upload minus its idle RSS (after a warm-up upload), on a
   fresh Svc: VmHWM of /proc/<pid>/status after resetting it (``clear_refs`` 5), and VmRSS sampled every
   10 ms as a cross-check, against the block size the client sends (target <= 4 blocks + a small constant);
   then the same of a fresh bare server, for gRPC's own share (its HTTP/2 buffers grow with the transfer).

Nothing is asserted.  The load average is printed: the machine is shared.

    flock /tmp/photomark-servers.lock .venv/bin/python bench/clients.py [--clients 16] [--uploads 8]
        [--waiters 1000] [--probes 100] [--large-mb 20] [--big-mb 50] [--group spread|memory]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import io
import json
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import grpc  # noqa: E402

from bench.lab_servers import exit_on_sigterm, median, percentile, until  # noqa: E402
from bench.throughput import socket_copy  # noqa: E402
from gateways.rpc.client import BLOCK_SIZE  # noqa: E402
from protos import photos_pb2, photos_pb2_grpc  # noqa: E402

MB = 1e6
KEYWORDS = ["photomark"]
START_WITHIN = 120.0  # seconds a server subprocess may take to listen
STOP_WITHIN = 30.0  # seconds after SIGTERM before SIGKILL
GIVE_UP_AFTER = 3  # failed probes before probing stops


# -- the photos --


def noise_png(megabytes: float) -> bytes:
    """An incompressible PNG of about ``megabytes`` MB (stored uncompressed, so quick to make)."""
    from PIL import Image

    side = int((megabytes * MB / 3) ** 0.5)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


def upload_requests(photo: bytes, block: int) -> list[photos_pb2.UploadRequest]:
    """The whole stream of one upload, built once so the clients cost little per upload."""
    header = photos_pb2.UploadHeader(filename="page.png", keywords=KEYWORDS, content_type="image/png", size=len(photo))
    blocks = [photo[offset : offset + block] for offset in range(0, len(photo), block)]
    return [photos_pb2.UploadRequest(header=header)] + [photos_pb2.UploadRequest(block=b) for b in blocks]


# -- the servers, each a subprocess of this script --


def serve_svc(data: Path, group: str) -> None:
    from actors.leader import LeaderSettings
    from cli import logs
    from cli.roles.config import SvcConfig
    from cli.roles.embedded import EmbeddedCluster, EmbeddedConfig

    logs.configure(json_output=True)  # as a role logs when its stderr is not a terminal
    svc = SvcConfig(listen="127.0.0.1:0", leader=LeaderSettings(retry_after=3600))
    config = EmbeddedConfig(data_dir=data / "storage", svc=svc, workers=0, group=group)
    with EmbeddedCluster(config) as cluster:
        announce(data, cluster.svc_address)
        while True:
            time.sleep(3600)  # until SIGTERM (SystemExit) stops the cluster on the way out


class BareUploads(photos_pb2_grpc.PhotoServiceServicer):
    """Upload: the blocks written to a file as they arrive, fsynced before the answer.  Download: that file
    streamed back in blocks of ``block`` bytes (to see what the client alone can do)."""

    def __init__(self, root: Path, block: int) -> None:
        self.root, self.block = root, block

    async def Upload(self, request_iterator, context):  # noqa: N802 - gRPC's name
        path = self.root / secrets.token_hex(16)
        size = 0
        with open(path, "wb") as file:
            async for request in request_iterator:
                if request.WhichOneof("part") == "block":
                    file.write(request.block)
                    size += len(request.block)
            file.flush()
            await asyncio.to_thread(os.fsync, file.fileno())
        return photos_pb2.UploadReply(id=path.name, size=size)

    async def Download(self, request, context):  # noqa: N802
        path = self.root / request.id
        size = path.stat().st_size
        yield photos_pb2.DownloadReply(status=photos_pb2.DownloadStatus(state=photos_pb2.READY, size=size))
        with open(path, "rb") as file:
            while block := file.read(self.block):
                yield photos_pb2.DownloadReply(block=block)


async def serve_bare(data: Path, block: int) -> None:
    root = data / "storage"
    root.mkdir(parents=True, exist_ok=True)
    server = grpc.aio.server()
    photos_pb2_grpc.add_PhotoServiceServicer_to_server(BareUploads(root, block), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    announce(data, f"127.0.0.1:{port}")
    await stop.wait()
    await server.stop(1)


def announce(data: Path, address: str) -> None:
    temporary = data / "address.tmp"
    temporary.write_text(address)
    temporary.rename(data / "address")


class Server:
    """A server subprocess (``--serve KIND``) with its own directory; ``address`` once it listens."""

    def __init__(self, kind: str, base: Path, group: str, block_kib: int) -> None:
        self.kind, self.data = kind, base / f"{kind}-{secrets.token_hex(3)}"
        self.data.mkdir(parents=True)
        self.log = self.data / "stderr"
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve", kind, "--data", str(self.data), "--group", group]
            + ["--block-kib", str(block_kib)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.log.open("w"),
        )
        self.address = until(self._listening, START_WITHIN, f"the {kind} server to listen")

    @property
    def storage(self) -> Path:
        return self.data / "storage"

    def _listening(self) -> str | None:
        if self.process.poll() is not None:
            raise RuntimeError(f"the {self.kind} server exited: {self.log.read_text()[-2000:]}")
        path = self.data / "address"
        return path.read_text() if path.exists() else None

    def stop(self) -> str:
        """Stops it (SIGTERM, then SIGKILL after ``STOP_WITHIN`` s); says how it ended."""
        if self.process.poll() is not None:
            return f"had exited ({self.process.returncode})"
        self.process.terminate()
        try:
            self.process.wait(STOP_WITHIN)
            return "stopped on SIGTERM"
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            return f"killed: still running {STOP_WITHIN:.0f} s after SIGTERM"


@contextlib.contextmanager
def served(kind: str, base: Path, args, ended: list[str] | None = None) -> Iterator[Server]:
    server = Server(kind, base, args.group, args.block_kib)
    try:
        yield server
    finally:
        how = server.stop()
        if ended is not None:
            ended.append(how)


# -- 1. concurrent uploads --


def aio_channel(address: str) -> grpc.aio.Channel:
    """A channel with a connection of its own (channels otherwise share one per target)."""
    return grpc.aio.insecure_channel(address, options=[("grpc.use_local_subchannel_pool", 1)])


async def concurrent_uploads(address: str, requests: list, clients: int, per_client: int, timeout: float) -> float:
    """Seconds for ``clients`` clients to upload ``per_client`` photos each (after one warm-up each)."""
    channels = [aio_channel(address) for _ in range(clients)]
    stubs = [photos_pb2_grpc.PhotoServiceStub(channel) for channel in channels]

    async def client(stub, count: int) -> None:
        for _ in range(count):
            await stub.Upload(iter(requests), timeout=timeout)

    try:
        await asyncio.gather(*(client(stub, 1) for stub in stubs))
        started = time.perf_counter()
        await asyncio.gather(*(client(stub, per_client) for stub in stubs))
        return time.perf_counter() - started
    finally:
        await asyncio.gather(*(channel.close() for channel in channels))


# -- 2. one large photo --


def write_fsync(data: bytes, directory: Path) -> float:
    """Seconds to write ``data`` to a new file in ``directory`` and fsync it."""
    path = directory / f"plain-{secrets.token_hex(4)}"
    started = time.perf_counter()
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())
    took = time.perf_counter() - started
    path.unlink()
    return took


def play_the_worker(storage: Path, photo_id: str, marks: bytes) -> None:
    """What a worker leaves behind, so the Svc answers READY: the marks and the report."""
    from storage import layout
    from storage.fs import FsStorage

    fs = FsStorage(storage)
    fs.write(layout.marks_path(photo_id), marks)
    fs.write(layout.report_path(photo_id), json.dumps({"filename": "big.png", "keywords": {}}).encode())


def large_transfers(address: str, path: Path, runs: int, timeout: float, block: int, made_ready) -> dict:
    """Seconds of ``runs`` uploads of ``path`` (``upload_file``, after a warm-up), then of ``runs`` downloads of
    the last into memory and to a file (``download_to``), after ``made_ready(photo_id)`` and a warm-up."""
    from gateways.rpc.client import PhotoClient

    client = PhotoClient(address, timeout=timeout)
    target = path.with_name(f"downloaded-{secrets.token_hex(3)}.png")
    try:
        ids = [client.upload_file(path, KEYWORDS, block_size=block)]
        uploads = []
        for _ in range(runs):
            started = time.perf_counter()
            ids.append(client.upload_file(path, KEYWORDS, block_size=block))
            uploads.append(time.perf_counter() - started)
        made_ready(ids[-1])
        client.download(ids[-1])
        memory = [timed(lambda: client.download(ids[-1])) for _ in range(runs)]
        file = [timed(lambda: client.download_to(ids[-1], target)) for _ in range(runs)]
    finally:
        client.close()
        target.unlink(missing_ok=True)
    return {"upload": median(uploads), "memory": median(memory), "file": median(file)}


def timed(call) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


# -- 3. waiters --


async def probe_rounds(stub, requests: list, photo_id: str, rounds: int, timeout: float):
    """``rounds`` of one upload and one plain Status, one call at a time: (upload latencies, Status
    latencies, failures by (call, code)); stops after ``GIVE_UP_AFTER`` failures."""
    latencies: dict[str, list[float]] = {"upload": [], "status": []}
    failures: collections.Counter = collections.Counter()
    for _ in range(rounds):
        for kind in ("upload", "status"):
            started = time.perf_counter()
            try:
                if kind == "upload":
                    await stub.Upload(iter(requests), timeout=timeout)
                else:
                    await stub.Status(photos_pb2.StatusRequest(id=photo_id), timeout=timeout)
                latencies[kind].append(time.perf_counter() - started)
            except grpc.aio.AioRpcError as error:
                failures[(kind, error.code().name)] += 1
                if sum(failures.values()) >= GIVE_UP_AFTER:
                    return latencies["upload"], latencies["status"], failures
    return latencies["upload"], latencies["status"], failures


async def connected(channel: grpc.aio.Channel, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    state = channel.get_state(try_to_connect=True)
    while state != grpc.ChannelConnectivity.READY:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(channel.wait_for_state_change(state), left)
        state = channel.get_state(try_to_connect=True)
    return True


async def waiters_phase(address: str, requests: list, args) -> dict:
    probe_channel = aio_channel(address)
    probe = photos_pb2_grpc.PhotoServiceStub(probe_channel)
    photo_id = (await probe.Upload(iter(requests), timeout=args.probe_timeout)).id
    await probe_rounds(probe, requests, photo_id, 3, args.probe_timeout)  # warm-up
    quiet = await probe_rounds(probe, requests, photo_id, args.probes, args.probe_timeout)

    count = args.waiters
    connections = max(1, -(-count // args.waiters_per_connection))
    channels = [aio_channel(address) for _ in range(connections)]
    stubs = [photos_pb2_grpc.PhotoServiceStub(channel) for channel in channels]
    wait_ms = args.waiter_ms
    calls = [
        stubs[n % connections].Status(
            photos_pb2.StatusRequest(id=photo_id, wait_ms=wait_ms), timeout=wait_ms / 1000 + args.probe_timeout
        )
        for n in range(count)
    ]
    ready = sum(await asyncio.gather(*(connected(channel, args.probe_timeout) for channel in channels)))
    started = time.perf_counter()
    loaded = await probe_rounds(probe, requests, photo_id, args.probes, args.probe_timeout)
    probing = time.perf_counter() - started

    outcomes: collections.Counter = collections.Counter()
    for call in calls:
        if not call.done():
            outcomes["still waiting when the probes ended"] += 1
            call.cancel()
            continue
        code = await call.code()
        outcomes["answered (wait over)" if code == grpc.StatusCode.OK else f"failed {code.name}"] += 1
    await asyncio.gather(*(channel.close() for channel in channels), probe_channel.close())
    return {
        "quiet": quiet,
        "loaded": loaded,
        "outcomes": outcomes,
        "connections": (ready, connections),
        "probing": probing,
    }


# -- 4. memory --


def proc_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def reset_peak(pid: int) -> bool:
    """Resets the process's VmHWM to its current RSS (Linux 4.0+); False where that is not allowed."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


class RssSampler:
    """VmRSS of ``pid`` every 10 ms in a thread; ``peak`` in KiB."""

    def __init__(self, pid: int) -> None:
        self.pid, self.peak = pid, 0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopped.wait(0.01):
            self.peak = max(self.peak, proc_kib(self.pid, "VmRSS"))

    def __enter__(self) -> RssSampler:
        self.peak = proc_kib(self.pid, "VmRSS")
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()
        self.peak = max(self.peak, proc_kib(self.pid, "VmRSS"))


# -- the run --


def rss_growth(kind: str, base: Path, args, small: bytes, big_path: Path, block: int, timeout: float):
    """Peak RSS minus idle RSS of a fresh ``kind`` server during the upload of ``big_path`` (after a warm-up
    upload of ``small``), in bytes, and a note of how it was measured."""
    from gateways.rpc.client import PhotoClient

    with served(kind, base, args) as server:
        pid = server.process.pid
        client = PhotoClient(server.address, timeout=timeout)
        try:
            client.upload(small, KEYWORDS, block_size=block)  # warm-up
            idle = proc_kib(pid, "VmRSS")
            reset = reset_peak(pid)
            with RssSampler(pid) as sampler:
                client.upload_file(big_path, KEYWORDS, block_size=block)
            hwm = proc_kib(pid, "VmHWM")
        finally:
            client.close()
    peak = max(hwm, sampler.peak) if reset else sampler.peak
    how = "VmHWM after clear_refs" if reset else "VmRSS sampled every 10 ms (VmHWM could not be reset)"
    note = (
        f"idle {idle / 1024:.0f} MiB, peak {peak / 1024:.0f} MiB ({how}; sampled VmRSS peak "
        f"{sampler.peak / 1024:.0f} MiB), photo {big_path.stat().st_size / MB:.1f} MB, client block {block // 1024} KiB"
    )
    return (peak - idle) * 1024, note


def load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def row(table: list, what: str, value: str, baseline: str, ratio: str, target: str) -> None:
    table.append((what, value, baseline, ratio, target))
    print(f"  measured: {what}: {value} vs {baseline} -> {ratio}", flush=True)


def print_table(table: list) -> None:
    heads = ("measure", "photomark", "baseline", "ratio", "target")
    widths = [max(len(str(r[i])) for r in [heads, *table]) for i in range(len(heads))]
    for line in [heads, tuple("-" * w for w in widths), *table]:
        print("  ".join(str(cell).ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())


def p99_text(latencies: list[float]) -> str:
    return f"{percentile(latencies, 99) * 1000:.1f} ms (n={len(latencies)})" if latencies else "none answered"


def run(args) -> None:

    print(f"command: {' '.join([Path(sys.executable).name, *sys.argv])}")
    print(f"load average at start: {load()} on {os.cpu_count()} cores; group: {args.group}", flush=True)
    table: list[tuple[str, ...]] = []
    notes: list[str] = []
    block = args.block_kib * 1024
    small = noise_png(args.photo_mb)
    small_requests = upload_requests(small, block)
    timeout = args.transfer_timeout

    with tempfile.TemporaryDirectory(prefix="bench-clients-", dir=args.dir) as tmp:
        base = Path(tmp)

        # 1 and 2: one Svc and one bare server.
        with served("bare", base, args) as bare, served("svc", base, args) as svc:
            print(f"1. {args.clients} clients x {args.uploads} uploads of {len(small) / MB:.2f} MB", flush=True)
            times: dict[str, list[float]] = {"bare": [], "svc": []}
            for kind in ("bare", "svc", "svc", "bare"):
                address = bare.address if kind == "bare" else svc.address
                times[kind].append(
                    asyncio.run(concurrent_uploads(address, small_requests, args.clients, args.uploads, timeout))
                )
            n = args.clients * args.uploads
            rate = {kind: n * len(t) / sum(t) for kind, t in times.items()}
            row(
                table,
                f"{args.clients} clients uploading {len(small) / MB:.1f} MB photos",
                f"{rate['svc']:.1f} uploads/s",
                f"{rate['bare']:.1f} (bare grpc.aio + fsync)",
                f"{rate['svc'] / rate['bare']:.3f}",
                ">= 0.6",
            )

            print(f"2. one {args.large_mb:.0f} MB photo, load {load()}", flush=True)
            large = noise_png(args.large_mb)
            large_path = base / "large.png"
            large_path.write_bytes(large)
            through_svc = large_transfers(
                svc.address,
                large_path,
                args.large_runs,
                timeout,
                block,
                lambda i: play_the_worker(svc.storage, i, large),
            )
            alone = large_transfers(bare.address, large_path, args.large_runs, timeout, block, lambda i: None)
            socket_copy(large)
            copy = median([socket_copy(large) for _ in range(5)])
            plain = median([write_fsync(large, svc.storage) for _ in range(5)])
            size = len(large) / MB
            slower = max(copy, plain)
            which = "socket copy" if copy >= plain else "write+fsync"
            notes.append(
                f"{size:.1f} MB: socket copy {size / copy:.0f} MB/s, write+fsync {size / plain:.0f} MB/s "
                f"(medians of 5); transfers: medians of {args.large_runs} after a warm-up"
            )
            for name, seconds, target in (
                ("Svc", through_svc, ">= 0.5"),
                ("bare server (the client alone)", alone, "(for information)"),
            ):
                up, memory, file = (size / seconds[kind] for kind in ("upload", "memory", "file"))
                row(
                    table,
                    f"upload {size:.0f} MB, {name}",
                    f"{up:.0f} MB/s",
                    f"{size / slower:.0f} MB/s ({which})",
                    f"{up * slower / size:.3f}",
                    target,
                )
                row(
                    table,
                    f"download {size:.0f} MB into memory, {name}",
                    f"{memory:.0f} MB/s",
                    f"{size / copy:.0f} MB/s (socket copy)",
                    f"{memory * copy / size:.3f}",
                    target,
                )
                row(
                    table,
                    f"download {size:.0f} MB to a file, {name}",
                    f"{file:.0f} MB/s",
                    f"{size / slower:.0f} MB/s ({which})",
                    f"{file * slower / size:.3f}",
                    "(for information)",
                )

        # 4: memory of a fresh Svc during a big upload, and of a fresh bare server (gRPC's own share).
        print(f"4. peak RSS during a {args.big_mb:.0f} MB upload, load {load()}", flush=True)
        big_path = base / "big.png"
        big_path.write_bytes(noise_png(args.big_mb))
        for kind in ("svc", "bare"):
            growth, note = rss_growth(kind, base, args, small, big_path, block, timeout)
            notes.append(f"RSS of the {kind} server: {note}")
            row(
                table,
                f"{'Svc' if kind == 'svc' else 'bare server'} RSS growth, {big_path.stat().st_size / MB:.0f} MB upload",
                f"{growth / 2**20:.1f} MiB",
                f"block {block / 1024:.0f} KiB",
                f"{growth / block:.1f} blocks",
                "<= 4 blocks + small" if kind == "svc" else "(gRPC's own share)",
            )

        # 3: waiters, on a fresh Svc, last (a Svc that cannot hold them is stopped the hard way).
        print(f"3. {args.waiters} waiters, {args.probes} probe rounds, load {load()}", flush=True)
        ended: list[str] = []
        with served("svc", base, args, ended) as svc:
            result = asyncio.run(waiters_phase(svc.address, small_requests, args))
        quiet_up, quiet_status, quiet_failed = result["quiet"]
        loaded_up, loaded_status, loaded_failed = result["loaded"]
        for kind, quiet_values, loaded_values in (
            ("upload", quiet_up, loaded_up),
            ("status", quiet_status, loaded_status),
        ):
            late = sum(n for (call, _), n in loaded_failed.items() if call == kind)
            quiet_p99 = percentile(quiet_values, 99)
            if late:
                value = f"> {args.probe_timeout:.0f} s ({late} failed, {len(loaded_values)} answered)"
                ratio = f"> {args.probe_timeout / quiet_p99:.0f}x" if quiet_values else "n/a"
            else:
                value = p99_text(loaded_values)
                ratio = f"{percentile(loaded_values, 99) / quiet_p99:.2f}x" if loaded_values and quiet_values else "n/a"
            name = "an upload" if kind == "upload" else "a plain Status"
            row(
                table,
                f"p99 of {name}, {args.waiters} waiters",
                value,
                f"{p99_text(quiet_values)} without",
                ratio,
                "<= 2x",
            )
        ready, connections = result["connections"]
        print(f"  waiters: {dict(result['outcomes'])}; connections ready {ready}/{connections}")
        print(
            f"  probes: {result['probing']:.1f} s with waiters; failures without waiters {dict(quiet_failed)}, "
            f"with waiters {dict(loaded_failed)} (deadline {args.probe_timeout:.0f} s each, "
            f"probing stops after {GIVE_UP_AFTER})"
        )
        print(f"  the waiters' Svc: {ended[0] if ended else '?'}")

    print()
    print(f"load average at end: {load()}")
    print_table(table)
    for note in notes:
        print(f"  {note}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent uploading clients")
    parser.add_argument("--uploads", type=int, default=8, help="timed uploads per client (after one warm-up)")
    parser.add_argument("--photo-mb", type=float, default=1.0, help="size of the concurrent uploads' photo")
    parser.add_argument("--large-mb", type=float, default=20.0, help="the single large upload and download")
    parser.add_argument("--large-runs", type=int, default=3)
    parser.add_argument("--big-mb", type=float, default=50.0, help="the upload whose peak RSS is measured")
    parser.add_argument("--block-kib", type=int, default=BLOCK_SIZE // 1024, help="block size the client sends")
    parser.add_argument("--waiters", type=int, default=1000)
    parser.add_argument("--waiters-per-connection", type=int, default=100)
    parser.add_argument("--waiter-ms", type=int, default=60_000, help="wait_ms of each waiter")
    parser.add_argument("--probes", type=int, default=100, help="rounds of one upload and one Status")
    parser.add_argument("--probe-timeout", type=float, default=10.0, help="deadline of each probe, in seconds")
    parser.add_argument("--transfer-timeout", type=float, default=300.0, help="deadline of each other upload")
    parser.add_argument("--group", choices=["spread", "memory"], default="spread")
    parser.add_argument("--dir", default=None, help="where the temporary directories go (the disk measured)")
    parser.add_argument("--serve", choices=["svc", "bare"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    exit_on_sigterm()
    if args.serve == "svc":
        from cli import logs

        logs.configure("error", json_output=True)
        serve_svc(args.data, args.group)
    elif args.serve == "bare":
        asyncio.run(serve_bare(args.data, args.block_kib * 1024))
    else:
        run(args)


if __name__ == "__main__":
    main()
