"""The Register's gRPC face: ``GetSvc`` and ``ListSvcs``, answered from the Directory."""

from __future__ import annotations

import grpc
import pykka

from protos import register_pb2, register_pb2_grpc

ASK_TIMEOUT = 10.0


class RegisterService(register_pb2_grpc.RegisterServicer):
    def __init__(self, directory: pykka.ActorProxy) -> None:
        self.directory = directory

    def GetSvc(self, request, context):  # noqa: N802 - gRPC's name
        svc = self.directory.choose().get(timeout=ASK_TIMEOUT)
        if svc is None:
            context.abort(grpc.StatusCode.UNAVAILABLE, "no Svc is alive: start one (photomark svc) and retry")
        return register_pb2.ServerInfo(ip=svc.ip, port=svc.port)

    def ListSvcs(self, request, context):  # noqa: N802
        reply = register_pb2.SvcList()
        for svc in self.directory.list().get(timeout=ASK_TIMEOUT):
            reply.svcs.add(address=register_pb2.ServerInfo(ip=svc.ip, port=svc.port), name=svc.name, load=svc.load)
        return reply
