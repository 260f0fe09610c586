"""The replicated photo store: a manager places every object on two storage nodes.

    ids.py          what an object id, a node id and a digest look like
    model.py        the table's records as the decisions see them (frozen dataclasses)
    placement.py    which node takes a copy (pure)
    repair.py       which copies to make or remove when nodes leave or return (pure)
    reconcile.py    what a node's inventory means for the table (pure)
    table.py        the object table: SQLite in WAL mode (objects, replicas, nodes, metrics)
    node/           a storage node: its disk, its gRPC service, the scrubber, the inventory report
    manager/        the manager: spool, gRPC service, placers, node registry, repairer, metrics
    clients.py      gRPC clients of both services, streaming in blocks

The flow of a put, a node leaving and a node returning is in docs/architecture.md.
"""
