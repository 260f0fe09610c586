"""``cli.output.rpc_errors``: a gRPC error as one line and an exit code."""

from __future__ import annotations

import grpc
import pytest
from rich.console import Console

from cli import output


class Failed(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def said(monkeypatch, error: grpc.RpcError) -> tuple[str, int]:
    """What ``rpc_errors('uploading x')`` prints for ``error``, and the exit code."""
    console = Console(record=True, width=500)
    monkeypatch.setattr(output, "console", console)
    with pytest.raises(SystemExit) as exited, output.rpc_errors("uploading x"):
        raise error
    return console.export_text().strip(), exited.value.code


def test_a_server_out_of_reach_is_said_so(monkeypatch):
    error = Failed(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses; last error: Connection refused")
    assert said(monkeypatch, error) == (
        "error: uploading x: cannot reach the server (failed to connect to all addresses; last error: Connection "
        "refused) [UNAVAILABLE]",
        output.EXIT_UNAVAILABLE,
    )


def test_a_server_s_own_unavailable_is_its_reason_alone(monkeypatch):
    """The Svc answered: it is reachable, and its reason (which may quote a store's connect failure) says why."""
    details = "the photo could not be stored: cannot reach the store manager at 10.0.0.9:7000 (failed to connect)"
    assert said(monkeypatch, Failed(grpc.StatusCode.UNAVAILABLE, details)) == (
        f"error: uploading x: {details} [UNAVAILABLE]",
        output.EXIT_UNAVAILABLE,
    )


def test_a_refused_photo_is_bad_input(monkeypatch):
    error = Failed(grpc.StatusCode.INVALID_ARGUMENT, "not an image")
    assert said(monkeypatch, error) == ("error: uploading x: not an image [INVALID_ARGUMENT]", output.EXIT_BAD_INPUT)
