"""Regenerate the gRPC modules from the .proto files beside this one.

    python -m protos.generate            # write protos/*_pb2*.py(i)
    python -m protos.generate --into DIR # write them under DIR/protos/ instead (the drift test)

The generated modules import each other as ``protos.<name>_pb2``, so they are
generated from the repository root with ``protos/`` as part of each path.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import grpc_tools
from grpc_tools import protoc

PROTOS_DIR = Path(__file__).resolve().parent
ROOT = PROTOS_DIR.parent


def proto_files() -> list[Path]:
    return sorted(PROTOS_DIR.glob("*.proto"))


def generate(into: Path) -> None:
    (into / "protos").mkdir(parents=True, exist_ok=True)
    well_known = Path(grpc_tools.__file__).parent / "_proto"
    for proto in proto_files():
        args = [
            "grpc_tools.protoc",
            f"-I{ROOT}",
            f"-I{well_known}",
            f"--python_out={into}",
            f"--pyi_out={into}",
            f"--grpc_python_out={into}",
            str(proto.relative_to(ROOT)),
        ]
        if protoc.main(args) != 0:
            raise SystemExit(f"protoc failed on {proto}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--into", type=Path, default=ROOT, help="root to write protos/ under")
    args = parser.parse_args(argv)
    generate(args.into)


if __name__ == "__main__":
    main(sys.argv[1:])
