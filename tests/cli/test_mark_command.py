"""``photomark mark`` end to end, as a user runs it: a subprocess with real OCR."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont

from store.table import ObjectTable

pytestmark = pytest.mark.e2e

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


def photomark(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli.main", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=180,
        env={
            "PATH": "/usr/bin:/bin",
            "PHOTOMARK_LOG_LEVEL": "warning",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
    )


@pytest.fixture
def page(tmp_path) -> Path:
    font = ImageFont.truetype(str(FONT), 36) if FONT.exists() else ImageFont.load_default(size=36)
    image = Image.new("RGB", (1000, 360), "white")
    draw = ImageDraw.Draw(image)
    for row, line in enumerate(["The quick brown fox jumps", "over the lazy dog, twice.", "Quick thinking wins."]):
        draw.text((40, 40 + row * 100), line, fill="black", font=font)
    path = tmp_path / "page.png"
    image.save(path)
    return path


@pytest.mark.parametrize("storage", ["fs", "replicated"])
def test_mark_writes_the_marked_photo_and_report_and_prints_counts(page, tmp_path, storage):
    result = photomark(
        "--log-level",
        "error",
        "mark",
        str(page),
        "-w",
        "quick",
        "-w",
        "lazy dog",
        "-w",
        "absent",
        "--report",
        str(tmp_path / "report.json"),
        "--data",
        str(tmp_path / "data"),
        "--storage",
        storage,
        cwd=tmp_path,
    )

    assert result.returncode == 0, result.stderr
    if storage == "replicated":  # the photo, its marks and its report: on two storage nodes, or still spooled
        table = ObjectTable(tmp_path / "data" / "store" / "objects.sqlite")
        stored = table.objects()
        table.close()
        # the Svc's pending-list checkpoint (state/pending.json) is there too when a checkpoint tick came
        assert {o.id for o in stored if not o.id.startswith("photos/")} <= {"state/pending.json"}, stored
        objects = [o for o in stored if o.id.startswith("photos/")]
        photo = objects[0].id.removesuffix(".png")
        assert [o.id for o in objects] == [f"{photo}.png", f"{photo}_marks.json", f"{photo}_marks.png"]
        for obj in objects:
            holders = {p.parents[2].name for p in (tmp_path / "data" / "store").glob(f"node-*/objects/{obj.id}")}
            assert len(holders) == 2 or (obj.spooled and len(holders) < 2), (obj, holders)
    marked = tmp_path / "page_marks.png"
    assert Image.open(marked).format == "PNG" and Image.open(marked).size == (1000, 360)
    report = json.loads((tmp_path / "report.json").read_text())
    assert {k: v["count"] for k, v in report["keywords"].items()} == {"quick": 2, "lazy dog": 1, "absent": 0}
    assert "quick" in result.stdout and "marked photo:" in result.stdout


def test_mark_refuses_a_file_that_is_not_an_image_and_writes_nothing(tmp_path):
    text = tmp_path / "notes.png"
    text.write_text("this is not a photo")

    result = photomark("mark", str(text), "-w", "word", "--data", str(tmp_path / "data"), cwd=tmp_path)

    assert result.returncode == 2
    assert "not an image" in result.stderr
    assert not (tmp_path / "notes_marks.png").exists()
    assert not list((tmp_path / "data").rglob("*.png"))


def test_every_command_explains_its_flags():
    root = Path(__file__).resolve().parents[2]
    listing = photomark("--help", cwd=root).stdout
    commands = (
        "mark",
        "up",
        "upload",
        "download",
        "status",
        "shell",
        "register",
        "svc",
        "worker",
        "spread-daemon",
        "store-manager",
        "store-node",
    )
    for command in commands:
        assert command in listing
        result = photomark(command, "--help", cwd=root)
        assert result.returncode == 0, result.stderr
        options = [line.split()[0] for line in result.stdout.splitlines() if line.strip().startswith("-")]
        assert options, result.stdout
        assert "PHOTOMARK_" in result.stdout or command == "shell", result.stdout
