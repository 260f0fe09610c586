"""Photos per second through the real deployment, and upload/download MB/s of a large photo.

All in one run, against baselines measured in the same run:

* direct: the same photos marked in this process with ``mark_photo``, one at a
  time, while the idle deployment is up;
* the deployment as real processes (``tests.cluster.lab.Lab``): a private
  RabbitMQ, ``photomark spread-daemon``, 1 Register, 1 Svc
  (``--max-upload-mb 64``), storage in a temporary directory, and 1 then 2
  workers with ``--concurrency 1``.  4 client threads upload the photos (each
  takes the next photo and uploads it, then waits for its ids to be READY); the
  rate is photos / (first upload .. last READY).  A warm-up photo per worker
  goes through first.  Every count is checked against the known answer.
  Printed: 1 worker / direct (target >= 0.90) and 2 workers / 1 worker (target
  >= 1.8 on 2 cores).  The three are measured in ABBA order (direct, 1 worker,
  2 workers, then 2 workers, 1 worker, direct: the second worker is started
  once and stopped once) and each rate is photos over the summed time of its two
  runs, so a drift of the shared machine's load hits all three alike; the load
  average is printed beside them.
* a ~20 MB photo (a 2600x2600 PNG of random noise, incompressible): upload MB/s
  (from the call until the id comes back; workers stopped meanwhile, so the
  uploads do not share the CPU with OCR) and download MB/s of the marked photo
  (~20 MB too; only the Download stream is timed, after the photo is READY),
  each the median of 3, against a plain socket copy of the same bytes over
  loopback (sendall to a thread that reads them all and answers one byte;
  median of 5).

    .venv/bin/python bench/throughput.py [--photos 20] [--lines 12] [--rounds 2] [--large-runs 3]
"""

from __future__ import annotations

import argparse
import io
import os
import signal
import socket
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.lab_servers import exit_on_sigterm, median, private_lab  # noqa: E402

KEYWORDS = ["photomark", "absent"]
CLIENTS = 4
MB = 1e6


def make_photos(count: int, lines: int) -> list[tuple[bytes, int]]:
    from tests.cluster.photos import page_with

    return [(page_with("photomark", 1 + i % 3, seed=i, lines=lines), 1 + i % 3) for i in range(count)]


def noise_png(side: int = 2600) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(buffer, "PNG", compress_level=1)
    return buffer.getvalue()


def direct(photos) -> float:
    """Seconds to mark every photo in this process, one at a time."""
    from marking import mark_photo

    started = time.perf_counter()
    for data, count in photos:
        result = mark_photo(data, KEYWORDS)
        if result.report["keywords"]["photomark"]["count"] != count:
            raise RuntimeError(f"direct marking found {result.report['keywords']['photomark']['count']}, not {count}")
    return time.perf_counter() - started


