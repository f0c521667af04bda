"""Replicas on one PostgreSQL database: heartbeats and per-site crawl leases (lease rows with expiry).

Lease times are the DATABASE's clock (``clock_timestamp()``), so replicas on boxes whose clocks
disagree still agree on when a lease lapses. See ``ticket_alarm.store.replicas`` for the rules.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ticket_alarm.i18n import t
from ticket_alarm.store.postgres.engine import PostgresStore
from ticket_alarm.store.replicas import (
    ALIVE_WITHIN,
    LEASE_SECONDS,
    LOCAL_MARGIN,
    ReplicaRow,
    SiteLease,
    replica_identity,
)

_NOW = "extract(epoch from clock_timestamp())::double precision"


class PostgresReplicas:
    shared = True

    def __init__(
        self,
        store: PostgresStore,
        data_dir: Path | None,
        *,
        lease_seconds: float = LEASE_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store = store
        self.replica_id, self.name = replica_identity(data_dir)
        self.lease_seconds = lease_seconds
        self.renew_every = lease_seconds / 3
        self.alive_within = 3 * self.renew_every
        self._monotonic = monotonic
        self._valid_until: dict[str, float] = {}  # site -> monotonic deadline of our copy of its lease
        self._registered = False

    def owns(self, site: str) -> bool:
        return self._monotonic() < self._valid_until.get(site, float("-inf"))

    async def renew(self, sites: Sequence[str]) -> set[str]:
        started = self._monotonic()
        host, pid = socket.gethostname(), os.getpid()
        async with self.store._tx("replica heartbeat") as conn:
            await conn.execute(
                f"INSERT INTO replicas(id, name, host, pid, started_at, heartbeat_at) "
                f"VALUES (%s, %s, %s, %s, {_NOW}, {_NOW}) ON CONFLICT (id) DO UPDATE SET "
                f"heartbeat_at = {_NOW}, stopped_at = NULL",
                (self.replica_id, self.name, host, pid),
            )
            cur = await conn.execute(
                f"INSERT INTO site_leases(site, owner, since, until) "
                f"SELECT s, %(me)s, {_NOW}, {_NOW} + %(ttl)s FROM unnest(%(sites)s::text[]) AS s "
                f"ON CONFLICT (site) DO UPDATE SET owner = excluded.owner, until = excluded.until, "
                f"since = CASE WHEN site_leases.owner = excluded.owner THEN site_leases.since "
                f"ELSE excluded.since END "
                f"WHERE site_leases.owner = excluded.owner OR site_leases.until < excluded.since "
                f"RETURNING site",
                {"me": self.replica_id, "ttl": self.lease_seconds, "sites": list(sites)},
            )
            owned = {r["site"] for r in await cur.fetchall()}
        deadline = started + self.lease_seconds - min(LOCAL_MARGIN, self.lease_seconds / 5)
        self._valid_until = {site: deadline for site in owned}
        self._registered = True
        return owned

    async def release(self) -> None:
        self._valid_until.clear()
        if not self._registered:
            return
        async with self.store._tx("replica release") as conn:
            await conn.execute("DELETE FROM site_leases WHERE owner = %s", (self.replica_id,))
            await conn.execute(f"UPDATE replicas SET stopped_at = {_NOW} WHERE id = %s", (self.replica_id,))

    async def replicas(self) -> list[ReplicaRow]:
        return await replica_rows(self.store, alive_within=self.alive_within)

    async def leases(self) -> list[SiteLease]:
        return await lease_rows(self.store)


async def replica_rows(
    store: PostgresStore, recent: float = 86400.0, alive_within: float = ALIVE_WITHIN
) -> list[ReplicaRow]:
    """Replicas heard from in the last ``recent`` seconds (stopped ones too), with the sites they own."""
    rows = await store._rows(
        f"SELECT r.*, {_NOW} AS now, coalesce(array_agg(l.site ORDER BY l.site) FILTER "
        f"(WHERE l.site IS NOT NULL AND l.until > {_NOW}), '{{}}') AS sites "
        f"FROM replicas r LEFT JOIN site_leases l ON l.owner = r.id "
        f"WHERE r.heartbeat_at > {_NOW} - %s GROUP BY r.id ORDER BY r.name, r.started_at",
        (recent,),
    )
    return [
        ReplicaRow(
            id=r["id"],
            name=r["name"],
            host=r["host"],
            pid=r["pid"],
            started_at=r["started_at"],
            heartbeat_at=r["heartbeat_at"],
            stopped_at=r["stopped_at"],
            alive=r["stopped_at"] is None and r["now"] - r["heartbeat_at"] <= alive_within,
            sites=tuple(r["sites"]),
        )
        for r in rows
    ]


async def database_now(store: PostgresStore) -> float:
    """The database's clock (what every lease and heartbeat is stamped with), as Unix time."""
    return float(await store._value(f"SELECT {_NOW}"))


async def lease_rows(store: PostgresStore) -> list[SiteLease]:
    rows = await store._rows(f"SELECT * FROM site_leases WHERE until > {_NOW} ORDER BY site")
    return [SiteLease(r["site"], r["owner"], r["since"], r["until"]) for r in rows]


def replicas_check(
    rows: Sequence[ReplicaRow], sites: Sequence[str], now: float, expected: int = 2
) -> tuple[str, str]:
    """The ``replicas`` health check: (OK|WARNING|CRITICAL, detail) from the replica rows.

    Every replica is listed with its heartbeat and the sites it owns. CRITICAL: none alive.
    WARNING: only one alive (if it dies, nobody takes over), or a site no live replica owns.
    """
    alive = [r for r in rows if r.alive]
    parts = []
    for r in rows:
        state = "alive" if r.alive else ("stopped" if r.stopped_at is not None else "gone")
        owned = ", ".join(r.sites) if r.sites else t("replicas.no_site")
        parts.append(
            t(
                "replicas.entry",
                name=r.name,
                pid=r.pid,
                state=t(f"replicas.state.{state}"),
                age=max(0, now - r.heartbeat_at),
                owned=owned,
            )
        )
    owned_sites = {s for r in alive for s in r.sites}
    orphans = [s for s in sites if s not in owned_sites]
    listing = "; ".join(parts) or t("replicas.none_started")
    if orphans and alive:
        listing += t("replicas.orphans", sites=", ".join(orphans))
    if not alive:
        return "CRITICAL", t("replicas.none_alive", listing=listing)
    if len(alive) < expected:
        return "WARNING", t("replicas.only_one", alive=len(alive), expected=expected, listing=listing)
    if orphans:
        return "WARNING", t("replicas.alive", alive=len(alive), listing=listing)
    return "OK", t("replicas.alive", alive=len(alive), listing=listing)
