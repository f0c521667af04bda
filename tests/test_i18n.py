"""Messages for Korean operators: Korean by default, English with TICKET_ALARM_LANG=en.

The rest of the suite runs in English (tests/conftest.py); here the Korean default is checked on
the catalog itself, on every health line of a real store, and on the real CLI as a process.
"""

from __future__ import annotations

import json
import re
import string
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawlers import registry
from crawlers.base import Crawler
from tests.conftest import child_env, run_cli, write_config
from tests.test_health import FakeMachine, by_name, check, healthy, settings_for
from ticket_alarm import i18n
from ticket_alarm.clock import FakeClock
from ticket_alarm.config import load_config
from ticket_alarm.errors import ConfigError
from ticket_alarm.store import InstanceLock, NewOutboxRow, SiteState, Store

HANGUL = re.compile(r"[가-힣]")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    s = Store.open_dir(tmp_path / "data")
    yield s
    s.close()


@pytest.fixture
def lock(tmp_path: Path) -> Iterator[InstanceLock]:
    held = InstanceLock(tmp_path / "data")
    held.acquire()  # this process plays the daemon, as in test_health
    yield held
    held.release()


@pytest.fixture
def korean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    i18n.set_language(None)  # follow the environment: unset means Korean
    yield
    i18n.set_language("en")


def fields(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name is not None}


@pytest.mark.parametrize("key", sorted(i18n.MESSAGES))
def test_every_message_has_both_languages_with_the_same_fields(key: str) -> None:
    korean, english = i18n.MESSAGES[key]
    assert fields(korean) == fields(english), key
    assert HANGUL.search(korean) or key in {"health.daemon.pid"}, f"{key}: the Korean text is not Korean"
    # English has no Korean but the words the logs and the runbook use in both languages
    # (send-test's 알림 전송 line keeps the log's own shape, "알림 전송: 1건 …", in English too)
    kept = re.sub("단독판매|알림 전송 실패|알림 전송: 1건|메모리 사용량", "", english)
    assert not HANGUL.search(kept), f"{key}: Korean left in the English text"


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "ko"), ("", "ko"), ("ko", "ko"), ("en", "en"), ("EN", "en"), ("en_US.UTF-8", "en")],
)
def test_the_language_follows_ticket_alarm_lang(
    monkeypatch: pytest.MonkeyPatch, korean: None, value: str | None, expected: str
) -> None:
    if value is not None:
        monkeypatch.setenv(i18n.LANG_ENV, value)
    assert i18n.language() == expected


def test_an_unknown_message_key_is_a_bug_not_a_blank() -> None:
    with pytest.raises(KeyError):
        i18n.t("no.such.message")
    with pytest.raises(ValueError, match="expected one of ko, en"):
        i18n.set_language("fr")


def test_ticket_alarm_lang_is_not_an_unknown_config_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(i18n.LANG_ENV, "en")
    path = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    assert load_config(path, {}).data_dir == tmp_path / "data"


def test_config_errors_are_korean_and_keep_the_key_names(tmp_path: Path, korean: None) -> None:
    path = write_config(tmp_path, {"intervall": 5})
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    message = str(info.value)
    assert "설정 오류" in message and "intervall: 알 수 없는 키" in message and "`interval`" in message
    with pytest.raises(ConfigError, match="설정 파일이 없습니다"):
        load_config(tmp_path / "missing.json", {})


async def test_every_health_line_is_korean(
    tmp_path: Path, store: Store, lock: InstanceLock, korean: None
) -> None:
    clock = FakeClock()
    known: dict[str, type[Crawler]] = registry.discover(include_plugins=False)
    healthy(store, clock)
    now = clock.now().timestamp()
    store.enqueue([NewOutboxRow("default", "new", "interpark", "k1", {"title": "a"})], now - 2401)
    store.enqueue([NewOutboxRow("default", "new", "interpark", "k2", {"title": "b"})], now - 10)
    store.mark_dead([store.outbox_list(status="pending")[-1].id], "HTTP 400: Invalid Form Body")
    settings = settings_for(
        tmp_path,
        sites={"interpark": {"enabled": True}, "yes24": {"enabled": True}, "melon": {"enabled": True}},
        health={"outbox_age_warn": 600},
    )
    store.save_site_state(SiteState("yes24", False, now, None, now, failure_streak=1, last_error="HTTP 503"))
    store.save_site_state(
        SiteState("melon", True, now, now - 60, now, failure_streak=1, locked_until=now + 1800)
    )
    for probe_status in (200, 404, None, 500):
        report = await check(
            settings, known, clock, probe_status=probe_status, system=FakeMachine(cpu=99, disk=90)
        )
        for line in report.lines():
            assert HANGUL.search(line), f"not Korean: {line}"
    checks = by_name(report)
    assert (
        checks["site:yes24"].status == "WARNING"
        and "한 번도 크롤링에 성공하지 못함" in checks["site:yes24"].detail
    )
    assert "알림 전송 실패" in checks["outbox"].detail  # the phrase the runbook greps, in both languages
    assert report.lines()[0].startswith("CRITICAL 전체:")
    dry = await check(settings_for(tmp_path, discord_webhook_url=None), known, clock)
    assert "드라이 런" in by_name(dry)["webhooks"].detail


def test_the_cli_speaks_korean_by_default_and_english_on_request(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    korean = run_cli("check-config", "--json", "--config", str(path), env=child_env(TICKET_ALARM_LANG="ko"))
    assert korean.returncode == 0 and json.loads(korean.stdout)["mode"].startswith("dry run")
    assert "설정 정상" in korean.stderr and "웹훅 없음" in korean.stderr
    health = run_cli("health", "--no-probe", "--config", str(path), env=child_env(TICKET_ALARM_LANG="ko"))
    assert health.returncode == 3 and "UNKNOWN data_dir: data_dir" in health.stdout
    assert "폴더가 아직 없습니다" in health.stdout
    env = {k: v for k, v in child_env().items() if k != i18n.LANG_ENV}  # unset: Korean too
    unset = run_cli("health", "--no-probe", "--config", str(path), env=env)
    assert "폴더가 아직 없습니다" in unset.stdout
    english = run_cli("health", "--no-probe", "--config", str(path), env=child_env(TICKET_ALARM_LANG="en"))
    assert "does not exist yet" in english.stdout and not re.search(r"[가-힣]", english.stdout)


def test_history_messages_are_korean(
    tmp_path: Path, korean: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from loguru import logger

    from ticket_alarm import cli

    monkeypatch.delenv("TICKET_ALARM_CONFIG", raising=False)
    path = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    try:
        code = cli.main(["history", "import", str(tmp_path / "old.json"), "--config", str(path)])
        err = capsys.readouterr().err
        assert code == 1 and "그런 파일이 없습니다; 아무것도 가져오지 않았습니다" in err
        (tmp_path / "old.json").write_text('["0cc175b9c0f1b6a8"]', encoding="utf-8")
        code = cli.main(["history", "import", str(tmp_path / "old.json"), "--config", str(path)])
        out = capsys.readouterr().out
        assert code == 0 and "가져옴: 1건 추가, 0건은 이미 있음" in out and "항목 1개 읽음" in out
    finally:
        logger.remove()  # main() bound the sinks to the captured streams
        logger.add(sys.stderr)
