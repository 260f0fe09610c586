"""Settings of each role, with defaults that work on one machine."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from actors.leader import LeaderSettings
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
        host = self.listen.rsplit(":", 1)[0].strip("[]")
        return self.advertise_ip or ("127.0.0.1" if host in ("", "0.0.0.0", "::") else host)


@dataclass(frozen=True)
class WorkerConfig:
    concurrency: int = field(default_factory=lambda: os.cpu_count() or 1)
    health_listen: str = ""  # ip:port of the health-only gRPC server; none when empty
