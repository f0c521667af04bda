"""Issue 14: the monitoring kit in deploy/ — Prometheus rules and scrape example checked by Debian's
``promtool``, and a Grafana dashboard whose every query uses a metric the daemon really exports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import RouteSettings
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.ops.metrics import Metrics
from ticket_alarm.store import SiteState
from ticket_alarm.store.sqlite.backend import SqliteStore

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS = ROOT / "deploy" / "prometheus"
RULES = PROMETHEUS / "ticket-alarm.rules.yml"
DASHBOARD = ROOT / "deploy" / "grafana" / "ticket-alarm.json"
METRIC = re.compile(r"\b(ticket_alarm_[a-z0-9_]+|up)\b(?=\s*[{\[)\s]|$)")
PROMETHEUS_OWN = {"up"}
# every family the daemon exports today is on a panel or in a rule (a family added later is only
# required to be real: the check above; add it here when it gets a panel)
SHOWN = {
    "ticket_alarm_crawls_total",
    "ticket_alarm_crawl_failures_total",
    "ticket_alarm_notices_parsed_total",
    "ticket_alarm_notices_new_total",
    "ticket_alarm_last_success_timestamp_seconds",
    "ticket_alarm_failure_streak",
    "ticket_alarm_crawl_interval_seconds",
    "ticket_alarm_outbox_pending",
    "ticket_alarm_outbox_oldest_pending_age_seconds",
    "ticket_alarm_dead_letters",
    "ticket_alarm_deliveries_total",
    "ticket_alarm_delivery_messages_total",
    "ticket_alarm_delivery_failures_total",
    "ticket_alarm_dead_lettered_total",
    "ticket_alarm_discord_rate_limited_total",
    "ticket_alarm_webhook_broken",
    "ticket_alarm_resident_memory_bytes",
    "ticket_alarm_max_rss_bytes",
}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    binary = shutil.which("promtool")
    if binary is None:
        pytest.fail("promtool is not installed: apt-get install -y prometheus (scripts/test.sh does it)")
    return subprocess.run([binary, *args], capture_output=True, text=True, timeout=60, cwd=str(PROMETHEUS))


async def exported(tmp_path: Path) -> set[str]:
    """Every sample name the daemon's /metrics has, with every optional family switched on."""
    clock = FakeClock()
    store = SqliteStore.open_dir(tmp_path / "data")
    try:
        route = RouteSettings(
            name="main", webhook_url="http://127.0.0.1:9/api/webhooks/123456789012345678/tokentokentoken"
        )
        webhooks = WebhookClient(httpx.AsyncClient(), clock)
        metrics = Metrics(
            store,
            Delivery(store, [DiscordNotifier.for_route(route, webhooks)], clock),
            webhooks,
            sites=["melon"],
            routes=["main"],
            clock=clock,
            intervals={"melon": 300.0},
            max_rss_mb=512,
        )
        await store.save_site_state(SiteState("melon", True, 1.0, 1.0))
        text = (await metrics.render()).decode()
    finally:
        await store.close()
    return {s.name for family in text_string_to_metric_families(text) for s in family.samples}


def rule_exprs() -> list[str]:
    return [line.split("expr:", 1)[1].strip() for line in RULES.read_text().splitlines() if "expr:" in line]


def dashboard_exprs() -> list[str]:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for panel in doc["panels"] for t in panel["targets"]]


def names_in(expr: str) -> set[str]:
    return set(METRIC.findall(expr))


def test_rules_pass_promtool_check_and_their_unit_tests() -> None:
    check = promtool("check", "rules", str(RULES))
    assert check.returncode == 0, check.stdout + check.stderr
    found = int(re.search(r"SUCCESS: (\d+) rules found", check.stdout).group(1))  # type: ignore[union-attr]
    assert found == len(rule_exprs()) == 9  # every rule's expr is read by the name check below
    tests = promtool("test", "rules", "ticket-alarm.rules.test.yml")
    assert tests.returncode == 0, tests.stdout + tests.stderr
    config = promtool("check", "config", "prometheus.example.yml")
    assert config.returncode == 0, config.stdout + config.stderr


def test_rules_cover_what_the_issue_asks_for() -> None:
    text = RULES.read_text()
    for alert in (
        "TicketAlarmSiteFailing",  # a site failing for 15 minutes
        "TicketAlarmNoSuccessfulSweep",  # no successful sweep for 3 intervals
        "TicketAlarmOutboxStuck",
        "TicketAlarmDeadLetters",
        "TicketAlarmDown",
        "TicketAlarmMemoryNearCeiling",  # RSS near max_rss_mb
    ):
        assert f"alert: {alert}" in text, alert
    assert "for: 15m" in text and "3 * ticket_alarm_crawl_interval_seconds" in text


async def test_every_query_uses_a_metric_the_daemon_exports(tmp_path: Path) -> None:
    names = await exported(tmp_path)
    assert "ticket_alarm_crawls_total" in names and "ticket_alarm_max_rss_bytes" in names
    known = names | PROMETHEUS_OWN
    used: set[str] = set()
    for where, exprs in (("rules", rule_exprs()), ("dashboard", dashboard_exprs())):
        assert exprs, where
        for expr in exprs:
            metrics = names_in(expr)
            assert metrics, (where, expr)
            assert metrics <= known, (where, expr, metrics - known)
            used |= metrics
    assert names >= SHOWN, f"no longer exported: {sorted(SHOWN - names)}"
    assert used >= SHOWN, f"on no panel or rule: {sorted(SHOWN - used)}"


def test_the_name_check_would_catch_a_wrong_name() -> None:
    assert names_in('rate(ticket_alarm_crawl_total{job="$job"}[5m])') == {"ticket_alarm_crawl_total"}
    assert names_in("up == 0") == {"up"}
    assert names_in("time() - ticket_alarm_last_success_timestamp_seconds") == {
        "ticket_alarm_last_success_timestamp_seconds"
    }


def test_dashboard_is_importable_grafana_json() -> None:
    doc = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert doc["uid"] == "ticket-alarm" and doc["__inputs"][0]["name"] == "DS_PROMETHEUS"
    ids = [p["id"] for p in doc["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in doc["panels"]:
        assert panel["datasource"]["uid"] == "${DS_PROMETHEUS}" and panel["targets"], panel["title"]
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"])
