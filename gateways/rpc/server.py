"""A gRPC server with the standard health service and reflection, as every role serves."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # gRPC's default; blocks are at most 1 MiB


def start_server(
    address: str, services: Sequence[tuple[Callable, object, str]], max_workers: int = 16
) -> tuple[grpc.Server, health.HealthServicer, int]:
    """Start serving ``services`` (add-function, servicer, full service name) on ``address``.

    Returns the server, its health servicer (every service SERVING) and the bound port.
    """
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="grpc"),
        options=[("grpc.max_receive_message_length", MAX_MESSAGE_BYTES), ("grpc.so_reuseport", 0)],
    )
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = []
    for add, servicer, name in services:
        add(servicer, server)
        names.append(name)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    port = server.add_insecure_port(address)
    if port == 0:
        raise OSError(f"cannot listen on {address}")
    server.start()
    for name in [*names, ""]:
        health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    return server, health_servicer, port


def stop_server(server: grpc.Server, health_servicer: health.HealthServicer, grace: float = 2.0) -> None:
    health_servicer.enter_graceful_shutdown()
    server.stop(grace).wait()
