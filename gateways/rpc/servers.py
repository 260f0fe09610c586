"""gRPC server gateways as actors: started after the actors they serve, stopped first."""

from __future__ import annotations

import pykka
import structlog

from actors.upload_validation import Limits
from gateways.rpc.photo_service import PhotoService
from gateways.rpc.register_service import RegisterService
from gateways.rpc.server import start_server, stop_server
from protos import photos_pb2, photos_pb2_grpc, register_pb2, register_pb2_grpc

log = structlog.get_logger()


class GrpcServer(pykka.ThreadingActor):
    """Owns one gRPC server; ``port()`` tells where it listens (useful with port 0)."""

    def __init__(self, address: str, services: list, role: str) -> None:
        super().__init__()
        self.address, self.services, self.role = address, services, role
        self.server = self.health = None
        self.bound_port = 0

    def on_start(self) -> None:
        self.server, self.health, self.bound_port = start_server(self.address, self.services)
        log.info("grpc.listening", role=self.role, address=self.listen_address())

    def on_stop(self) -> None:
        if self.server is not None:
            stop_server(self.server, self.health)

    def port(self) -> int:
        return self.bound_port

    def listen_address(self) -> str:
        return f"{self.address.rsplit(':', 1)[0]}:{self.bound_port}"


def photo_server(address: str, uploader, pending, notifier, storage, limits: Limits = Limits()) -> pykka.ActorRef:
    service = PhotoService(uploader, pending, notifier, storage, limits)
    name = photos_pb2.DESCRIPTOR.services_by_name["PhotoService"].full_name
    return GrpcServer.start(address, [(photos_pb2_grpc.add_PhotoServiceServicer_to_server, service, name)], "svc")


def register_server(address: str, directory) -> pykka.ActorRef:
    service = RegisterService(directory)
    name = register_pb2.DESCRIPTOR.services_by_name["Register"].full_name
    return GrpcServer.start(address, [(register_pb2_grpc.add_RegisterServicer_to_server, service, name)], "register")
