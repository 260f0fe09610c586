"""The lab deployment as processes: Register, Svcs and workers over RabbitMQ and Spread."""

from __future__ import annotations

import json
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pika
import pytest

from gateways.rpc.client import STATE_NAMES, PhotoClient, RegisterClient
from storage import layout
from tests.cluster.photos import page_with
from tests.polling import eventually as until

pytestmark = pytest.mark.integration


def upload_and_wait(register_address: str, data: bytes, keywords: list[str], timeout: float = 240) -> dict:
    client = PhotoClient.via_register(register_address, wait=30)
    try:
        photo_id = client.upload(data, keywords, filename="page.png")
        reply = client.wait(photo_id, timeout)
        return {
            "id": photo_id,
            "state": STATE_NAMES[reply.state],
            "message": reply.message,
            "counts": {c.keyword: c.count for c in reply.counts},
        }
    finally:
        client.close()


def test_fifty_photos_from_several_clients_all_come_back_marked(lab, storage_dir):
    register = lab.start_register()
    lab.start_svc()
    lab.start_svc()
    for _ in range(3):
        lab.start_worker()
    photos = [(page_with("photomark", 1 + i % 3, seed=i), 1 + i % 3) for i in range(50)]

    with ThreadPoolExecutor(max_workers=6) as clients:
        results = list(clients.map(lambda p: upload_and_wait(register.address, p[0], ["photomark", "absent"]), photos))

    assert [r["state"] for r in results] == ["READY"] * 50, [r for r in results if r["state"] != "READY"]
    assert [r["counts"] for r in results] == [{"photomark": n, "absent": 0} for _, n in photos]
    for result in results:
        assert (storage_dir / layout.marks_path(result["id"])).stat().st_size > 0
    assert len({r["id"] for r in results}) == 50
    svcs = RegisterClient(register.address).list_svcs()
    assert len(svcs) == 2


