"""The client's transfers: uploads stream the photo from disk in blocks, downloads stream into a temporary file
that becomes the target only when whole, so a download that fails or is interrupted leaves nothing behind.

Most tests talk to a scripted Svc (``ScriptedSvc``: a real gRPC server in this process that records what
arrives and serves a download that can stop or stall midway); the 50 MB round trip goes through the embedded
cluster with no workers, the test playing the worker (it writes the marks and report the Svc then serves).
"""

from __future__ import annotations

import filecmp
import io
import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from PIL import Image
from rich.console import Console

from cli import output
from cli.client_commands import download
from cli.roles.embedded import EmbeddedCluster, EmbeddedConfig
from gateways.rpc.client import IncompleteDownload, PhotoClient
from protos import photos_pb2, photos_pb2_grpc
from storage import layout
from storage.fs import FsStorage
from tests.polling import eventually
from tests.processes import wait_gone

ROOT = Path(__file__).resolve().parents[2]
PHOTO_ID = "ab" * 16
BLOCK = 64 * 1024
EXIT_WITHIN = 30.0  # a failure bound for "the client exited", not a measured time


def noise_png(path: Path, side: int) -> Path:
    """An incompressible PNG of about 3 * side**2 bytes (stored uncompressed, so it is quick to make)."""
    Image.frombytes("RGB", (side, side), os.urandom(side * side * 3)).save(path, "PNG", compress_level=0)
    return path


class ScriptedSvc(photos_pb2_grpc.PhotoServiceServicer):
    """Records uploads; serves ``photo`` on Download, announcing its whole size but sending only ``send``
    bytes of it, then ending cleanly (``end="short"``), failing (``end="abort"``) or stalling until
    ``release`` is set (``end="stall"``)."""

    def __init__(self) -> None:
        self.headers: list[photos_pb2.UploadHeader] = []
        self.blocks: list[bytes] = []
        self.photo = b""
        self.send: int | None = None
        self.end = "short"
        self.release = threading.Event()

    def Upload(self, request_iterator, context):  # noqa: N802 - gRPC's name
        for request in request_iterator:
            if request.WhichOneof("part") == "header":
                self.headers.append(request.header)
            else:
                self.blocks.append(request.block)
        return photos_pb2.UploadReply(id=PHOTO_ID, size=sum(len(b) for b in self.blocks))

    def Download(self, request, context):  # noqa: N802
        size = len(self.photo)
        yield photos_pb2.DownloadReply(status=photos_pb2.DownloadStatus(state=photos_pb2.READY, size=size))
        sent = size if self.send is None else self.send
        for offset in range(0, sent, BLOCK):
            yield photos_pb2.DownloadReply(block=self.photo[offset : min(offset + BLOCK, sent)])
        if self.send is None:
            return
        if self.end == "abort":
            context.abort(grpc.StatusCode.UNAVAILABLE, "the Svc is stopping")
        if self.end == "stall":
            self.release.wait(60)


