"""Which process crawls which site: one replica at a time per site, through a lease in the store.

With SQLite (one box, one daemon, the data_dir flock) a :class:`Solo` owns every site. On PostgreSQL
(:class:`ticket_alarm.store.postgres.replicas.PostgresReplicas`) replicas share one database: each
site's crawl is owned through a lease row that its holder renews every ``RENEW_EVERY`` seconds and
that lapses ``LEASE_SECONDS`` (config ``replica_lease``) after the last renewal — a replica killed
with -9 (or cut off the network) loses its sites to another within ``LEASE_SECONDS + RENEW_EVERY``
(20 s at the default, within 30 s). Renewals come every third of the lease.

A replica only crawls while its own copy of the lease is still valid by its monotonic clock (taken
at the start of the renewal that won it, minus a margin), so a replica that cannot reach the
database stops crawling before another one may start.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

LEASE_SECONDS = 15.0
RENEW_EVERY = 5.0
LOCAL_MARGIN = 2.0  # a local copy of a lease ends this much (at most a fifth of it) before the database's
ALIVE_WITHIN = 3 * RENEW_EVERY  # at the default lease: a replica without a heartbeat this long is gone


@dataclass(frozen=True, slots=True)
class ReplicaRow:
    id: str
    name: str
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    stopped_at: float | None
    alive: bool
    sites: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SiteLease:
    site: str
    owner: str
    since: float
    until: float


class Replicas(Protocol):
    replica_id: str
    shared: bool  # True: other replicas may share the store (health shows them)
    renew_every: float  # seconds between two renewals

    def owns(self, site: str) -> bool:
        """Whether this replica may crawl ``site`` now (no I/O: the copy of the last renewal)."""
        ...

    async def renew(self, sites: Sequence[str]) -> set[str]:
        """Heartbeat, renew the leases held and take the free or lapsed ones; the sites owned now."""
        ...

    async def release(self) -> None:
        """A clean stop: give the leases up at once (another replica takes them on its next renewal)."""
        ...

    async def replicas(self) -> list[ReplicaRow]: ...

    async def leases(self) -> list[SiteLease]: ...


def replica_identity(data_dir: Path | None) -> tuple[str, str]:
    """(id, name): the id is unique to this process (host, pid, a random part); the name is for operators."""
    host = socket.gethostname()
    where = str(data_dir) if data_dir is not None else "-"
    return f"{host}/{os.getpid()}/{uuid.uuid4().hex[:12]}", f"{host}:{where}"


class Solo:
    """One daemon on its own store (SQLite): it owns every site; there is nobody to share with."""

    shared = False
    renew_every = RENEW_EVERY

    def __init__(self, data_dir: Path | None = None) -> None:
        self.replica_id, self.name = replica_identity(data_dir)

    def owns(self, site: str) -> bool:
        return True

    async def renew(self, sites: Sequence[str]) -> set[str]:
        return set(sites)

    async def release(self) -> None:
        return None

    async def replicas(self) -> list[ReplicaRow]:
        return []

    async def leases(self) -> list[SiteLease]:
        return []
