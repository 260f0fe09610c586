"""What the embedded cluster costs on top of the marking itself.

For the same photos in the same run: the time per photo through the embedded
cluster (upload through gRPC, queue, worker, download) divided by the time of the
bare marking (OCR plus drawing, ``mark_photo`` called directly).  The bare run is
measured before and after the cluster run and averaged, since the machine is shared.
Target: 1.10 or less.

    .venv/bin/python bench/overhead.py [--photos N] [--eval-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from cli import logs  # noqa: E402
from cli.roles.embedded import EmbeddedCluster, EmbeddedConfig  # noqa: E402
from gateways.rpc.client import PhotoClient  # noqa: E402
from marking import mark_photo  # noqa: E402


def load_cases(eval_dir: Path, count: int) -> list[tuple[str, bytes, list[str]]]:
    cases = [json.loads(line) for line in (eval_dir / "dev" / "cases.jsonl").read_text().splitlines() if line]
    return [(c["image"], (eval_dir / "dev" / c["image"]).read_bytes(), c["keywords"]) for c in cases[:count]]


def bare(cases) -> list[float]:
    times = []
    for _, data, keywords in cases:
        started = time.perf_counter()
        mark_photo(data, keywords)
        times.append(time.perf_counter() - started)
    return times


def through_cluster(cases) -> list[float]:
    times = []
    with tempfile.TemporaryDirectory() as data_dir:
        # One worker: the bare run marks one photo at a time too.
        with EmbeddedCluster(EmbeddedConfig(data_dir=Path(data_dir), workers=1)) as cluster:
            client = PhotoClient.via_register(cluster.register_address, wait=30)
            for name, data, keywords in cases:
                started = time.perf_counter()
                photo_id = client.upload(data, keywords, filename=name)
                reply = client.wait(photo_id, 300)
                result = client.download(photo_id)
                times.append(time.perf_counter() - started)
                if result.state != "READY":
                    raise SystemExit(f"{name}: {result.state} {reply.message}")
            client.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=6, help="how many evaluation photos to use")
    parser.add_argument(
        "--eval-dir",
        type=Path,
        default=Path(os.environ.get("PHOTOMARK_EVAL_DIR", ROOT / "tests" / "data" / "eval")),
        help="the evaluation sets (default: $PHOTOMARK_EVAL_DIR or tests/data/eval)",
    )
    args = parser.parse_args()
    logs.configure("error", json_output=False)
    cases = load_cases(args.eval_dir, args.photos)
    bare(cases[:1])  # warm up Tesseract's files in the page cache
    before = bare(cases)
    cluster = through_cluster(cases)
    after = bare(cases)
    bare_per_photo = statistics.mean(before + after)
    cluster_per_photo = statistics.mean(cluster)
    print(f"photos: {len(cases)}")
    print(
        f"bare OCR + drawing : {bare_per_photo:.3f} s/photo (before {statistics.mean(before):.3f}, "
        f"after {statistics.mean(after):.3f})"
    )
    print(f"embedded cluster   : {cluster_per_photo:.3f} s/photo (upload to download)")
    print(f"ratio cluster/bare : {cluster_per_photo / bare_per_photo:.3f}  (target <= 1.10)")


if __name__ == "__main__":
    main()
