"""Two real daemons (replicas) on one real PostgreSQL database, against the stand-in site and the strict
stand-in Discord: nothing posted twice while both run; kill -9 of the active replica while notices
arrive loses nothing and duplicates at most the batch it had in flight; `store migrate` then the daemon
on PostgreSQL re-alerts nothing and delivers what was pending."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections import Counter
from pathlib import Path
from typing import Any

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.contract.test_store_migrate import populate
from tests.support.discord_standin import FakeDiscord
from tests.support.postgres import PASSWORD
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.errors import StoreError
from ticket_alarm.store.postgres.engine import PostgresStore

LEASE = 3.0  # replica_lease: a dead replica's site moves within 4 s
BATCH = 10  # embeds in one Discord message: the most a kill can duplicate


def titles(discord: FakeDiscord) -> Counter[str]:
    return Counter(e["title"] for e in discord.embeds())


def replica_config(tmp_path: Path, site: FakeSite, webhook: str, url: str, name: str, **extra: Any) -> Path:
    folder = tmp_path / name
    folder.mkdir(exist_ok=True)
    config = stand_config(
        folder, site, webhook, store_url=url, replica_lease=LEASE, head_interval=None, **extra
    )
    return write_config(folder, config)


def owner_pid(url: str) -> int | None:
    """The pid of the replica that holds the stand-in site's lease now (ids are host/pid/random)."""

    async def read() -> int | None:
        try:
            store = await PostgresStore.open(url, readonly=True)
        except StoreError:  # no replica has migrated the database yet
            return None
        try:
            rows = await store._rows(
                "SELECT owner FROM site_leases WHERE site='teststand' "
                "AND until > extract(epoch from clock_timestamp())"
            )
        finally:
            await store.close()
        return int(rows[0]["owner"].split("/")[1]) if rows else None

    return asyncio.run(read())


def start(tmp_path: Path, config: Path, tag: str, daemons: list[DaemonProcess]) -> DaemonProcess:
    d = DaemonProcess(config, config.parent, tag)
    daemons.append(d)
    return d


def test_two_replicas_post_nothing_twice_and_one_owns_the_site(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
    pg_url: str,
) -> None:
    webhook = discord.add_webhook()
    a = start(tmp_path, replica_config(tmp_path, site, webhook, pg_url, "a"), "a", daemons)
    b = start(tmp_path, replica_config(tmp_path, site, webhook, pg_url, "b"), "b", daemons)
    a.wait_for(
        lambda: any("크롤링 완료: teststand" in d.out() for d in (a, b)), timeout=60, what="the first crawl"
    )
    notices.add(25)
    a.wait_for(lambda: len(discord.embeds()) >= 25, timeout=90, what="25 embeds")
    time.sleep(1.5)  # both replicas had the time to post anything twice
    assert set(titles(discord).values()) == {1} and len(titles(discord)) == 25
    crawlers = [d for d in (a, b) if "크롤링 완료: teststand" in d.out()]
    assert len(crawlers) == 1, "one replica owns the site's crawl"
    config_a = a.out_path.parent / "config.json"

    def cli(*args: str) -> Any:
        proc = run_cli(*args, "--config", str(config_a), cwd=a.out_path.parent, timeout=60)
        assert PASSWORD not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr
        return proc

    checks = {c["name"]: c for c in json.loads(cli("health", "--json", "--no-probe").stdout)["checks"]}
    assert checks["replicas"]["status"] == "OK" and "2 replicas alive" in checks["replicas"]["detail"]
    assert "teststand" in checks["replicas"]["detail"] and checks["daemon"]["status"] == "OK"
    assert checks["outbox"]["status"] == "OK"
    stats = cli("history", "--json", "stats")
    assert stats.returncode == 0 and json.loads(stats.stdout)["sites"][0]["rows"] == 25
    explained = cli("explain", "teststand", "3", "--json")
    assert explained.returncode == 0 and json.loads(explained.stdout), explained.stderr
    backup = cli("backup", "--dest", str(tmp_path / "backups"))
    assert backup.returncode == 0, backup.stderr
    dump = Path(backup.stdout.split()[0])
    assert dump.suffix == ".dump" and dump.stat().st_size > 0
    refused = cli("restore", str(dump))
    assert refused.returncode == 1 and "stop every replica first" in refused.stderr
    for d in (a, b):
        assert PASSWORD not in d.out() + d.err()
    assert b.terminate()[0] == 0
    checks = {c["name"]: c for c in json.loads(cli("health", "--json", "--no-probe").stdout)["checks"]}
    assert checks["replicas"]["status"] == "WARNING" and "only 1 replica left" in checks["replicas"]["detail"]
    assert a.terminate()[0] == 0
    restored = cli("restore", str(dump))
    assert restored.returncode == 0, restored.stderr


