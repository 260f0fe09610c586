"""The interactive shell, typed into through a pipe, against an embedded cluster."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from prompt_toolkit import PromptSession
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from cli.roles.embedded import EmbeddedCluster, EmbeddedConfig
from cli.shell import Shell, run

pytestmark = pytest.mark.e2e
FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")


@pytest.fixture
def cluster(tmp_path):
    with EmbeddedCluster(EmbeddedConfig(data_dir=tmp_path / "data", workers=1, group="memory")) as running:
        yield running


def page(path: Path) -> Path:
    font = ImageFont.truetype(str(FONT), 40) if FONT.exists() else ImageFont.load_default(size=40)
    image = Image.new("RGB", (700, 200), "white")
    ImageDraw.Draw(image).text((30, 60), "quick brown fox, quick", fill="black", font=font)
    image.save(path)
    return path


def test_a_session_uploads_waits_downloads_and_reports_errors(cluster, tmp_path):
    photo = page(tmp_path / "page.png")
    lines = [
        f"upload {photo} quick 'brown fox'",
        "status . 120",
        f"download . {tmp_path / 'out.png'}",
        "status 1234",
        "frobnicate",
        "svcs",
        "quit",
    ]
    screen = io.StringIO()
    with create_pipe_input() as keyboard:
        keyboard.send_text("\n".join(lines) + "\n")
        session = PromptSession(input=keyboard, output=DummyOutput())
        run(Shell(cluster.register_address, Console(file=screen, width=120)), session)

    text = screen.getvalue()
    assert "READY" in text
    assert "quick" in text and "brown fox" in text
    assert Image.open(tmp_path / "out.png").format == "PNG"
    assert "32 hex digits [INVALID_ARGUMENT]" in text  # a bad id is an error line, and the shell goes on
    assert "unknown command 'frobnicate'" in text
    assert cluster.svc_address in text  # svcs listed the one Svc
