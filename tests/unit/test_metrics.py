"""Prometheus metrics: the collector on a real store, and /metrics scraped over HTTP from the real daemon."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import DaemonProcess, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import RouteSettings
from ticket_alarm.daemon.results import SiteResult, Skipped
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.ops.metrics import Metrics
from ticket_alarm.store import NewOutboxRow, SiteState
from ticket_alarm.store.api import Dead
from ticket_alarm.store.sqlite.backend import SqliteStore


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def value(text: str, name: str, **labels: str) -> float:
    return samples(text)[(name, tuple(sorted(labels.items())))]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_collector_reads_the_store_and_the_stats_objects(tmp_path: Path) -> None:
    clock = FakeClock()
    now = clock.now().timestamp()
    store = SqliteStore.open_dir(tmp_path / "data")
    try:
        route = RouteSettings(
            name="main", webhook_url="http://127.0.0.1:9/api/webhooks/123456789012345678/tokentokentoken"
        )
        webhooks = WebhookClient(httpx.AsyncClient(), clock)
        delivery = Delivery(store, [DiscordNotifier.for_route(route, webhooks)], clock)
        metrics = Metrics(
            store,
            delivery,
            webhooks,
            sites=["melon", "yes24"],
            routes=["main"],
            clock=clock,
            rss=lambda: 123 * 1024 * 1024,
        )
        first = (await metrics.render()).decode()
        assert value(first, "ticket_alarm_crawls_total", site="melon") == 0  # present before any crawl
        assert value(first, "ticket_alarm_outbox_pending") == 0
        metrics.on_result(SiteResult("melon", ok=True, items=40, new=3))
        metrics.on_result(SiteResult("melon", ok=True, items=41, new=1))
        metrics.on_result(SiteResult("melon", ok=False, error="HTTP 500"))
        metrics.on_result(SiteResult("yes24", ok=True, skipped=Skipped(now + 60, None)))  # not a crawl
        await store.save_site_state(SiteState("melon", True, now, now - 30, failure_streak=1))
        await store.enqueue(
            [NewOutboxRow("main", "new", "melon", f"k{i}", {"title": "t"}) for i in range(3)], now - 90
        )
        await store.settle([(await store.outbox_list(status="pending"))[0].id], Dead("HTTP 400"), 0.0)
        await store.mark_webhook_broken("main", "HTTP 404", now)
        delivery.stats.sent_alerts, delivery.stats.sent_messages, delivery.stats.failures = 25, 3, 2
        webhooks.rate_limited = 4
        text = (await metrics.render()).decode()
        assert value(text, "ticket_alarm_crawls_total", site="melon") == 3
        assert value(text, "ticket_alarm_crawl_failures_total", site="melon") == 1
        assert value(text, "ticket_alarm_notices_parsed_total", site="melon") == 81
        assert value(text, "ticket_alarm_notices_new_total", site="melon") == 4
        assert value(text, "ticket_alarm_crawls_total", site="yes24") == 0
        assert value(text, "ticket_alarm_last_success_timestamp_seconds", site="melon") == now - 30
        assert value(text, "ticket_alarm_failure_streak", site="melon") == 1
        assert value(text, "ticket_alarm_outbox_pending") == 2
        assert value(text, "ticket_alarm_outbox_oldest_pending_age_seconds") == 90
        assert value(text, "ticket_alarm_dead_letters") == 1
        assert value(text, "ticket_alarm_deliveries_total") == 25
        assert value(text, "ticket_alarm_delivery_messages_total") == 3
        assert value(text, "ticket_alarm_delivery_failures_total") == 2
        assert value(text, "ticket_alarm_discord_rate_limited_total") == 4
        assert value(text, "ticket_alarm_webhook_broken", route="main") == 1
        assert value(text, "ticket_alarm_resident_memory_bytes") == 123 * 1024 * 1024
        # a dedicated registry: two instances do not collide, nothing lands in the global one
        Metrics(store, delivery, webhooks, sites=["melon"], clock=clock)
        from prometheus_client import REGISTRY

        assert REGISTRY.get_sample_value("ticket_alarm_crawls_total", {"site": "melon"}) is None
    finally:
        await store.close()


def test_real_daemon_serves_metrics(
    tmp_path: Path,
    discord: FakeDiscord,
    site: FakeSite,
    notices: TestStandNotices,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    notices.add(3)
    port = free_port()
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook, metrics={"port": port}))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    assert f"metrics: http://127.0.0.1:{port}/metrics" in d.out()
    notices.add(4, prefix="신규")
    d.wait_for(lambda: len(discord.embeds()) == 4, what="4 embeds")
    d.wait_log("크롤링 완료: teststand", count=3)
    resp = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    text = resp.text
    assert value(text, "ticket_alarm_crawls_total", site="teststand") >= 3
    assert value(text, "ticket_alarm_notices_new_total", site="teststand") == 7
    assert value(text, "ticket_alarm_notices_parsed_total", site="teststand") >= 3 + 7 * 2
    assert value(text, "ticket_alarm_deliveries_total") == 4
    assert value(text, "ticket_alarm_outbox_pending") == 0
    assert (
        abs(value(text, "ticket_alarm_last_success_timestamp_seconds", site="teststand") - time.time()) < 30
    )
    assert value(text, "ticket_alarm_resident_memory_bytes") > 10 * 1024 * 1024
    assert value(text, "ticket_alarm_webhook_broken", route="default") == 0
    assert httpx.get(f"http://127.0.0.1:{port}/nope", timeout=5).status_code == 404
    assert d.terminate()[0] == 0


def test_busy_port_is_an_error_but_the_daemon_runs_on(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(1)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        config = write_config(tmp_path, stand_config(tmp_path, site, None, metrics={"port": port}))
        d = DaemonProcess(config, tmp_path)
        daemons.append(d)
        d.wait_log("크롤링 완료: teststand", count=2)
        assert f"[ERROR] metrics endpoint not started on 127.0.0.1:{port}" in d.err()
        assert d.terminate()[0] == 0


def test_metrics_off_without_a_port(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    assert "metrics:" not in d.out()
    assert d.terminate()[0] == 0
