"""Scenario 7: secrets. Webhook tokens (two routes and the ops webhook), an ntfy access token, a Telegram
bot token and a proxy password must never appear in a log line, a CLI output, a diagnostic or the store
— even at DEBUG, even when every site request fails through that proxy (a closed 127.0.0.1 port) and
the errors are printed.

Every other scenario greps its own outputs for its webhook token too (``assert_no_secrets``); the
terminal report sums up how much was scanned.
"""

from __future__ import annotations

import socket
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    db_file,
    delivered,
    query,
    token_of,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.ntfy_standin import FakeNtfy
from tests.support.site_standin import FakeSite, TestStandNotices
from tests.support.telegram_standin import FakeTelegram

pytestmark = pytest.mark.e2e

PROXY_USER = "alarmbot"
PROXY_PASSWORD = "Pr0xy-P4ss-w0rd-SECRET"
NTFY_TOKEN = "tk_ntfysecretntfysecretntfysecre"
BOT_TOKEN = "7654321098:AAFbotSECRETbotSECRETbotSECRETbotSEC"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when the block ends: nothing listens there


def test_no_token_or_proxy_password_in_any_output(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    notices.add(3, prefix="기존")
    main = discord.add_webhook("323456789012345678")
    other = discord.add_webhook("423456789012345678")
    ops = discord.add_webhook("523456789012345678")
    proxy = f"http://{PROXY_USER}:{PROXY_PASSWORD}@127.0.0.1:{_closed_port()}"
    ntfy = FakeNtfy().start()
    ntfy.protect("main-alerts", NTFY_TOKEN)
    bots = FakeTelegram().start()
    bot_id, _, bot_secret = BOT_TOKEN.partition(":")
    bots.add_bot(int(bot_id), bot_secret)
    telegram = {"bot_token": BOT_TOKEN, "chat_id": bots.add_chat().id, "api_base": bots.api_base}
    routes = [
        {
            "name": "main",
            "webhook_url": main,
            "ntfy_url": ntfy.topic_url("main-alerts"),
            "ntfy_token": NTFY_TOKEN,
        },
        {"name": "other", "webhook_url": other, "include": ["없는키워드"], "telegram": telegram},
    ]
    direct = stand_config(
        tmp_path, site, None, routes=routes, health={"ops_webhook_url": ops}, log_level="DEBUG"
    )
    proxied = {**direct, "proxy": {"http": proxy, "https": proxy}, "data_dir": str(tmp_path / "proxied")}
    direct_path = write_config(tmp_path, direct)
    proxied_path = write_config(tmp_path, proxied, name="proxied.json")
    secrets = [token_of(main), token_of(other), token_of(ops), PROXY_PASSWORD, NTFY_TOKEN, BOT_TOKEN]
    secrets.append(BOT_TOKEN.split(":")[1])  # the secret half alone, too
    outputs: dict[str, str] = {}

    # the daemon through the dead proxy: every crawl fails, and says why
    d = DaemonProcess(proxied_path, tmp_path, "proxied")
    try:
        d.wait_log("크롤링 실패: teststand", count=2, timeout=60)
        assert d.terminate()[0] == 0
    finally:
        d.cleanup()
    outputs["run via proxy"] = d.out() + d.err()
    assert "connection failed" in d.out() or "proxy" in d.out().lower()

    # the daemon without the proxy: a real alert goes out on one route, the other filters it
    d2 = DaemonProcess(direct_path, tmp_path, "direct")
    try:
        d2.wait_log("크롤링 완료: teststand")
        ids = notices.add(2, prefix="신규")
        d2.wait_for(lambda: set(delivered(discord)) >= set(ids), 30, "2 alerts")
        assert d2.terminate()[0] == 0
    finally:
        d2.cleanup()
    outputs["run direct"] = d2.out() + d2.err()
    # really at DEBUG: the request and webhook lines that could carry a secret are written and scanned
    assert "[DEBUG] teststand: GET " in d2.out() and "[DEBUG] route main: posting" in d2.out()

    commands = [
        ("check-config",),
        ("once",),
        ("test-crawlers",),
        ("test-crawlers", "--json"),
        ("test-crawlers", "teststand", "--file", str(direct_path)),
        ("send-test",),
        ("health",),
        ("health", "--json", "--notify"),
        ("explain", "teststand", ids[0]),
        ("explain", "teststand", "nosuch", "--json"),
        ("history", "stats"),
        ("backup", "--dest", str(tmp_path / "backups")),
    ]
    codes = {}

    def each(config: Path) -> list[tuple[tuple[str, ...], subprocess.CompletedProcess[str]]]:
        return [(c, run_cli(*c, "--config", str(config), cwd=tmp_path, timeout=60)) for c in commands]

    with ThreadPoolExecutor(max_workers=2) as pool:  # one worker per config (each its own data_dir)
        for config, results in zip(
            (direct_path, proxied_path), pool.map(each, (direct_path, proxied_path)), strict=True
        ):
            for command, result in results:
                outputs[f"{config.name}: {' '.join(command)}"] = result.stdout + result.stderr
                codes[(config.name, command[0], len(command))] = result.returncode
    # the commands did their work (a secret-free output that only says "error" would prove nothing)
    for name in ("config.json", "proxied.json"):
        assert codes[(name, "check-config", 1)] == 0 and codes[(name, "send-test", 1)] == 0
        assert codes[(name, "explain", 3)] == (0 if name == "config.json" else 1)
        assert codes[(name, "backup", 3)] == 0
    assert codes[("config.json", "once", 1)] == 0 and codes[("proxied.json", "once", 1)] == 1
    assert (
        codes[("config.json", "test-crawlers", 1)] == 0 and codes[("proxied.json", "test-crawlers", 1)] == 1
    )
    assert len(discord.messages) >= 2 + 2 * 2 + 1  # the alerts, send-test on both routes twice, health notify
    assert len(ntfy.messages) >= 2 + 2 and {m.authorization for m in ntfy.messages} == {
        f"Bearer {NTFY_TOKEN}"
    }
    assert len(bots.texts()) >= 2  # send-test reached the chat, from both configs
    ntfy.stop()
    bots.stop()
    failures = [k for k, v in outputs.items() if "proxied" in k and "test-crawlers" in k and "FAILED" in v]
    assert failures, "test-crawlers through the dead proxy should print its failure"
    stored = {
        "site_state": repr(query(db_file(tmp_path / "proxied"), "SELECT * FROM site_state")),
        "outbox errors": repr(query(db_file(tmp_path / "data"), "SELECT last_error FROM outbox")),
    }
    assert_no_traceback({k: v for k, v in outputs.items() if "--file" not in k})
    assert_no_secrets({**outputs, **stored}, secrets)
    assert_no_secrets(outputs, [f"{PROXY_USER}:{PROXY_PASSWORD}", proxy])
    lines = sum(v.count("\n") + 1 for v in outputs.values())
    report.add(
        "7 secrets: 3 webhook tokens, ntfy and Telegram tokens, a proxy password",
        produced=len(ids),
        delivered=sum(delivered(discord)[i] for i in ids),
        lost=len(set(ids) - set(delivered(discord))),
        duplicates=0,
        seconds=time.monotonic() - started,
        figures=f"{len(outputs)} outputs ({lines} lines) at DEBUG + the store's error columns: 0 hits",
    )
