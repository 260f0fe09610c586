"""One gRPC client per storage node address, shared by every thread of the manager."""

from __future__ import annotations

import threading

from store.node_client import NodeClient

DEFAULT_CALL_TIMEOUT = 10.0  # a small call (delete, usage)
DEFAULT_TRANSFER_TIMEOUT = 600.0  # an inventory (a whole disk hashed); an object gets a deadline by its size


class NodeClients:
    def __init__(
        self, timeout: float = DEFAULT_CALL_TIMEOUT, transfer_timeout: float = DEFAULT_TRANSFER_TIMEOUT
    ) -> None:
        self.timeout, self.transfer_timeout = timeout, transfer_timeout
        self._clients: dict[str, NodeClient] = {}
        self._lock = threading.Lock()

    def __call__(self, address: str) -> NodeClient:
        with self._lock:
            client = self._clients.get(address)
            if client is None:
                client = self._clients[address] = NodeClient(
                    address, timeout=self.timeout, transfer_timeout=self.transfer_timeout
                )
            return client

    def close(self) -> None:
        with self._lock:
            clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            client.close()