def through_lab(register_address: str, photos, clients: int = CLIENTS) -> float:
    """Seconds from the first upload to the last READY, ``clients`` threads uploading."""
    from gateways.rpc.client import STATE_NAMES, PhotoClient

    lock = threading.Lock()
    next_index = [0]
    errors: list[BaseException] = []
    last_ready = [0.0]

    def client() -> None:
        photo_client = PhotoClient.via_register(register_address, wait=30, timeout=120)
        mine = []
        try:
            while True:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= len(photos):
                    break
                data, count = photos[index]
                mine.append((photo_client.upload(data, KEYWORDS, filename=f"page{index}.png"), count))
            for photo_id, count in mine:
                reply = photo_client.wait(photo_id, 300)
                now = time.perf_counter()
                counts = {c.keyword: c.count for c in reply.counts}
                if STATE_NAMES[reply.state] != "READY" or counts != {"photomark": count, "absent": 0}:
                    raise RuntimeError(f"{photo_id}: {STATE_NAMES[reply.state]} {reply.message} {counts}")
                with lock:
                    last_ready[0] = max(last_ready[0], now)
        except BaseException as error:  # noqa: BLE001
            errors.append(error)
        finally:
            photo_client.close()

    threads = [threading.Thread(target=client, daemon=True) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return last_ready[0] - started


def socket_copy(data: bytes) -> float:
    """Seconds to copy ``data`` over loopback TCP: connect, sendall, the reader answers one byte when it has all."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def reader() -> None:
        conn, _ = listener.accept()
        with conn:
            buffer = bytearray(len(data))
            view = memoryview(buffer)
            got = 0
            while got < len(data):
                n = conn.recv_into(view[got:], min(1 << 20, len(data) - got))
                if n == 0:
                    raise OSError("the copy ended early")
                got += n
            conn.sendall(b"k")

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(data)
        if sock.recv(1) != b"k":
            raise OSError("no answer from the reader")
    took = time.perf_counter() - started
    thread.join()
    listener.close()
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=20)
    parser.add_argument("--lines", type=int, default=12, help="text lines per photo (more: longer OCR)")
    parser.add_argument("--large-runs", type=int, default=3, help="uploads and downloads of the ~20 MB photo")
    parser.add_argument(
        "--rounds",
        type=int,
        default=2,
        choices=(1, 2),
        help="1: direct, 1 worker, 2 workers; 2: then again in reverse order",
    )
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    exit_on_sigterm()

    from gateways.rpc.client import STATE_NAMES, PhotoClient
    from tests.cluster.photos import page_with

    photos = make_photos(args.photos, args.lines)
    warm = [(page_with("photomark", 2, seed=1000 + i, lines=args.lines), 2) for i in range(2)]
    with tempfile.TemporaryDirectory(prefix="bench-throughput-") as tmp, private_lab(Path(tmp)) as (_, lab):
        register = lab.start_register()
        lab.start_svc("--max-upload-mb", "64", "--retry-after", "3600")
        first = lab.start_worker(1)
        through_lab(register.address, warm[:1], clients=1)
        direct(warm[:1])  # warm up this process's imports and Tesseract's files
        load_before = os.getloadavg()

        # ABBA against drift: direct, 1 worker, 2 workers, then 2 workers, 1 worker, direct.
        times: dict[str, list[float]] = {"direct": [], "one": [], "two": []}
        second = None
        for order in (("direct", "one", "two"), ("two", "one", "direct"))[: max(1, args.rounds)]:
            for mode in order:
                if mode == "direct":
                    times[mode].append(direct(photos))
                    continue
                if mode == "two" and second is None:
                    second = lab.start_worker(1)
                    through_lab(register.address, warm, clients=2)
                if mode == "one" and second is not None:
                    lab.kill(second, signal.SIGTERM)  # the queue is empty: every photo was READY
                    second = None
                times[mode].append(through_lab(register.address, photos))
        if second is not None:
            lab.kill(second, signal.SIGTERM)
        workers = [first]
        load_after = os.getloadavg()

        n = len(photos)
        rate = {mode: n * len(t) / sum(t) for mode, t in times.items()}  # photos over the summed time
        each = {mode: ", ".join(f"{n / x:.3f}" for x in t) for mode, t in times.items()}
        direct_rate, one_rate, two_rate = rate["direct"], rate["one"], rate["two"]
        print(
            f"photos: {n} (900x{120 + 70 * args.lines} px, {args.lines} lines), {CLIENTS} client threads, "
            f"{len(times['direct'])} round(s)"
        )
        print(f"load average (1 min) before {load_before[0]:.2f}, after {load_after[0]:.2f} on {os.cpu_count()} cores")
        print(f"direct mark_photo : {direct_rate:.3f} photos/s (each run: {each['direct']})")
        print(
            f"1 worker          : {one_rate:.3f} photos/s (each run: {each['one']})  "
            f"ratio 1 worker/direct {one_rate / direct_rate:.3f}  (target >= 0.90)"
        )
        print(
            f"2 workers         : {two_rate:.3f} photos/s (each run: {each['two']})  "
            f"ratio 2 workers/1 worker {two_rate / one_rate:.3f}  (target >= 1.8 on 2 cores)",
            flush=True,
        )

        if args.skip_large:
            return
        big = noise_png()
        for worker in workers:  # the uploads alone on the CPU; the jobs wait in RabbitMQ
            lab.kill(worker, signal.SIGTERM)
        client = PhotoClient.via_register(register.address, wait=30, timeout=300)
        client.upload(big, ["photomark"], filename="warm.png")  # warm up the path (not timed)
        uploads, ids = [], []
        for i in range(args.large_runs):
            started = time.perf_counter()
            ids.append(client.upload(big, ["photomark"], filename=f"big{i}.png"))
            uploads.append(time.perf_counter() - started)
        lab.start_worker(1)
        lab.start_worker(1)
        for photo_id in ids:
            reply = client.wait(photo_id, 300)
            if STATE_NAMES[reply.state] != "READY":
                raise RuntimeError(f"the large photo {photo_id}: {STATE_NAMES[reply.state]} {reply.message}")
        for worker in lab.of("worker"):  # downloads alone on the CPU too
            lab.kill(worker, signal.SIGTERM)
        downloads, sizes = [], []
        for photo_id in ids:
            started = time.perf_counter()
            result = client.download(photo_id)
            downloads.append(time.perf_counter() - started)
            sizes.append(len(result.data))
        client.close()
        socket_copy(big)
        copies = [socket_copy(big) for _ in range(5)]

        up = len(big) / MB / median(uploads)
        down = median(sizes) / MB / median(downloads)
        copy = len(big) / MB / median(copies)
        print(f"large photo: {len(big) / MB:.1f} MB PNG upload, marked photo {median(sizes) / MB:.1f} MB download")
        print(f"socket copy over loopback : {copy:.0f} MB/s (median of 5)")
        print(
            f"upload (until the id)     : {up:.1f} MB/s (median of {len(uploads)}: "
            f"{', '.join(f'{t:.2f}' for t in uploads)} s)  ratio upload/copy {up / copy:.3f}"
        )
        print(
            f"download (stream only)    : {down:.1f} MB/s (median of {len(downloads)}: "
            f"{', '.join(f'{t:.2f}' for t in downloads)} s)  ratio download/copy {down / copy:.3f}"
        )


if __name__ == "__main__":
    main()
