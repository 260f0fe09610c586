"""gRPC server gateways as actors: started after the actors they serve, stopped first.

Each server also serves the standard health service: SERVING while every
dependency it was given (broker, group connection) is alive and connected,
NOT_SERVING otherwise, checked every ``health_interval`` seconds.

The actor owns its server's event loop thread (``gateways/rpc/server.py``): it
starts with the actor and ends with it, and a servicer with pools of its own
(``close``) is closed after the server.
"""

from __future__ import annotations

from collections.abc import Sequence

import pykka
import structlog
from grpc_health.v1 import health_pb2

from actorkit.ticker import Ticker
from actors.upload_validation import DEFAULT_LIMITS, Limits
from gateways.rpc.photo_service import PhotoService
from gateways.rpc.register_service import RegisterService
from gateways.rpc.server import RunningServer, start_server, stop_server
from protos import photos_pb2, photos_pb2_grpc, register_pb2, register_pb2_grpc

log = structlog.get_logger()

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def dependency_up(dependency: pykka.ActorProxy) -> bool:
    try:
        return bool(dependency.is_connected().get(timeout=2))
    except (pykka.ActorDeadError, pykka.Timeout):
        return False


class GrpcServer(pykka.ThreadingActor):
    """Owns one gRPC server; ``port()`` tells where it listens (useful with port 0)."""

    def __init__(
        self,
        address: str,
        services: list,
        role: str,
        dependencies: Sequence[pykka.ActorProxy] = (),
        health_interval: float = 1.0,
    ) -> None:
        super().__init__()
        self.address, self.services, self.role = address, services, role
        self.dependencies, self.health_interval = list(dependencies), health_interval
        self.server: RunningServer | None = None
        self.bound_port = 0
        self.serving = True
        self.ticker: Ticker | None = None

    def on_start(self) -> None:
        self.server, _, self.bound_port = start_server(self.address, self.services)
        log.info("grpc.listening", role=self.role, address=self.listen_address())
        if self.dependencies:
            self.check_health()
            self.ticker = Ticker(self.actor_ref, "check_health", self.health_interval).start()

    def on_stop(self) -> None:
        self._close()

    def on_failure(self, *_exc_info) -> None:
        self._close()  # a crashed server actor must not leave its port serving stale proxies

    def _close(self) -> None:
        if self.ticker:
            self.ticker.stop()
        if self.server is not None:
            server, self.server = self.server, None
            try:
                stop_server(server)
            finally:
                for _, servicer, _ in self.services:
                    if hasattr(servicer, "close"):
                        servicer.close()

    def check_health(self) -> None:
        serving = all(dependency_up(dependency) for dependency in self.dependencies)
        if serving != self.serving:
            log.warning("grpc.health", role=self.role, serving=serving)
        self.serving = serving
        if self.server is None:
            return
        for _, _, name in self.services:
            self.server.set_health(name, SERVING if serving else NOT_SERVING)
        self.server.set_health("", SERVING if serving else NOT_SERVING)

    def port(self) -> int:
        return self.bound_port

    def listen_address(self) -> str:
        return f"{self.address.rsplit(':', 1)[0]}:{self.bound_port}"


def photo_server(
    address: str,
    uploader,
    pending,
    notifier,
    storage,
    limits: Limits = DEFAULT_LIMITS,
    dependencies: Sequence[pykka.ActorProxy] = (),
    leader=None,
) -> pykka.ActorRef:
    service = PhotoService(uploader, pending, notifier, storage, limits, leader)
    name = photos_pb2.DESCRIPTOR.services_by_name["PhotoService"].full_name
    return GrpcServer.start(
        address, [(photos_pb2_grpc.add_PhotoServiceServicer_to_server, service, name)], "svc", dependencies
    )


def register_server(address: str, directory, dependencies: Sequence[pykka.ActorProxy] = ()) -> pykka.ActorRef:
    service = RegisterService(directory)
    name = register_pb2.DESCRIPTOR.services_by_name["Register"].full_name
    return GrpcServer.start(
        address, [(register_pb2_grpc.add_RegisterServicer_to_server, service, name)], "register", dependencies
    )


def health_server(address: str, role: str, dependencies: Sequence[pykka.ActorProxy]) -> pykka.ActorRef:
    """A server with only the health service and reflection, for a role with no API (a worker)."""
    return GrpcServer.start(address, [], role, dependencies)
