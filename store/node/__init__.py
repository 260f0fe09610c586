"""A storage node of the replicated store: it holds copies, verifies them, and answers the manager.

    disk.py         the node's directory: objects written whole or not at all, their sha256 recorded
                    on arrival, the node's id (``node-id``), usage
    service.py      the ``StoreNode`` gRPC service over the disk (Put, Get, Delete, Inventory, CopyTo, Usage)
    scrubber.py     an actor that re-hashes the objects at a bounded rate and reports the corrupt ones
    reporter.py     what a (re)starting node does once its server is up: report its inventory to the
                    manager (retrying for a bounded time) and delete what the manager says to

The manager calls a node through ``store/node_client.py``.
"""
