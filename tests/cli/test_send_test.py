"""``send-test``: the sample alert of the newest notice, a 401 explained like ``once`` explains it, and
``proxy.discord`` (the traffic goes through it; its password is a secret). Real processes
(``python -m ticket_alarm …``) against the stand-in site and the strict stand-in Discord."""

from __future__ import annotations

from pathlib import Path

from tests.conftest import stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.inprocess import Here
from tests.support.ports import free_port
from tests.support.site_standin import FakeSite, TestStandNotices


def test_send_test_sample_posts_the_newest_notice_as_its_alert(
    here: Here, tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord
) -> None:
    webhook = discord.add_webhook()
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook))
    # before any crawl: one clear paragraph, exit 2
    early = here("send-test", "--sample", "teststand", "--config", str(config))
    assert early.returncode == 2 and "Traceback" not in early.stderr
    assert "run `once` first" in early.stdout + early.stderr
    notices.add(3, prefix="기존")
    assert here("once", "--config", str(config)).returncode == 0  # silent first run
    notices.add(1, prefix="최신")
    assert here("once", "--config", str(config)).returncode == 0
    before = len(discord.embeds())
    result = here("send-test", "--sample", "teststand", "--config", str(config))
    assert result.returncode == 0, result.stdout + result.stderr
    embeds = discord.embeds()[before:]
    assert len(embeds) == 1
    embed = embeds[0]
    assert embed["title"] == "[테스트] 최신 4 티켓 오픈 안내"
    assert embed["author"] == {"name": "테스트 티켓"}
    assert embed["footer"]["text"].endswith("ticket-alarm send-test --sample")
    assert any(f["name"] == "티켓 오픈" and "<t:" in f["value"] for f in embed["fields"])
    assert "알림 전송: 1건 (send-test" in result.stdout

    unknown = here("send-test", "--sample", "nosuchsite", "--config", str(config))
    assert unknown.returncode == 2 and "nosuchsite" in unknown.stdout + unknown.stderr


def test_send_test_explains_a_401_like_once_does(
    here: Here, tmp_path: Path, site: FakeSite, discord: FakeDiscord
) -> None:
    good = discord.add_webhook()
    wrong_token = good.rsplit("/", 1)[0] + "/not-the-token-of-this-webhook-0123456789"
    config = write_config(tmp_path, stand_config(tmp_path, site, wrong_token))
    result = here("send-test", "--config", str(config))
    assert result.returncode == 1
    text = result.stdout + result.stderr
    assert "answered 401" in text and "deleted or its token is wrong" in text
    assert "Create a new webhook in Discord" in text
    assert "not-the-token-of-this-webhook" not in text  # the token itself is masked


def test_proxy_discord_carries_the_webhook_traffic(here: Here, tmp_path: Path, site: FakeSite) -> None:
    """proxy.discord: the webhook's own host is unreachable; only the proxy gets the message through."""
    proxy = FakeDiscord().start()  # answers absolute-form requests for its webhooks: a forwarding proxy
    try:
        through = proxy.add_webhook()
        unreachable = through.replace(proxy.server.base_url, f"http://127.0.0.1:{free_port()}")
        direct = write_config(tmp_path, stand_config(tmp_path, site, unreachable))
        failed = here("send-test", "--config", str(direct))
        assert failed.returncode == 1 and "connection failed" in failed.stdout + failed.stderr
        config = stand_config(tmp_path, site, unreachable, proxy={"discord": proxy.server.base_url})
        proxied = here("send-test", "--config", str(write_config(tmp_path, config, "p.json")))
        assert proxied.returncode == 0, proxied.stdout + proxied.stderr
        assert [e["title"] for e in proxy.embeds()] == ["ticket-alarm 테스트 알림"]
    finally:
        proxy.stop()


def test_proxy_discord_password_is_a_secret() -> None:
    from ticket_alarm.config.settings import Settings

    settings = Settings(proxy={"discord": "http://bot:Disc0rdPr0xyPass@127.0.0.1:3128"})
    assert "Disc0rdPr0xyPass" in settings.secrets()
    assert settings.masked()["proxy"]["discord"] == "http://bot:****@127.0.0.1:3128"


def test_send_test_reaches_every_destination_of_every_route(
    here: Here, tmp_path: Path, site: FakeSite, discord: FakeDiscord
) -> None:
    from tests.support.ntfy_standin import FakeNtfy
    from tests.support.telegram_standin import FakeTelegram

    ntfy, telegram = FakeNtfy().start(), FakeTelegram().start()
    try:
        ntfy.protect("locked", "tk_abcdefghijklmnopqrstuvwxyz012")
        chat = {
            "bot_token": telegram.add_bot(),
            "chat_id": telegram.add_chat().id,
            "api_base": telegram.api_base,
        }
        routes = [
            {"name": "fans", "webhook_url": discord.add_webhook(), "ntfy_url": ntfy.topic_url("fans")},
            {"name": "phone", "ntfy_url": ntfy.topic_url("phone"), "telegram": chat},
        ]
        config = write_config(tmp_path, stand_config(tmp_path, site, None, routes=routes))
        result = here("send-test", "--config", str(config))
        assert result.returncode == 0, result.stdout + result.stderr
        assert len(discord.messages) == 1 and [m.topic for m in ntfy.messages] == ["fans", "phone"]
        assert ntfy.published()[0]["title"] == "ticket-alarm 테스트 알림"
        assert len(telegram.texts()) == 1 and "ticket-alarm 테스트 알림" in telegram.texts()[0]
        lanes = ("fans,", "fans/ntfy,", "phone/ntfy,", "phone/telegram,")
        assert all(f"send-test, route {lane}" in result.stdout for lane in lanes), result.stdout

        locked = [{"name": "locked", "ntfy_url": ntfy.topic_url("locked")}]  # no token: ntfy says 403
        config = write_config(tmp_path, stand_config(tmp_path, site, None, routes=locked), name="locked.json")
        refused = here("send-test", "--config", str(config))
        assert refused.returncode == 1 and "route locked/ntfy ntfy topic" in refused.stdout + refused.stderr
        assert "answered 403" in refused.stdout + refused.stderr
    finally:
        ntfy.stop()
        telegram.stop()