def runs_tesseract(worker_pid: int) -> bool:
    """Whether the worker has a tesseract child right now: it is then in the middle of OCR, its job unacked."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
            name = text.split("(", 1)[1].rsplit(")", 1)[0]
            fields = text.rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if name == "tesseract" and int(fields[1]) == worker_pid:
            return True
    return False


def wait_for_ocr(worker_pid: int, timeout: float = 60) -> None:
    until(lambda: runs_tesseract(worker_pid), timeout, "the worker to start tesseract", interval=0.02)


def test_a_worker_killed_in_the_middle_of_ocr_has_its_job_marked_once_by_another(lab, storage_dir, rabbitmq):
    register = lab.start_register()
    lab.start_svc()
    doomed = lab.start_worker()
    client = PhotoClient.via_register(register.address, wait=30)
    photo_id = client.upload(page_with("photomark", 3, lines=60), ["photomark"], filename="long.png")
    wait_for_ocr(doomed.pid)
    assert client.status(photo_id).state == 2  # PROCESSING

    lab.kill(doomed, signal.SIGKILL)
    lab.start_worker()

    reply = client.wait(photo_id, 240)
    assert STATE_NAMES[reply.state] == "READY", reply.message
    assert [(c.keyword, c.count) for c in reply.counts] == [("photomark", 3)]
    report = json.loads((storage_dir / layout.report_path(photo_id)).read_text())
    assert report["keywords"]["photomark"]["count"] == 3
    leftovers = [p.name for p in (storage_dir / "photos").iterdir() if p.name.startswith(".")]
    assert leftovers == []  # the killed worker's half-written temporary files are not visible results
    client.close()


def test_every_upload_answered_during_a_rabbitmq_restart_ends_ready(lab, rabbitmq):
    register = lab.start_register()
    lab.start_svc()
    lab.start_worker()
    lab.start_worker()
    answered, lock = [], threading.Lock()
    stop = threading.Event()

    def keep_uploading(seed: int) -> None:
        client = PhotoClient.via_register(register.address, wait=30, timeout=90)
        n = 0
        while not stop.is_set():
            n += 1
            try:
                photo_id = client.upload(page_with("photomark", 1, seed=seed + n), ["photomark"])
            except grpc.RpcError:
                continue  # not answered with an id: the client knows it must retry
            with lock:
                answered.append(photo_id)
        client.close()

    def count() -> int:
        with lock:
            return len(answered)

    threads = [threading.Thread(target=keep_uploading, args=(seed,)) for seed in (0, 100)]
    for thread in threads:
        thread.start()
    try:
        until(lambda: count() >= 2, 120, "uploads answered before the restart")
        rabbitmq.restart()
        after_restart = count()  # what was answered before the broker was back
        until(lambda: count() >= after_restart + 2, 120, "uploads answered after the restart")
    finally:
        stop.set()
        for thread in threads:
            thread.join(120)

    assert len(answered) >= 4
    client = PhotoClient.via_register(register.address, wait=30)
    states = {photo_id: STATE_NAMES[client.wait(photo_id, 240).state] for photo_id in answered}
    assert set(states.values()) == {"READY"}, states
    client.close()


def test_a_poison_job_lands_in_the_dead_letter_queue_and_reads_failed(lab, rabbitmq, storage_dir):
    register = lab.start_register()
    lab.start_svc()
    lab.start_worker()
    client = PhotoClient.via_register(register.address, wait=30)
    # A real upload first, so the exchange and queues exist and the Svc knows the id.
    photo_id = client.upload(page_with("photomark", 1), ["photomark"])
    assert STATE_NAMES[client.wait(photo_id, 120).state] == "READY"
    poison_id = layout.new_id()
    (storage_dir / layout.photo_path(poison_id, "png")).write_bytes(b"not an image at all")
    connection = pika.BlockingConnection(pika.URLParameters(rabbitmq.url))
    channel = connection.channel()
    channel.basic_publish(
        "photomark",
        "photomark.jobs",
        json.dumps(
            {
                "v": 1,
                "id": poison_id,
                "photo": layout.photo_path(poison_id, "png"),
                "keywords": ["x"],
                "filename": "p.png",
                "submitted_at": 0,
            }
        ).encode(),
        pika.BasicProperties(delivery_mode=2),
    )
    channel.basic_publish("photomark", "photomark.jobs", b"{garbage", pika.BasicProperties(delivery_mode=2))

    until(
        lambda: channel.queue_declare("photomark.jobs.dead", passive=True).method.message_count >= 2,
        60,
        "the poison jobs to reach the dead-letter queue",
        interval=0.2,
    )
    connection.close()
    reply = client.wait(poison_id, 30)
    assert STATE_NAMES[reply.state] == "FAILED"
    assert "cannot be marked" in reply.message
    assert STATE_NAMES[client.status(photo_id).state] == "READY"
    client.close()


BAD = [
    (b"plain text", ["photomark"], grpc.StatusCode.INVALID_ARGUMENT),
    (b"", ["photomark"], grpc.StatusCode.INVALID_ARGUMENT),
    (page_with("photomark", 1)[:2000], ["photomark"], grpc.StatusCode.INVALID_ARGUMENT),
    (page_with("photomark", 1), [], grpc.StatusCode.INVALID_ARGUMENT),
    (page_with("photomark", 1), ["k"] * 50 + [f"k{i}" for i in range(51)], grpc.StatusCode.INVALID_ARGUMENT),
    (page_with("photomark", 1), ["x" * 101], grpc.StatusCode.INVALID_ARGUMENT),
    (b"\x89PNG" + bytes(2 * 1024 * 1024), ["photomark"], grpc.StatusCode.RESOURCE_EXHAUSTED),
]


def test_bad_input_through_the_processes_gets_clear_errors_and_writes_nothing(lab, storage_dir):
    register = lab.start_register()
    lab.start_svc("--max-upload-mb", "1")
    lab.start_worker()
    client = PhotoClient.via_register(register.address, wait=30)
    for data, keywords, code in BAD:
        with pytest.raises(grpc.RpcError) as error:
            client.upload(data, keywords)
        assert error.value.code() == code, error.value.details()
    for bad_id, code in (
        ("../../etc/passwd", grpc.StatusCode.INVALID_ARGUMENT),
        (layout.new_id(), grpc.StatusCode.NOT_FOUND),
    ):
        with pytest.raises(grpc.RpcError) as error:
            client.status(bad_id)
        assert error.value.code() == code
    assert not (storage_dir / "photos").exists() or list((storage_dir / "photos").iterdir()) == []
    assert STATE_NAMES[client.wait(client.upload(page_with("photomark", 2), ["photomark"]), 120).state] == "READY"
    client.close()


def test_uploads_and_downloads_go_on_with_a_gluster_brick_killed_and_the_volume_heals(lab, gluster_volume, storage_dir):
    register = lab.start_register()
    lab.start_svc()
    lab.start_worker()
    lab.start_worker()
    client = PhotoClient.via_register(register.address, wait=30)
    before = [client.upload(page_with("photomark", 1, seed=i), ["photomark"]) for i in range(3)]
    assert {STATE_NAMES[client.wait(i, 120).state] for i in before} == {"READY"}

    gluster_volume.kill_brick(0)
    try:
        during = [client.upload(page_with("photomark", 2, seed=10 + i), ["photomark"]) for i in range(6)]
        assert {STATE_NAMES[client.wait(i, 120).state] for i in during} == {"READY"}
        for photo_id in before + during:
            result = client.download(photo_id)
            assert result.state == "READY"
            assert result.data == (storage_dir / layout.marks_path(photo_id)).read_bytes()
    finally:
        gluster_volume.restart_bricks()
    gluster_volume.wait_healed(60)

    assert gluster_volume.heal_info_pending() == 0
    relative = storage_dir.relative_to(gluster_volume.mount_path)
    for brick in gluster_volume.brick_paths:
        for photo_id in during:
            assert (Path(brick) / relative / layout.report_path(photo_id)).exists(), (brick, photo_id)
    client.close()
