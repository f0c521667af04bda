"""What a new user meets in the first week (issue 15): dry run output, send-test, error messages.

Real processes (``python -m ticket_alarm …``) against the stand-in site and the strict stand-in Discord.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.conftest import run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_dry_run_prints_readable_alerts_and_says_printed(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices
) -> None:
    notices.add(2, prefix="드라이런")
    config = write_config(tmp_path, stand_config(tmp_path, site, None, notify_on_first_run=True))
    result = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.count("[DRY RUN] 테스트 티켓 | 드라이런") == 2
    assert "2027-12-01 (수) 20:00 KST" in out and "<t:" not in out and "](" not in out
    assert "once: 1 sites crawled, 2 alerts printed (dry run: nothing sent)" in out
    assert "alerts delivered" not in out

    # send-test --sample without a webhook: the same readable text, and it says nothing was sent
    sample = run_cli("send-test", "--sample", "teststand", "--config", str(config), cwd=tmp_path)
    assert sample.returncode == 1
    assert "[DRY RUN] 테스트 티켓 | [테스트] 드라이런 2 티켓 오픈 안내" in sample.stdout
    assert "nothing sent" in sample.stdout + sample.stderr


def test_send_test_sample_posts_the_newest_notice_as_its_alert(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord
) -> None:
    webhook = discord.add_webhook()
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook))
    # before any crawl: one clear paragraph, exit 2
    early = run_cli("send-test", "--sample", "teststand", "--config", str(config), cwd=tmp_path)
    assert early.returncode == 2 and "Traceback" not in early.stderr
    assert "run `once` first" in early.stdout + early.stderr
    notices.add(3, prefix="기존")
    assert run_cli("once", "--config", str(config), cwd=tmp_path).returncode == 0  # silent first run
    notices.add(1, prefix="최신")
    assert run_cli("once", "--config", str(config), cwd=tmp_path).returncode == 0
    before = len(discord.embeds())
    result = run_cli("send-test", "--sample", "teststand", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    embeds = discord.embeds()[before:]
    assert len(embeds) == 1
    embed = embeds[0]
    assert embed["title"] == "[테스트] 최신 4 티켓 오픈 안내"
    assert embed["author"] == {"name": "테스트 티켓"}
    assert embed["footer"]["text"].endswith("ticket-alarm send-test --sample")
    assert any(f["name"] == "티켓 오픈" and "<t:" in f["value"] for f in embed["fields"])
    assert "알림 전송: 1건 (send-test" in result.stdout

    unknown = run_cli("send-test", "--sample", "nosuchsite", "--config", str(config), cwd=tmp_path)
    assert unknown.returncode == 2 and "nosuchsite" in unknown.stdout + unknown.stderr


def test_send_test_explains_a_401_like_once_does(
    tmp_path: Path, site: FakeSite, discord: FakeDiscord
) -> None:
    good = discord.add_webhook()
    wrong_token = good.rsplit("/", 1)[0] + "/not-the-token-of-this-webhook-0123456789"
    config = write_config(tmp_path, stand_config(tmp_path, site, wrong_token))
    result = run_cli("send-test", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    text = result.stdout + result.stderr
    assert "answered 401" in text and "deleted or its token is wrong" in text
    assert "Create a new webhook in Discord" in text
    assert "not-the-token-of-this-webhook" not in text  # the token itself is masked


def test_errors_name_the_url_really_requested_and_the_host(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices
) -> None:
    notices.add(1)
    site.fail("/api/notices", *[Response(503, b"down")] * 4)
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    result = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert f"HTTP 503 from {site.base_url}/api/notices" in result.stdout  # the stand-in, not the public host

    site.fail("/api/notices", Response(200, b"<html>not the list</html>", {"Content-Type": "text/html"}))
    result = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert result.returncode == 1
    assert f"from {site.base_url}/api/notices?page=1" in result.stdout  # a parse error names it too
    assert "tickets.teststand.example" not in result.stdout

    port = _closed_port()
    closed = stand_config(tmp_path, site, None, data_dir=str(tmp_path / "closed"))
    closed["sites"]["teststand"] = {"base_url": f"http://127.0.0.1:{port}"}
    result = run_cli("once", "--config", str(write_config(tmp_path, closed, "closed.json")), cwd=tmp_path)
    assert result.returncode == 1
    assert f"connection failed: ConnectError to 127.0.0.1:{port}" in result.stdout


def test_proxy_discord_carries_the_webhook_traffic(tmp_path: Path, site: FakeSite) -> None:
    """proxy.discord: the webhook's own host is unreachable; only the proxy gets the message through."""
    proxy = FakeDiscord().start()  # answers absolute-form requests for its webhooks: a forwarding proxy
    try:
        through = proxy.add_webhook()
        unreachable = through.replace(proxy.server.base_url, f"http://127.0.0.1:{_closed_port()}")
        direct = write_config(tmp_path, stand_config(tmp_path, site, unreachable))
        failed = run_cli("send-test", "--config", str(direct), cwd=tmp_path)
        assert failed.returncode == 1 and "connection failed" in failed.stdout + failed.stderr
        config = stand_config(tmp_path, site, unreachable, proxy={"discord": proxy.server.base_url})
        proxied = run_cli(
            "send-test", "--config", str(write_config(tmp_path, config, "p.json")), cwd=tmp_path
        )
        assert proxied.returncode == 0, proxied.stdout + proxied.stderr
        assert [e["title"] for e in proxy.embeds()] == ["ticket-alarm 테스트 알림"]
    finally:
        proxy.stop()


def test_proxy_discord_password_is_a_secret() -> None:
    from ticket_alarm.config.settings import Settings

    settings = Settings(proxy={"discord": "http://bot:Disc0rdPr0xyPass@127.0.0.1:3128"})
    assert "Disc0rdPr0xyPass" in settings.secrets()
    assert settings.masked()["proxy"]["discord"] == "http://bot:****@127.0.0.1:3128"
