"""Scenario 13 (delivery): the hostile answers of issue 13 against the real daemon and the stand-in Discord.

- 13.1 a store write error right after Discord accepted a batch: the batch is never posted twice;
  the lane posts nothing until the store writes again, says so once, ``health`` reads CRITICAL;
- 13.2 / 13.7 / 13.8 a window of HTML 400 (a proxy echoing the webhook URL), an HTML 403
  (Cloudflare's IP block), a 308 redirect, a batch every single of which is refused alike: lane
  failures with backoff, never dead letters, never "create a new webhook"; only Discord's JSON
  refusal of one embed is a dead letter, ``outbox list --status dead`` shows it and
  ``outbox retry-dead`` resends it; no token reaches the store, ``explain`` or any output;
- 13.4 a broken-webhook mark is cleared by a changed URL (``health`` at once) and by a success;
- 13.6 429 with ``retry_after: 0`` and Cloudflare's HTML 429: at least 1 s between requests, growing.

Windows are short (1.5–4 s): the daemon's behaviour in a 1.5-s window of HTML 400s is the one it has
in a 15-s window, one backoff step per failure.
"""

from __future__ import annotations

import itertools
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    db_file,
    delivered,
    duplicates,
    query,
    token_of,
    wait_until,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.delivery.discord.urls import webhook_fingerprint

pytestmark = pytest.mark.e2e


@pytest.fixture
def fast_discord() -> Iterator[FakeDiscord]:
    fake = FakeDiscord(bucket_limit=50).start()
    yield fake
    threading.Thread(target=fake.stop, daemon=True).start()


def _posts_between(discord: FakeDiscord, start: float, end: float) -> list[tuple[float, int]]:
    with discord.lock:
        return [(t, s) for t, s in discord.requests if start <= t < end]


def _dead(db: Path) -> int:
    return int(query(db, "SELECT count(*) FROM outbox WHERE status='dead'")[0][0])


def test_non_discord_refusals_are_lane_failures_and_dead_letters_can_be_resent(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, fast_discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    discord = fast_discord
    webhook = discord.add_webhook()
    token = token_of(webhook)
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook, notify_on_first_run=True))
    db = db_file(tmp_path / "data")
    figures: list[str] = []
    produced: list[str] = []
    outputs: dict[str, str] = {}
    # A: 1.5 s of HTML 400 from a proxy that echoes the request URL (token included)
    # (every window opens at the first POST it answers: a daemon slow to crawl still meets all of it)
    fault = discord.fail(
        400,
        seconds=1.5,
        raw=f"<html><body><h1>400 Bad Request</h1>POST {webhook}?wait=true</body></html>",
        from_first_post=True,
    )
    produced += notices.add(20, prefix="A")
    d = DaemonProcess(config, tmp_path)
    try:
        d.wait_for(
            lambda: set(delivered(discord)) >= set(produced), 30, "A: the 20 alerts after the HTML 400s"
        )
        assert fault.started is not None, "the daemon never met the HTML 400s"
        during = _posts_between(discord, fault.started, fault.started + 1.5)
        assert _dead(db) == 0, "an HTML 400 made dead letters"
        assert 1 <= len(during) <= 3, during  # one request per backoff step, not one per alert
        figures.append(f"HTML 400 for 1.5s: {len(during)} requests, 0 dead")
        # B: 1.5 s of Cloudflare's HTML 403 (an IP block): not a deleted webhook
        fault = discord.fail(
            403,
            seconds=1.5,
            raw="<html><title>Access denied | discord.com</title>error code: 1006</html>",
            from_first_post=True,
        )
        ids = notices.add(5, prefix="B")
        produced += ids
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "B: alerts after the HTML 403s")
        assert fault.started is not None, "the daemon never met the HTML 403s"
        during = _posts_between(discord, fault.started, fault.started + 1.5)
        assert 1 <= len(during) <= 3, during
        assert "create a new webhook" not in d.out().lower() + d.err().lower()
        assert "Cloudflare blocking this IP" in d.out()
        figures.append(f"HTML 403 for 1.5s: {len(during)} requests, route kept")
        # C: a 308 redirect elsewhere: not followed, not a dead letter
        discord.fail(308, count=1, raw="", headers={"Location": webhook.replace("127.0.0.1", "evil.example")})
        ids = notices.add(3, prefix="C")
        produced += ids
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "C: alerts after the 308")
        assert "redirect to" in d.out() and _dead(db) == 0
        # D: Discord's JSON 400 for the batch and for each of its ten singles: the lane's problem
        discord.fail(400, count=11, body={"code": 50035, "message": "Invalid Form Body"})
        ids = notices.add(10, prefix="D")
        produced += ids
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "D: alerts after a batch refused alike")
        assert _dead(db) == 0, "ten singles refused alike became dead letters"
        assert "refused alike" in d.out()
        figures.append("batch + 10 singles refused alike: 0 dead")
        # E: one embed Discord refuses with its JSON error (echoing the URL): a dead letter, resent later
        discord.fail(
            400, count=1, body={"code": 50035, "message": "Invalid Form Body", "errors": f"at {webhook}"}
        )
        ids = notices.add(1, prefix="E")
        produced += ids
        d.wait_for(lambda: _dead(db) == 1, 30, "E: one dead letter")
        listed = run_cli(
            "outbox", "list", "--status", "dead", "--json", "--config", str(config), cwd=tmp_path
        )
        outputs["outbox list"] = listed.stdout + listed.stderr
        assert listed.returncode == 0, listed.stderr[-2000:]
        rows = json.loads(listed.stdout)
        assert len(rows) == 1 and rows[0]["status"] == "dead" and "****" in rows[0]["last_error"]
        explained = run_cli("explain", "teststand", ids[0], "--json", "--config", str(config), cwd=tmp_path)
        outputs["explain"] = explained.stdout + explained.stderr
        assert explained.returncode == 0, explained.stderr[-2000:]
        resend = run_cli("outbox", "retry-dead", "--route", "default", "--config", str(config), cwd=tmp_path)
        outputs["retry-dead"] = resend.stdout + resend.stderr
        assert resend.returncode == 0 and "1 dead letters queued again" in resend.stdout, resend.stderr
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "E: the dead letter resent")
        again = run_cli("outbox", "retry-dead", "--config", str(config), cwd=tmp_path)
        outputs["retry-dead again"] = again.stdout + again.stderr
        assert again.returncode == 1  # nothing left to resend
        figures.append("1 JSON-refused embed: dead, listed, resent by retry-dead")
        code, _ = d.terminate()
        assert code == 0
    finally:
        d.cleanup()
    counts = delivered(discord)
    stored = " ".join(
        str(r) for r in query(db, "SELECT last_error FROM outbox") + query(db, "SELECT * FROM webhook_state")
    )
    outputs |= {"daemon": d.out() + d.err(), "store error columns": stored}
    report.add(
        "13.2 HTML 400/403, 308, a batch refused alike, one dead letter resent",
        produced=len(produced),
        delivered=sum(counts.values()),
        lost=len(set(produced) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures="; ".join(figures) + "; token in store/explain/outputs: 0",
    )
    assert counts == {i: 1 for i in produced}
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token])


