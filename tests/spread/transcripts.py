"""The recorded Spread 4.4.0 wire transcripts (tests/data/spread/*.json), as test data.

Where they come from, their format and which bytes vary between runs:
tests/data/spread/README.md.  PHOTOMARK_SPREAD_TRANSCRIPTS may point at
another directory of transcripts in the same format.

Each frame is classified by its place in its connection: c2d 0 = connect
request, c2d 1 = auth choice, d2c 0 = auth list (or a reject byte), d2c 1 =
accept, every later frame a message frame.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TRANSCRIPT_DIR = Path(os.environ.get("PHOTOMARK_SPREAD_TRANSCRIPTS", ROOT / "tests" / "data" / "spread"))

CONNECT, AUTH_LIST, AUTH_CHOICE, ACCEPT, REJECT, MESSAGE = (
    "connect",
    "auth_list",
    "auth_choice",
    "accept",
    "reject",
    "message",
)


@dataclass(frozen=True)
class Frame:
    file: str
    i: int
    conn: str
    dir: str
    kind: str
    data: bytes
    fields: dict = field(compare=False, repr=False)
    dont_care: tuple[tuple[int, int], ...] = ()
    golden: bool = True
    note: str = ""

    @property
    def id(self) -> str:
        return f"{self.file}#{self.i}:{self.conn}:{self.dir}:{self.kind}"


def transcript_files() -> list[Path]:
    files = sorted(TRANSCRIPT_DIR.glob("*.json"))
    if not files:
        raise FileNotFoundError(f"no Spread wire transcripts in {TRANSCRIPT_DIR} (set PHOTOMARK_SPREAD_TRANSCRIPTS)")
    return files


@cache
def load(name: str) -> dict:
    return json.loads((TRANSCRIPT_DIR / name).read_text())


@cache
def frames(name: str) -> tuple[Frame, ...]:
    doc = load(name)
    seen: dict[tuple[str, str], int] = {}
    out = []
    for f in doc["frames"]:
        key = (f["conn"], f["dir"])
        n = seen.get(key, 0)
        seen[key] = n + 1
        data = bytes.fromhex(f["hex"])
        assert len(data) == f["len"], f"{name} frame {f['i']}: len {f['len']} but {len(data)} bytes"
        if f["dir"] == "c2d":
            kind = CONNECT if n == 0 else AUTH_CHOICE if n == 1 else MESSAGE
        elif n == 0:
            kind = REJECT if len(data) == 1 and data[0] >= 0x80 else AUTH_LIST
        else:
            kind = ACCEPT if n == 1 else MESSAGE
        out.append(
            Frame(
                name,
                f["i"],
                f["conn"],
                f["dir"],
                kind,
                data,
                f.get("fields", {}),
                tuple(tuple(r) for r in f.get("dont_care", ())),
                f.get("golden", True),
                f.get("note", ""),
            )
        )
    return tuple(out)


def all_frames() -> list[Frame]:
    return [fr for path in transcript_files() for fr in frames(path.name)]


def conn_frames(name: str, conn: str, direction: str | None = None) -> list[Frame]:
    return [f for f in frames(name) if f.conn == conn and (direction is None or f.dir == direction)]


def masked(data: bytes, ranges) -> bytes:
    out = bytearray(data)
    for start, end in ranges:
        out[start:end] = bytes(end - start)
    return bytes(out)


MEMB_TIME = slice(4, 8)  # inside a group id: the part that varies between runs
