"""The committed gRPC modules are what the .proto files generate (run `make protos` when this fails)."""

from __future__ import annotations

from pathlib import Path

from protos import generate

PROTOS = Path(generate.__file__).resolve().parent


def test_generated_modules_match_the_proto_files(tmp_path):
    generate.generate(tmp_path)
    fresh = sorted(p.name for p in (tmp_path / "protos").iterdir())
    assert fresh, "protoc generated nothing"
    for name in fresh:
        committed = PROTOS / name
        assert committed.exists(), f"{name} is not committed: run make protos"
        assert committed.read_text() == (tmp_path / "protos" / name).read_text(), (
            f"{name} drifted from its .proto: run make protos"
        )