def test_429_with_zero_retry_after_and_cloudflare_html_429_back_off(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, fast_discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    discord = fast_discord
    webhook = discord.add_webhook()
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook, notify_on_first_run=True))
    storm = 3.0
    window = time.monotonic()
    discord.storm_429(storm, [0.0])
    produced = notices.add(5, prefix="storm")
    d = DaemonProcess(config, tmp_path)
    try:
        d.wait_for(
            lambda: set(delivered(discord)) >= set(produced), 30, "alerts after the retry_after 0 storm"
        )
        zero = _posts_between(discord, window, window + storm)
        window = time.monotonic()
        discord.fail(429, seconds=2.0, raw="error code: 1015", content_type="text/plain")
        ids = notices.add(5, prefix="cf")
        produced += ids
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "alerts after Cloudflare's 429s")
        html = _posts_between(discord, window, window + 2.0)
        code, _ = d.terminate()
        assert code == 0
    finally:
        d.cleanup()
    gaps = [round(b[0] - a[0], 2) for a, b in itertools.pairwise(zero)]
    counts = delivered(discord)
    report.add(
        "13.6 429 retry_after 0 (3s) and Cloudflare HTML 429 (2s)",
        produced=len(produced),
        delivered=sum(counts.values()),
        lost=len(set(produced) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures=f"retry_after 0: {len(zero)} requests in {storm:g}s, gaps {gaps}s; "
        f"HTML 429: {len(html)} in 2s",
    )
    # floor 1 s, doubling: requests at 0, 1, 3 s (before: 300 requests in 13 s)
    assert len(zero) <= 4, zero
    assert all(g >= 0.9 for g in gaps), gaps
    assert len(html) <= 3, html
    assert counts == {i: 1 for i in produced}


def test_store_write_error_after_a_post_never_reposts_the_batch(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, report: Report
) -> None:
    """The store refuses writes (another connection holds the write lock past the 10-s busy timeout)
    while Discord's answer to a batch is on the way: ``mark_sent`` fails after Discord accepted."""
    started = time.monotonic()
    discord = FakeDiscord(bucket_limit=50, delay=1.0).start()
    try:
        webhook = discord.add_webhook()
        config = write_config(
            tmp_path, stand_config(tmp_path, site, webhook, notify_on_first_run=True, interval=3600)
        )
        produced = notices.add(15, prefix="full")
        d = DaemonProcess(config, tmp_path)
        blocker: sqlite3.Connection | None = None
        status_seen = ""
        try:
            d.wait_for(lambda: bool(discord.in_flight()), 30, "the first batch in flight")
            blocker = sqlite3.connect(db_file(tmp_path / "data"), timeout=5, isolation_level=None)
            blocker.execute("BEGIN IMMEDIATE")  # every write of the daemon now waits 10 s, then fails
            d.wait_log("store write failed after Discord answered", timeout=30)
            status_seen = (tmp_path / "data" / "ticket-alarm.status").read_text().strip()
            health = run_cli("health", "--no-probe", "--json", "--config", str(config), cwd=tmp_path)
            time.sleep(0.5)
            blocker.execute("ROLLBACK")
            blocker.close()
            blocker = None
            d.wait_for(
                lambda: set(delivered(discord)) >= set(produced), 40, "the rest after the store writes"
            )
            posted_while_owed = len(discord.messages)
            code, _ = d.terminate()
            assert code == 0
        finally:
            if blocker is not None:
                blocker.close()
            d.cleanup()
    finally:
        threading.Thread(target=discord.stop, daemon=True).start()
    counts = delivered(discord)
    rows = dict(query(db_file(tmp_path / "data"), "SELECT status, count(*) FROM outbox GROUP BY status"))
    doc = json.loads(health.stdout)
    checks = {c["name"]: c["status"] for c in doc["checks"]}
    report.add(
        "13.1 store write error after Discord accepted a batch",
        produced=len(produced),
        delivered=sum(counts.values()),
        lost=len(set(produced) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures=f"{posted_while_owed} messages in all (batch of 10 + 5); health {doc['status']} "
        f"(store_writes {checks.get('store_writes')}); outbox at stop {rows}",
    )
    assert counts == {i: 1 for i in produced}, counts  # before: the batch went out again every 5 s
    assert rows == {"sent": 15}
    assert d.out().count("store write failed after Discord answered") == 1  # said once
    assert "store write failed" in status_seen
    assert doc["status"] == "CRITICAL" and checks.get("store_writes") == "CRITICAL", health.stdout
    assert not (tmp_path / "data" / "ticket-alarm.status").read_text().strip().startswith("store")
    assert_no_traceback({"daemon": d.out() + d.err(), "health": health.stdout + health.stderr})


def test_broken_mark_is_cleared_by_a_new_url_and_by_a_success(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, fast_discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    discord = fast_discord
    old = discord.add_webhook("111111111111111111")
    discord.delete_webhook("111111111111111111")
    produced = notices.add(4, prefix="broken")
    settings = stand_config(tmp_path, site, old, notify_on_first_run=True)
    config = write_config(tmp_path, settings)
    d = DaemonProcess(config, tmp_path, "first")
    try:
        d.wait_log("the webhook was deleted or its token is wrong", timeout=30)
        assert d.terminate()[0] == 0
    finally:
        d.cleanup()
    before = run_cli("health", "--no-probe", "--json", "--config", str(config), cwd=tmp_path)
    marked = {c["name"]: c["status"] for c in json.loads(before.stdout)["checks"]}
    assert marked["webhook:default"] == "CRITICAL"
    # the documented fix: a new webhook URL in the config — health says OK at once, before any restart
    new = discord.add_webhook("222222222222222222")
    config = write_config(tmp_path, {**settings, "discord_webhook_url": new})
    after = run_cli("health", "--no-probe", "--json", "--config", str(config), cwd=tmp_path)
    fixed = {c["name"]: c["status"] for c in json.loads(after.stdout)["checks"]}
    assert fixed["webhook:default"] == "OK", after.stdout
    d = DaemonProcess(config, tmp_path, "second")
    try:
        d.wait_for(lambda: set(delivered(discord)) >= set(produced), 30, "the kept alerts on the new URL")
        assert d.terminate()[0] == 0
    finally:
        d.cleanup()
    assert query(db_file(tmp_path / "data"), "SELECT * FROM webhook_state") == []
    # the same URL again after a fix on Discord's side (the webhook answers again): a success clears it
    config = write_config(tmp_path, {**settings, "discord_webhook_url": old})
    discord.deleted.clear()
    conn = sqlite3.connect(db_file(tmp_path / "data"))
    with conn:
        conn.execute("INSERT INTO webhook_state VALUES ('default', 'HTTP 404: Unknown Webhook', 1.0)")
        conn.execute("INSERT INTO meta VALUES ('webhook_url:default', ?)", (webhook_fingerprint(old),))
    conn.close()
    ids = notices.add(2, prefix="again")
    produced += ids
    d = DaemonProcess(config, tmp_path, "third")
    try:
        d.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "alerts on the repaired webhook")
        wait_until(
            lambda: not query(db_file(tmp_path / "data"), "SELECT * FROM webhook_state"), 10, "mark cleared"
        )
        assert d.terminate()[0] == 0
    finally:
        d.cleanup()
    final = run_cli("health", "--no-probe", "--json", "--config", str(config), cwd=tmp_path)
    counts = delivered(discord)
    report.add(
        "13.4 broken webhook: new URL / a success clears the mark",
        produced=len(produced),
        delivered=sum(counts.values()),
        lost=len(set(produced) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures=f"health webhook check: {marked['webhook:default']} → {fixed['webhook:default']} with the "
        "new URL (no restart); mark gone after the first success",
    )
    assert counts == {i: 1 for i in produced}
    assert {c["name"]: c["status"] for c in json.loads(final.stdout)["checks"]}["webhook:default"] == "OK"