def test_kill_9_of_the_active_replica_loses_nothing(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
    pg_url: str,
) -> None:
    rng = random.Random(11)
    discord.delay = 0.3  # a message accepted but not yet answered: a kill then duplicates its batch
    webhook = discord.add_webhook()
    configs = {n: replica_config(tmp_path, site, webhook, pg_url, n) for n in ("a", "b")}
    running = {n: start(tmp_path, c, n, daemons) for n, c in configs.items()}
    running["a"].wait_for(
        lambda: any("크롤링 완료: teststand" in d.out() for d in running.values()), timeout=60, what="a crawl"
    )  # the first crawl fills the history silently: notices come after it
    wanted = 0
    kills = 0
    for round_ in range(3):
        live = {d.proc.pid for d in running.values()}
        running["a"].wait_for(lambda live=live: owner_pid(pg_url) in live, timeout=45, what="a live owner")
        notices.add(12)
        wanted += 12
        time.sleep(rng.uniform(0.3, 1.5))  # a random moment while they are crawled and posted
        pid = owner_pid(pg_url)
        victim = next(n for n, d in running.items() if d.proc.pid == pid)
        running[victim].kill9()
        kills += 1
        running[victim] = start(tmp_path, configs[victim], f"{victim}{round_}", daemons)  # supervisor
    any_daemon = next(iter(running.values()))
    any_daemon.wait_for(lambda: len(titles(discord)) >= wanted, timeout=120, what=f"{wanted} notices")
    time.sleep(1.0)
    seen = titles(discord)
    assert len(seen) == wanted, "0 lost"
    duplicates = sum(n - 1 for n in seen.values())
    assert kills == 3
    print(f"kill -9 x{kills}: {wanted} notices, 0 lost, {duplicates} duplicates (bound {kills * BATCH})")
    assert duplicates <= kills * BATCH, (duplicates, kills)
    for d in running.values():
        d.wait_log("ticket-alarm started")  # a replica restarted late must be up before SIGTERM
        code = d.terminate()[0]
        assert code == 0, (code, d.out()[-1500:], d.err()[-1500:])


def test_store_migrate_then_the_daemon_on_postgres_realerts_nothing_and_delivers_the_pending(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
    pg_url: str,
) -> None:
    config = populate(tmp_path, discord, site, notices)  # 5 delivered, 4 pending in SQLite
    delivered = titles(discord)
    assert len(delivered) == 5
    proc = run_cli("store", "migrate", "--to", pg_url, "--config", str(config), cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    webhook = discord.add_webhook()  # the same webhook id: its token did not change
    d = start(tmp_path, replica_config(tmp_path, site, webhook, pg_url, "pg"), "pg", daemons)
    d.wait_for(lambda: len(titles(discord)) == 9, timeout=90, what="the 4 pending alerts")
    d.wait_log("크롤링 완료: teststand", count=2)
    assert set(titles(discord).values()) == {1}, "nothing re-alerted"
    assert d.terminate()[0] == 0
