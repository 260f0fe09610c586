"""The decode check's processes (``gateways/rpc/decoders.py``): whole checks, checks that follow a file
while it is written, and decoders that die or hang on a photo."""

from __future__ import annotations

import io
import os
import signal
import threading
from pathlib import Path

import pytest
from PIL import Image

from actors.upload_validation import DEFAULT_LIMITS, BadUpload, Limits, TooLarge
from gateways.rpc.decoders import Dead, Decoders

pytestmark = pytest.mark.timeout(120)


def png(size=(300, 200)) -> bytes:
    buffer = io.BytesIO()
    Image.frombytes("RGB", size, os.urandom(size[0] * size[1] * 3)).save(buffer, "PNG", compress_level=0)
    return buffer.getvalue()


@pytest.fixture
def decoders():
    started: list[Decoders] = []

    def start(**options) -> Decoders:
        made = Decoders(**{"processes": 2, **options})
        started.append(made)
        return made

    yield start
    for made in started:
        made.stop()


def pids(decoders: Decoders) -> set[int]:
    return {decoder.process.pid for decoder in decoders.all}


def test_a_whole_photo_is_checked_in_a_decoder_process(decoders, tmp_path):
    path = tmp_path / "p.png"
    path.write_bytes(png((300, 200)))
    assert decoders().check(str(path), DEFAULT_LIMITS) == ("png", 300, 200)


def test_a_refusal_comes_back_with_the_check_s_reason_and_kind(decoders, tmp_path):
    checks = decoders()
    cut, text = tmp_path / "cut.png", tmp_path / "text.png"
    cut.write_bytes(png()[:-5000])
    text.write_bytes(b"hello " * 1000)
    with pytest.raises(BadUpload, match="truncated"):
        checks.check(str(cut), DEFAULT_LIMITS)
    with pytest.raises(BadUpload, match="not an image"):
        checks.check(str(text), DEFAULT_LIMITS)
    big = tmp_path / "big.png"
    big.write_bytes(png((300, 200)))
    with pytest.raises(TooLarge):
        checks.check(str(big), Limits(max_pixels=1000))
    assert checks.check(str(big), DEFAULT_LIMITS) == ("png", 300, 200)  # no decoder was lost on the way


def test_a_decoder_killed_mid_check_refuses_that_photo_and_is_replaced(decoders, tmp_path):
    checks = decoders(processes=1)
    fifo = tmp_path / "blocks"
    os.mkfifo(fifo)  # opening it for reading blocks the decoder until someone writes
    outcome: list[BaseException] = []
    waiting = threading.Thread(target=lambda: _run(outcome, checks.check, str(fifo), DEFAULT_LIMITS))
    checks._start()
    (before,) = pids(checks)
    waiting.start()
    os.kill(before, signal.SIGKILL)
    waiting.join()
    assert isinstance(outcome[0], Dead) and "crashed" in str(outcome[0])
    photo = tmp_path / "p.png"
    photo.write_bytes(png((30, 20)))
    assert checks.check(str(photo), DEFAULT_LIMITS) == ("png", 30, 20)
    assert len(pids(checks)) == 1 and before not in pids(checks)


def test_a_check_that_hangs_is_ended_at_its_time_limit_and_its_decoder_replaced(decoders, tmp_path):
    checks = decoders(processes=1, check_timeout=0.5)
    fifo = tmp_path / "blocks"
    os.mkfifo(fifo)
    checks._start()
    (before,) = pids(checks)
    with pytest.raises(Dead, match="took over"):
        checks.check(str(fifo), DEFAULT_LIMITS)
    photo = tmp_path / "p.png"
    photo.write_bytes(png((30, 20)))
    assert checks.check(str(photo), DEFAULT_LIMITS) == ("png", 30, 20)
    assert before not in pids(checks)


def _run(outcome: list, function, *args) -> None:
    try:
        outcome.append(function(*args))
    except BaseException as error:  # noqa: BLE001 - the test looks at it
        outcome.append(error)


