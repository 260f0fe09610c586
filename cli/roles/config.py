"""Settings of each role, with defaults that work on one machine."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field

from actors.leader import LeaderSettings
from actors.marker_decisions import DEFAULT_MAX_DELIVERIES
from actors.upload_validation import Limits

DEFAULT_REGISTER = "127.0.0.1:50051"
DEFAULT_SVC = "127.0.0.1:50061"


@dataclass(frozen=True)
class RegisterConfig:
    listen: str = DEFAULT_REGISTER


@dataclass(frozen=True)
class SvcConfig:
    listen: str = DEFAULT_SVC
    advertise_ip: str = ""  # the ip clients are told; the listen host when empty
    limits: Limits = field(default_factory=Limits)
    leader: LeaderSettings = field(default_factory=LeaderSettings)
    announce_interval: float = 2.0

    def announced_ip(self) -> str:
        """The ip the Register hands to clients: --advertise-ip, else the listen host, else
        (listening on every interface) the address this host's name resolves to."""
        host = self.listen.rsplit(":", 1)[0].strip("[]")
        if self.advertise_ip:
            return self.advertise_ip
        if host not in ("", "0.0.0.0", "::"):
            return host
        try:
            return socket.gethostbyname(socket.gethostname())
        except OSError:
            return "127.0.0.1"


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    health_listen: str = ""  # ip:port of the health-only gRPC server; none when empty
    # A job handed to workers more times than this (each died or hung on it) ends FAILED unmarked.
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    # Seconds one Tesseract run may take on a photo before it is killed and the job ends FAILED;
    # None: marking's own rule, 60 s plus 10 s per megapixel (``marking.ocr.ocr_timeout``).
    ocr_timeout: float | None = None


DEFAULT_STORE_MANAGER = "127.0.0.1:50071"
DEFAULT_STORE_NODE = "127.0.0.1:0"


@dataclass(frozen=True)
class StoreManagerConfig:
    listen: str = DEFAULT_STORE_MANAGER
    max_object_bytes: int = 64 * 1024 * 1024
    placers: int = 4  # replication messages placed at once
    repair_in_flight: int = 2  # copies the repairer makes at once: the throttle that keeps reads served
    metrics_listen: str = ""  # host:port of the Prometheus /metrics endpoint; none when empty
    metrics_interval: float = 10.0  # seconds between two rows of the metrics history


@dataclass(frozen=True)
class StoreNodeConfig:
    listen: str = DEFAULT_STORE_NODE
    advertise_ip: str = ""  # the ip the manager is told; the listen host when empty
    manager: str = DEFAULT_STORE_MANAGER
    max_object_bytes: int = 64 * 1024 * 1024
    give_up_after: float = 60.0  # seconds a starting node tries to reach the manager before it exits
    scrub_bytes_per_second: int = 16 * 1024 * 1024
    scrub_interval: float = 1.0
    scrub_every: float = 300.0  # seconds from the start of one scrub pass to the start of the next, at least
    scrub_first_pass_after: float = 60.0  # seconds from the node's start to its first scrub pass

    def advertised(self, port: int) -> str:
        host = self.advertise_ip or self.listen.rsplit(":", 1)[0].strip("[]")
        if host in ("", "0.0.0.0", "::"):
            host = SvcConfig(listen=self.listen).announced_ip()
        return f"{host}:{port}"
