"""The Register's gRPC face: ``GetSvc`` and ``ListSvcs``, answered from the Directory.

Coroutines on the server's event loop (``gateways/rpc/server.py``); the Directory is asked on a small pool
of threads, as a pykka future's ``get`` would block the loop.
"""

from __future__ import annotations

import asyncio
import concurrent.futures

import grpc
import pykka

from protos import register_pb2, register_pb2_grpc

ASK_TIMEOUT = 10.0
ASK_THREADS = 4


class RegisterService(register_pb2_grpc.RegisterServicer):
    def __init__(self, directory: pykka.ActorProxy) -> None:
        self.directory = directory
        self.asks = concurrent.futures.ThreadPoolExecutor(ASK_THREADS, thread_name_prefix="register-ask")

    def close(self) -> None:
        self.asks.shutdown(wait=False, cancel_futures=True)

    async def _ask(self, call):
        return await asyncio.get_running_loop().run_in_executor(self.asks, lambda: call().get(timeout=ASK_TIMEOUT))

    async def GetSvc(self, request, context):  # noqa: N802 - gRPC's name
        svc = await self._ask(self.directory.choose)
        if svc is None:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no Svc is alive: start one (photomark svc) and retry")
        return register_pb2.ServerInfo(ip=svc.ip, port=svc.port)

    async def ListSvcs(self, request, context):  # noqa: N802
        reply = register_pb2.SvcList()
        for svc in await self._ask(self.directory.list):
            reply.svcs.add(address=register_pb2.ServerInfo(ip=svc.ip, port=svc.port), name=svc.name, load=svc.load)
        return reply