@pytest.fixture
def scripted() -> Iterator[tuple[ScriptedSvc, str]]:
    service = ScriptedSvc()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    photos_pb2_grpc.add_PhotoServiceServicer_to_server(service, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    yield service, f"127.0.0.1:{port}"
    service.release.set()
    server.stop(grace=None)


@pytest.fixture
def client(scripted) -> Iterator[PhotoClient]:
    photo_client = PhotoClient(scripted[1], timeout=30)
    yield photo_client
    photo_client.close()


def left_in(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def test_an_upload_streams_the_file_in_blocks_and_announces_its_size(scripted, client, tmp_path):
    service, _ = scripted
    photo = tmp_path / "page.png"
    photo.write_bytes(os.urandom(1_000_003))
    moved = []

    assert client.upload_file(photo, ["alpha"], progress=moved.append, block_size=BLOCK) == PHOTO_ID

    [header] = service.headers
    assert (header.filename, list(header.keywords), header.content_type, header.size) == (
        "page.png",
        ["alpha"],
        "image/png",
        1_000_003,
    )
    assert max(len(block) for block in service.blocks) == BLOCK
    assert b"".join(service.blocks) == photo.read_bytes()
    assert moved == [len(block) for block in service.blocks]


def test_a_file_that_cannot_be_read_fails_with_the_reason_of_this_side(client, tmp_path):
    with pytest.raises(FileNotFoundError):
        client.upload_file(tmp_path / "missing.png", ["alpha"])


def test_a_download_streams_into_the_target_and_leaves_no_temporary_file(scripted, client, tmp_path):
    service, _ = scripted
    service.photo = os.urandom(5 * BLOCK + 17)
    sizes, moved = [], []

    result = client.download_to(PHOTO_ID, tmp_path / "out.png", on_size=sizes.append, progress=moved.append)

    assert (result.state, result.size) == ("READY", len(service.photo))
    assert (tmp_path / "out.png").read_bytes() == service.photo
    assert sizes == [len(service.photo)] and sum(moved) == len(service.photo)
    assert left_in(tmp_path) == ["out.png"]


def test_a_download_interrupted_mid_stream_leaves_no_partial_file_and_the_old_target_as_it_was(
    scripted, client, tmp_path
):
    service, _ = scripted
    service.photo = os.urandom(8 * BLOCK)
    target = tmp_path / "out.png"
    target.write_bytes(b"the previous marks")

    def ctrl_c(moved: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        client.download_to(PHOTO_ID, target, progress=ctrl_c)

    assert left_in(tmp_path) == ["out.png"]
    assert target.read_bytes() == b"the previous marks"


@pytest.mark.parametrize("end", ["short", "abort"])
def test_a_download_the_svc_ends_early_leaves_no_partial_file(scripted, client, tmp_path, end):
    service, _ = scripted
    service.photo, service.send, service.end = os.urandom(8 * BLOCK), 3 * BLOCK, end

    with pytest.raises(IncompleteDownload if end == "short" else grpc.RpcError):
        client.download_to(PHOTO_ID, tmp_path / "out.png")

    assert left_in(tmp_path) == []


def test_the_download_command_cut_off_says_why_and_writes_nothing(scripted, tmp_path):
    service, address = scripted
    service.photo, service.send, service.end = os.urandom(8 * BLOCK), 3 * BLOCK, "abort"
    target = tmp_path / "out.png"

    result = CliRunner().invoke(download, [PHOTO_ID, "-o", str(target), "--svc", address])

    assert result.exit_code == output.EXIT_UNAVAILABLE, result.output
    assert "the Svc is stopping" in result.output
    assert left_in(tmp_path) == []


def test_the_progress_bar_shows_only_on_a_terminal_and_for_a_large_transfer():
    def shown(terminal: bool, total: int) -> str:
        screen = io.StringIO()
        on = Console(file=screen, force_terminal=terminal, width=100)
        with output.transfer("uploading page.png", on=on, minimum=4096) as meter:
            meter.expect(total)
            meter(total)
        return screen.getvalue()

    assert "uploading page.png" in shown(terminal=True, total=4096)
    assert shown(terminal=True, total=4095) == ""
    assert shown(terminal=False, total=1 << 20) == ""


@pytest.mark.e2e
def test_ctrl_c_during_photomark_download_leaves_no_partial_file(scripted, tmp_path):
    service, address = scripted
    service.photo, service.send, service.end = os.urandom(8 * BLOCK), 3 * BLOCK, "stall"
    work = tmp_path / "work"
    work.mkdir()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "download", PHOTO_ID, "-o", "out.png", "--svc", address],
        cwd=work,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(tmp_path)},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        eventually(lambda: any(work.glob(".out.png.*.part")), what="the download to be under way")
        process.send_signal(signal.SIGINT)
        assert wait_gone(process.pid, EXIT_WITHIN), "photomark download ran on after Ctrl-C"
        assert process.wait() != 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()

    assert left_in(work) == []


@pytest.fixture
def cluster(tmp_path) -> Iterator[EmbeddedCluster]:
    """One Svc and no workers: uploads stay PROCESSING until the test writes their marks."""
    with EmbeddedCluster(EmbeddedConfig(data_dir=tmp_path / "data", workers=0, group="memory")) as running:
        yield running


@pytest.mark.e2e
def test_a_50_mb_photo_goes_up_and_comes_back_byte_for_byte(cluster, tmp_path):
    photo = noise_png(tmp_path / "big.png", side=4082)  # 49.99 MB: under the Svc's 50 MiB limit
    assert photo.stat().st_size > 49_900_000
    client = PhotoClient(cluster.svc_address, timeout=300)
    try:
        photo_id = client.upload_file(photo, ["alpha"])
        storage = FsStorage(tmp_path / "data")
        assert filecmp.cmp(photo, storage.path(layout.photo_path(photo_id, "png")), shallow=False)

        # The worker's part: the marks (here the photo itself, to compare) and the report make it READY.
        storage.write(layout.marks_path(photo_id), photo.read_bytes())
        storage.write(layout.report_path(photo_id), json.dumps({"filename": "big.png", "keywords": {}}).encode())
        result = client.download_to(photo_id, tmp_path / "back.png")
    finally:
        client.close()

    assert (result.state, result.size) == ("READY", photo.stat().st_size)
    assert filecmp.cmp(photo, tmp_path / "back.png", shallow=False)
    assert not list(tmp_path.glob(".back.png.*"))
