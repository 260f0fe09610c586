"""The store manager: takes objects from clients and keeps each on two storage nodes.

spool.py         objects as received, fsynced, until two nodes hold them
replicate.py     the message the manager queues for itself (one per put)
liveness.py      which nodes are live, joining or down (pure)
inventory.py     applies a node's inventory to the table (reconcile.py decides)
registry.py      NodeRegistry actor: the store group's views, node hellos, failing calls
placer.py        Placer actors: consume the queue, put each object on a primary then a secondary
repairer.py      Repairer actor: re-protects objects of nodes that left, trims surplus copies
metrics.py       Prometheus figures, and their history in the table
service.py       the StoreManager gRPC service
"""
