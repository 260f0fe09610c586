"""The one way photomark opens a gRPC channel to one of its servers (Register, Svc, store manager, node):
beside the protos, as every client of the services they define needs it.

Two choices differ from gRPC's defaults, both so that a server that was down, or not yet up, is
reached as soon as it listens:

- Each channel keeps its own connection (a local subchannel pool).  By default gRPC shares one
  connection per address between all the channels of a process, and with it that connection's
  failures: in the embedded cluster the storage nodes' clients find the store manager not yet
  listening, and the Svc's client, made once it listens, then failed its first calls at once with
  their 'Connection refused' until the shared connection's reconnect backoff ran out.
- A lost connection is retried within ``MAX_RECONNECT_BACKOFF_MS``, not after gRPC's two minutes.
"""

from __future__ import annotations

import grpc

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # gRPC's default receive limit, said once
MAX_RECONNECT_BACKOFF_MS = 2000  # a server that restarts is reachable again this soon


def insecure_channel(address: str, max_receive_bytes: int = MAX_MESSAGE_BYTES) -> grpc.Channel:
    """A channel to ``address`` (host:port); thread-safe, so one per client is enough."""
    return grpc.insecure_channel(
        address,
        options=[
            ("grpc.use_local_subchannel_pool", 1),
            ("grpc.max_receive_message_length", max_receive_bytes),
            ("grpc.initial_reconnect_backoff_ms", 100),
            ("grpc.min_reconnect_backoff_ms", 100),
            ("grpc.max_reconnect_backoff_ms", MAX_RECONNECT_BACKOFF_MS),
        ],
    )