def grow(path: Path, data: bytes, parts: int, follower) -> None:
    """Writes ``data`` to ``path`` in ``parts`` pieces, telling ``follower`` after each, as an upload does."""
    step = -(-len(data) // parts)
    with open(path, "wb") as file:
        for offset in range(0, len(data), step):
            file.write(data[offset : offset + step])
            file.flush()
            follower.more(min(offset + step, len(data)))


def test_a_follower_decodes_the_file_as_it_grows_and_answers_as_a_whole_check_does(decoders, tmp_path):
    checks = decoders()
    data, path = png((400, 300)), tmp_path / "growing.png"
    path.write_bytes(b"")
    follower = checks.follow(str(path), DEFAULT_LIMITS)
    grow(path, data, 7, follower)
    assert follower.end(len(data)) == ("png", 400, 300) == checks.check(str(path), DEFAULT_LIMITS)
    assert checks.following == 0


def test_a_followed_photo_that_ends_short_is_refused(decoders, tmp_path):
    checks = decoders()
    data, path = png(), tmp_path / "short.png"
    path.write_bytes(b"")
    follower = checks.follow(str(path), DEFAULT_LIMITS)
    grow(path, data[: len(data) // 2], 3, follower)
    with pytest.raises(BadUpload, match="truncated|broken|not a decodable"):
        follower.end(len(data) // 2)
    assert checks.following == 0


def test_a_followed_photo_whose_bytes_are_all_there_before_the_end_still_waits_for_the_end(decoders, tmp_path):
    checks = decoders()
    data, path = png(), tmp_path / "p.png"
    path.write_bytes(data + b"trailing bytes")  # the decoder reads no further than it was told
    follower = checks.follow(str(path), DEFAULT_LIMITS)
    follower.more(len(data))
    assert follower.end(len(data) + len(b"trailing bytes"))[0] == "png"


def test_at_most_all_but_one_decoder_follow_so_a_whole_check_always_finds_one(decoders, tmp_path):
    checks = decoders(processes=2)
    path = tmp_path / "p.png"
    path.write_bytes(png((30, 20)))
    first = checks.follow(str(path), DEFAULT_LIMITS)
    assert first is not None
    assert checks.follow(str(path), DEFAULT_LIMITS) is None
    assert checks.check(str(path), DEFAULT_LIMITS) == ("png", 30, 20)  # while the first still follows
    assert first.end(path.stat().st_size) == ("png", 30, 20)
    assert checks.follow(str(path), DEFAULT_LIMITS) is not None


def test_an_abandoned_follower_frees_its_decoder(decoders, tmp_path):
    checks = decoders(processes=2)
    data, path = png(), tmp_path / "p.png"
    path.write_bytes(data[:1000])
    follower = checks.follow(str(path), DEFAULT_LIMITS)
    follower.more(1000)
    follower.abandon(1000)
    follower.abandon(1000)  # twice is no error
    assert checks.following == 0
    assert checks.follow(str(path), DEFAULT_LIMITS) is not None


def test_a_follower_whose_decoder_is_killed_refuses_the_photo_and_the_decoder_is_replaced(decoders, tmp_path):
    checks = decoders(processes=2)
    data, path = png(), tmp_path / "p.png"
    path.write_bytes(data[:1000])
    follower = checks.follow(str(path), DEFAULT_LIMITS)
    victim = follower.decoder.process
    victim.kill()
    victim.join()
    follower.more(1000)  # no error yet: the end says it
    with pytest.raises(Dead, match="crashed"):
        follower.end(1000)
    assert checks.following == 0 and victim.pid not in pids(checks) and len(pids(checks)) == 2
    path.write_bytes(data)
    assert checks.check(str(path), DEFAULT_LIMITS)[0] == "png"


def test_a_followed_file_that_cannot_be_opened_is_refused_and_the_decoder_stays_in_step(decoders, tmp_path):
    checks = decoders(processes=2)
    follower = checks.follow(str(tmp_path / "gone.png"), DEFAULT_LIMITS)
    follower.more(1000)
    follower.more(2000)
    with pytest.raises(BadUpload, match="FileNotFoundError"):
        follower.end(2000)
    photo = tmp_path / "p.png"
    photo.write_bytes(png((30, 20)))
    for _ in range(3):  # every decoder answers its own check, none a stale one
        assert checks.check(str(photo), DEFAULT_LIMITS) == ("png", 30, 20)
