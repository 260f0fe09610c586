"""The store's figures: Prometheus metrics served over HTTP, and their history in the table.

Counters count outcomes as they happen (puts, placements, copies, removals,
corrupt copies found, reads by where they were served from); the table's
figures (objects, bytes, objects with fewer than two good copies, spooled
objects, and per node its objects, bytes and disk) are read from the table
when Prometheus scrapes.  ``MetricsHistory`` writes every figure to the
table's metrics history every ``interval`` seconds and prunes what is older
than ``keep`` seconds, so the history survives a restart of the manager.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Iterator

import pykka
import structlog
from prometheus_client import CollectorRegistry, Counter, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from actorkit.ticker import Ticker
from store.table import ObjectTable

log = structlog.get_logger()


class TableFigures(Collector):
    """Gauges read from the table at each scrape."""

    def __init__(self, table: ObjectTable, live: Callable[[], Collection[str]]) -> None:
        self.table, self.live = table, live

    def collect(self) -> Iterator[GaugeMetricFamily]:
        live = frozenset(self.live())
        stats = self.table.stats(live)
        for name, text, value in (
            ("store_objects", "Objects in the store", stats.objects),
            ("store_bytes", "Bytes of the objects in the store (one copy each)", stats.bytes),
            (
                "store_under_replicated_objects",
                "Objects with fewer than two good copies on live nodes",
                stats.under_replicated,
            ),
            ("store_spooled_objects", "Objects still in the manager's spool", stats.spooled),
            ("store_live_nodes", "Storage nodes that are live", len(live)),
        ):
            yield GaugeMetricFamily(name, text, value=value)
        per_node = {
            "store_node_objects": GaugeMetricFamily("store_node_objects", "Copies on a node", labels=["node"]),
            "store_node_bytes": GaugeMetricFamily("store_node_bytes", "Bytes of the copies on a node", labels=["node"]),
            "store_node_disk_used_bytes": GaugeMetricFamily(
                "store_node_disk_used_bytes", "A node's disk in use, as it last reported", labels=["node"]
            ),
            "store_node_disk_total_bytes": GaugeMetricFamily(
                "store_node_disk_total_bytes", "A node's disk size, as it last reported", labels=["node"]
            ),
            "store_node_live": GaugeMetricFamily("store_node_live", "1 when the node is live", labels=["node"]),
        }
        for row in self.table.node_stats():
            per_node["store_node_objects"].add_metric([row.name], row.objects)
            per_node["store_node_bytes"].add_metric([row.name], row.bytes)
            per_node["store_node_disk_used_bytes"].add_metric([row.name], row.disk_used or 0)
            per_node["store_node_disk_total_bytes"].add_metric([row.name], row.disk_total or 0)
            per_node["store_node_live"].add_metric([row.name], 1 if row.name in live else 0)
        yield from per_node.values()


class StoreMetrics:
    """The manager's counters, in a registry of their own (tests start many managers in one process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.puts = Counter("store_puts", "Puts answered, by result", ["result"], registry=r)
        self.gets = Counter("store_gets", "Gets, by where they were served from", ["source"], registry=r)
        self.placements = Counter(
            "store_placements", "Replication messages handled, by outcome", ["result"], registry=r
        )
        self.copies = Counter("store_copies", "Copies made, by reason and result", ["reason", "result"], registry=r)
        self.removals = Counter("store_copies_removed", "Surplus, stale or corrupt copies removed", registry=r)
        self.corrupt = Counter(
            "store_corrupt_copies", "Copies found corrupt (by a read, a copy or a scrub)", registry=r
        )
        self.deletes = Counter("store_deletes", "Objects deleted", registry=r)
        self._server = None

    def watch(self, table: ObjectTable, live: Callable[[], Collection[str]]) -> None:
        self.registry.register(TableFigures(table, live))

    def samples(self) -> list[tuple[str, str, float]]:
        """Every figure now, as (name, labels as text, value)."""
        out = []
        for family in self.registry.collect():
            for sample in family.samples:
                if sample.name.endswith("_created"):
                    continue
                labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
                out.append((sample.name, labels, float(sample.value)))
        return out

    def serve(self, address: str) -> int:
        """Serve ``/metrics`` on ``host:port`` (port 0: any); returns the port."""
        host, port = address.rsplit(":", 1)
        self._server, _thread = start_http_server(int(port), host.strip("[]"), self.registry)
        return self._server.server_port

    def close(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class MetricsHistory(pykka.ThreadingActor):
    """Writes the figures to the table's history every ``interval`` seconds; serves them over HTTP."""

    def __init__(
        self,
        metrics: StoreMetrics,
        table: ObjectTable,
        listen: str = "",
        interval: float = 10.0,
        keep: float = 7 * 24 * 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.metrics, self.table, self.listen = metrics, table, listen
        self.interval, self.keep, self.clock = interval, keep, clock
        self.ticker: Ticker | None = None
        self.port = 0

    def on_start(self) -> None:
        if self.listen:
            self.port = self.metrics.serve(self.listen)
            log.info("store.metrics_listening", address=f"{self.listen.rsplit(':', 1)[0]}:{self.port}")
        self.ticker = Ticker(self.actor_ref, "record", self.interval).start()

    def on_stop(self) -> None:
        if self.ticker:
            self.ticker.stop()
        self.metrics.close()

    def metrics_port(self) -> int:
        return self.port

    def record(self) -> None:
        now = self.clock()
        self.table.record_metrics(now, self.metrics.samples())
        self.table.prune_metrics(now - self.keep)
