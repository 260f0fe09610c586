"""The job message a Svc publishes and a worker consumes (docs/architecture.md, RabbitMQ).

{"v": 1, "id", "photo": "photos/<id>.png", "keywords": [...], "filename", "submitted_at"}
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from storage import layout

VERSION = 1


class PoisonJob(ValueError):
    """A message that is not a job this version understands: it is dead-lettered, never retried."""


@dataclass(frozen=True)
class Job:
    id: str
    photo: str
    keywords: tuple[str, ...]
    filename: str
    submitted_at: float

    def encode(self) -> bytes:
        return json.dumps(self.as_dict(), ensure_ascii=False, separators=(",", ":")).encode()

    def as_dict(self) -> dict:
        # Spelled out: ``dataclasses.asdict`` deep-copies every field, and this runs several times per upload.
        return {
            "v": VERSION,
            "id": self.id,
            "photo": self.photo,
            "keywords": list(self.keywords),
            "filename": self.filename,
            "submitted_at": self.submitted_at,
        }


def decode(body: bytes) -> Job:
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise PoisonJob(f"job is not JSON: {error}") from None
    if not isinstance(data, dict):
        raise PoisonJob("job is not a JSON object")
    return job_from_dict(data)


def job_from_dict(data: dict) -> Job:
    """The job in a decoded JSON object; raises ``PoisonJob`` for anything else."""
    if isinstance(data.get("v"), bool) or data.get("v") != VERSION:  # a JSON true is not version 1
        raise PoisonJob(f"unknown job version {data.get('v')!r}")
    try:
        photo_id = layout.check_id(data["id"])
        photo, keywords = data["photo"], data["keywords"]
        filename, submitted_at = data.get("filename", ""), data.get("submitted_at", 0.0)
    except (KeyError, layout.InvalidId) as error:
        raise PoisonJob(f"job lacks a valid field: {error}") from None
    if not isinstance(photo, str) or not photo.startswith(f"photos/{photo_id}."):
        raise PoisonJob(f"job photo {photo!r} does not belong to id {photo_id}")
    if not isinstance(keywords, list) or not keywords or not all(isinstance(k, str) and k for k in keywords):
        raise PoisonJob("job keywords must be a non-empty list of strings")
    if not isinstance(filename, str):
        raise PoisonJob(f"job filename must be a string, not {type(filename).__name__}")
    if isinstance(submitted_at, bool) or not isinstance(submitted_at, (int, float)) or not math.isfinite(submitted_at):
        raise PoisonJob(f"job submitted_at must be a finite number, not {submitted_at!r}")
    return Job(photo_id, photo, tuple(keywords), filename, float(submitted_at))


def job_id_of(body: bytes) -> str | None:
    """The id of a message, if it has a readable one, so a poison job can still be reported."""
    try:
        return layout.check_id(json.loads(body)["id"])
    except Exception:  # noqa: BLE001 - a poison body can fail in any way
        return None
