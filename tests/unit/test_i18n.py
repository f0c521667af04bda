"""Messages for Korean operators: Korean by default, English with TICKET_ALARM_LANG=en.

The rest of the suite runs in English (tests/conftest.py); here the Korean default is checked on
the catalog itself, on every health line of a real store, and on the real CLI as a process.
"""

from __future__ import annotations

import ast
import builtins
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from crawlers import registry
from crawlers.base import Crawler
from tests.cli.test_health import FakeMachine, by_name, check, healthy, settings_for
from tests.conftest import child_env, run_cli, stand_config, write_config
from tests.support.inprocess import Here, Ran
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm import i18n
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.load import load_config
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import LANGUAGES, Language
from ticket_alarm.i18n.catalog import LOCALE_DIR, brace_fields, mo_entries
from ticket_alarm.i18n.po import read_po
from ticket_alarm.store import DB_NAME, SCHEMA_VERSION, InstanceLock, NewOutboxRow, SiteState, Store
from ticket_alarm.store.api import Dead
from ticket_alarm.store.sqlite.backend import SqliteStore

HANGUL = re.compile(r"[가-힣]")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_dir(tmp_path / "data")
    yield s
    await s.close()


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


# --- the catalog check: one for all the entries ---------------------------------------------------
CATALOGS = sorted(LOCALE_DIR.glob("*/LC_MESSAGES/*.po"))
# the words the logs and the runbook use in both languages, so English may carry them: the grep phrases
# (크롤링 실패, 알림 전송 실패, 메모리 사용량, …) with the counts they carry ({count}건, {seconds}초);
# send-test's 알림 전송 line keeps the log's own shape, "알림 전송: 1건 …"; 추후 공지 is what an alert
# says of an open time it does not know, quoted as such by a custom site's warning
KEPT_IN_ENGLISH = re.compile(
    r"단독판매|알림 전송 실패|알림 전송: 1건|메모리 사용량|추후 공지|크롤링 (실패|완료|건너뜀)|새 공지:"
    r"|저장소 정리( 실패)?:|알림 전송:|리마인더 (처리 실패|건너뜀)|\{count\}건|\{seconds:\.1f\}초"
    r"|\{offset\}분 전 알림"
)
# the sweep's 크롤링 완료 line and the reminders' queue line are the same in both languages, word for word
SAME_IN_BOTH = {"log.crawled", "log.crawled.first_run", "log.crawled.held", "log.reminders_queued"}


def test_there_are_catalogs_for_korean_english_and_argparse() -> None:
    assert {str(p.relative_to(LOCALE_DIR)) for p in CATALOGS} == {
        "ko/LC_MESSAGES/ticket_alarm.po",
        "en/LC_MESSAGES/ticket_alarm.po",
        "ko/LC_MESSAGES/argparse.po",
    }


@pytest.mark.skipif(shutil.which("msgfmt") is None, reason="msgfmt (Debian: gettext) is not installed")
def test_msgfmt_checks_every_catalog_and_the_compiled_ones_are_up_to_date(tmp_path: Path) -> None:
    """``msgfmt --check-format`` holds each translation to its msgid's fields (the English text's
    {fields}, argparse's %-fields); the committed .mo is what the .po compiles to."""
    for po in CATALOGS:
        fresh = tmp_path / po.with_suffix(".mo").name
        done = subprocess.run(
            ["msgfmt", "--check-format", "-o", str(fresh), str(po)], capture_output=True, text=True
        )
        assert done.returncode == 0, f"{po}:\n{done.stderr}"
        assert mo_entries(fresh) == mo_entries(po.with_suffix(".mo")), (
            f"{po.with_suffix('.mo').name} is older than its .po: run python scripts/catalog.py compile"
        )


def test_korean_and_english_have_the_same_entries_every_one_translated() -> None:
    korean, english = (read_po(LOCALE_DIR / lang / "LC_MESSAGES" / "ticket_alarm.po") for lang in LANGUAGES)
    assert [(e.context, e.msgid) for e in korean] == [(e.context, e.msgid) for e in english]
    problems = []
    for ko, en in zip(korean[1:], english[1:], strict=True):  # [0]: the header
        key = ko.context
        if not (key and ko.msgstr and en.msgstr):
            problems.append(f"{key or ko.msgid!r}: no key or an empty text")
        if brace_fields(en.msgid) and "python-brace-format" not in ko.flags + en.flags:
            problems.append(f"{key}: fields but no python-brace-format flag (msgfmt would not check them)")
        if not HANGUL.search(ko.msgstr) and key not in {"health.daemon.pid"}:
            problems.append(f"{key}: the Korean text is not Korean")
        if en.msgstr != en.msgid or (
            key not in SAME_IN_BOTH and HANGUL.search(KEPT_IN_ENGLISH.sub("", en.msgstr))
        ):
            problems.append(f"{key}: the English text is not the msgid, or has Korean left in it")
    assert not problems, "\n".join(problems)


def keys_used(root: Path) -> dict[str, str]:
    """key → where, for every ``t("key", …)`` / ``i18n.t("key", …)`` with a literal key under ``root``."""
    used = {}
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)):
                continue
            func = node.func
            name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if name == "t" and isinstance(node.args[0].value, str):
                used[node.args[0].value] = f"{path.relative_to(root.parent)}:{node.lineno}"
    return used


def test_every_key_the_code_says_is_in_the_catalogs() -> None:
    root = Path(__file__).resolve().parents[2]
    used = keys_used(root / "ticket_alarm") | keys_used(root / "crawlers")
    assert len(used) > 400  # the scan finds the calls
    for lang in LANGUAGES:
        known = Language.load(lang).messages
        missing = sorted(f"{where}: {key}" for key, where in used.items() if key not in known)
        assert not missing, f"not in the {lang} catalog:\n" + "\n".join(missing)


# --- the language: chosen once, carried as a value ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, "ko"), ("", "ko"), ("ko", "ko"), ("en", "en"), ("EN", "en"), ("en_US.UTF-8", "en")],
)
def test_the_language_is_the_one_ticket_alarm_lang_names(value: str | None, expected: str) -> None:
    environ = {} if value is None else {i18n.LANG_ENV: value}
    assert Language.from_env(environ).code == expected


def test_the_language_is_chosen_once_not_read_on_every_message(
    korean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert i18n.t("health.none") == "없음"
    monkeypatch.setenv(i18n.LANG_ENV, "en")  # after start-up: no effect on the installed language
    assert i18n.t("health.none") == "없음" and i18n.language() == "ko"
    assert Language.load("en").t("health.none") == "none"  # a value of its own, whatever is installed
    i18n.set_language(None)  # read again only when asked
    assert i18n.t("health.none") == "none"


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


def test_pydantic_value_checks_are_korean_and_english_is_pydantics_own(tmp_path: Path, korean: None) -> None:
    bad = {
        "interval": -5,
        "sites": {"melon": {"enabled": "maybe", "interval": "x"}},
        "routes": [{"name": "a", "telegram": {"chat_id": "@tickets"}}],  # webhook_url is optional now
    }
    path = write_config(tmp_path, bad)
    with pytest.raises(ConfigError) as info:
        load_config(path, {})
    korean_text = str(info.value)
    for said in (
        "interval: 1 이상이어야 합니다",
        "sites.melon.enabled: true 또는 false여야 합니다",
        "sites.melon.interval: 숫자여야 합니다",
        "routes[a].telegram.bot_token: 꼭 있어야 하는 키입니다",
    ):
        assert said in korean_text, korean_text
    assert "Input should" not in korean_text
    i18n.set_language("en")
    with pytest.raises(ConfigError) as english:
        load_config(path, {})
    assert "interval: Input should be greater than or equal to 1" in str(english.value)
    assert "sites.melon.enabled: Input should be a valid boolean" in str(english.value)
    assert not HANGUL.search(str(english.value))


def test_a_pydantic_check_the_catalog_does_not_know_keeps_pydantics_words(korean: None) -> None:
    from ticket_alarm.core.sections import pydantic_text

    unknown = {"type": "uuid_parsing", "msg": "Input should be a valid UUID"}
    assert pydantic_text(unknown, unknown["msg"]) == "Input should be a valid UUID"
    short_ctx = {"type": "greater_than_equal", "msg": "Input should be greater than or equal to 1", "ctx": {}}
    assert pydantic_text(short_ctx, short_ctx["msg"]) == short_ctx["msg"]  # never a KeyError


async def test_every_health_line_is_korean(
    tmp_path: Path, store: Store, lock: InstanceLock, korean: None
) -> None:
    clock = FakeClock()
    known: dict[str, type[Crawler]] = registry.discover(include_plugins=False)
    await healthy(store, clock)
    now = clock.now().timestamp()
    await store.enqueue([NewOutboxRow("default", "new", "interpark", "k1", {"title": "a"})], now - 2401)
    await store.enqueue([NewOutboxRow("default", "new", "interpark", "k2", {"title": "b"})], now - 10)
    await store.settle(
        [(await store.outbox_list(status="pending"))[-1].id], Dead("HTTP 400: Invalid Form Body"), 0.0
    )
    settings = settings_for(
        tmp_path,
        sites={"interpark": {"enabled": True}, "yes24": {"enabled": True}, "melon": {"enabled": True}},
        health={"outbox_age_warn": 600},
    )
    await store.save_site_state(
        SiteState("yes24", False, now, None, now, failure_streak=1, last_error="HTTP 503")
    )
    await store.save_site_state(
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
    assert "시험 실행" in by_name(dry)["webhooks"].detail


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
        code = cli.main(["history", "stats", "--config", str(path)])
        out = capsys.readouterr().out
        assert code == 0 and out.startswith("사이트") and "처음 발견" in out and "합계" in out
    finally:
        logger.remove()  # main() bound the sinks to the captured streams
        logger.add(sys.stderr)


# --- the commands' own messages, Korean by default, today's English with TICKET_ALARM_LANG=en ----------


def korean_env() -> dict[str, str]:
    return child_env(TICKET_ALARM_LANG="ko")


def test_crawler_hints_are_resolved_when_raised_not_at_import(korean: None) -> None:
    from crawlers import base

    korean_error = base.html_instead("teststand", b"<html><title>x</title></html>", "the list")
    assert korean_error.hint == base.MOVED_HINT and "HTML 페이지" in (korean_error.hint or "")
    assert "API가 바뀌었습니다" in base.CHANGED_HINT and "`proxy`" in base.CHALLENGE_HINT
    i18n.set_language("en")
    english_error = base.html_instead("teststand", b"<html><title>x</title></html>", "the list")
    assert english_error.hint == base.MOVED_HINT
    assert (english_error.hint or "").startswith("this is the site's HTML page")
    assert base.CHALLENGE_HINT == "challenge page: the site may be blocking this IP; try `proxy`"
    assert "the site's HTML page (title 'x') where JSON was expected from the list" in english_error.reason
    with pytest.raises(AttributeError):
        base.NO_SUCH_HINT  # noqa: B018 - the module __getattr__ still refuses unknown names


def test_test_crawlers_names_a_failing_site_and_its_hint_in_korean(
    here: Here, tmp_path: Path, site: FakeSite
) -> None:
    site.routes["/api/notices"] = lambda _req: Response(200, b"<html><title>maintenance</title></html>")
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    korean = here("test-crawlers", "teststand", "--config", str(config), lang="ko")
    assert korean.returncode == 1, korean.stderr
    assert "사이트" in korean.stdout and "공지" in korean.stdout  # the column headers
    assert re.search(r"^teststand\s+실패\s+200", korean.stdout, re.M), korean.stdout
    assert "    힌트: API가 아니라 사이트의 HTML 페이지입니다" in korean.stdout
    assert "빠른 확인 teststand:" in korean.stdout
    english = here("test-crawlers", "teststand", "--config", str(config))
    assert re.search(r"^teststand\s+FAILED\s+200", english.stdout, re.M), english.stdout
    assert "    hint: this is the site's HTML page, not the API: the endpoint may" in english.stdout
    assert "head poll teststand:" in english.stdout
    assert not HANGUL.search(english.stdout)


def said(result: subprocess.CompletedProcess[str] | Ran) -> str:
    """What a command printed and logged (the log lines go to stdout, --json's to stderr)."""
    return result.stdout + result.stderr


def test_once_outbox_upcoming_backup_and_restore_speak_korean(
    here: Here, tmp_path: Path, site: FakeSite, notices: TestStandNotices
) -> None:
    notices.add(3)
    config = str(write_config(tmp_path, stand_config(tmp_path, site, None)))
    empty = here("upcoming", "--config", config, lang="ko")
    assert empty.returncode == 0 and "기록에 다가오는 오픈이 없습니다" in empty.stdout
    assert "저장소가 아직 없습니다" in said(empty)
    english_empty = here("upcoming", "--config", config)
    assert "no upcoming opens in the history (with these filters)" in english_empty.stdout
    once = here("once", "--config", config, lang="ko")
    assert once.returncode == 0, said(once)
    assert "once: 사이트 1개 크롤링, 알림 0건 출력 (시험 실행: 아무것도 보내지 않음)" in said(once)
    assert "크롤링 완료: teststand" in said(once)  # the runbook's grep phrase, unchanged
    again = here("once", "--config", config)
    assert "once: 1 sites crawled, 0 alerts printed (dry run: nothing sent)" in said(again)
    outbox = here("outbox", "list", "--config", config, lang="ko")
    header = r"\s+ID 상태\s+경로\s+종류\s+사이트\s+생성\s+시도 제목 / 오류$"
    assert re.match(header, outbox.stdout), outbox.stdout
    english_outbox = here("outbox", "list", "--config", config)
    assert re.match(
        r"\s+ID STATUS\s+ROUTE\s+KIND\s+SITE\s+CREATED\s+ATT TITLE / ERROR$", english_outbox.stdout
    )
    retry = here("outbox", "retry-dead", "--route", "x", "--config", config, lang="ko")
    assert retry.returncode == 1 and "실패(dead)한 알림이 없습니다 (경로 x)" in said(retry)
    dest = tmp_path / "backups"
    backup = here("backup", "--dest", str(dest), "--config", config, lang="ko")
    assert backup.returncode == 0, said(backup)
    assert re.search(r"backup: \S+\.tar\.gz 씀 \(기록 3행\), 설정 파일을", said(backup)), said(backup)
    archive = next(line for line in backup.stdout.splitlines() if line.endswith(".tar.gz"))
    restore = here("restore", archive, "--config", config, lang="ko")
    assert (
        restore.returncode == 0 and "복원함 (스키마" in said(restore) and "데몬을 시작하세요" in said(restore)
    )
    missing = here("restore", str(tmp_path / "none.tar.gz"), "--config", config, lang="ko")
    assert missing.returncode == 1 and "그런 백업 파일이 없습니다" in said(missing)
    english = here("backup", "--dest", str(dest), "--config", config)
    assert re.search(r"backup: \S+\.tar\.gz written \(3 history rows\), config copied to", said(english))
    for out in (said(english_empty), english_outbox.stdout, said(english)):
        assert not HANGUL.search(out), out


def test_help_is_korean_and_english_on_request(here: Here) -> None:
    korean = here("--help", lang="ko")
    assert korean.returncode == 0 and "티켓 오픈 공지를 지켜보고" in korean.stdout
    assert "SIGTERM/SIGINT까지 데몬을 실행합니다" in korean.stdout and "test-crawlers" in korean.stdout
    once = here("once", "--help", lang="ko")
    assert "전송이 요청 한도와 재시도 대기를 기다려 줄 시간 (기본값 120)" in once.stdout
    english = here("--help")
    assert "Watch Korean ticketing sites for ticket-open notices" in english.stdout
    assert not HANGUL.search(english.stdout)
    # argparse's own words too: its usage line, its section titles and its error lines
    assert korean.stdout.startswith("사용법: ticket-alarm") and "\n옵션:\n" in korean.stdout
    assert "이 도움말을 보여 주고 끝냅니다" in korean.stdout and "usage:" not in korean.stdout
    assert english.stdout.startswith("usage: ticket-alarm") and "\noptions:\n" in english.stdout
    wrong = here("zzzz", lang="ko")  # nothing like a command: argparse's own line, in Korean
    assert wrong.returncode == 2 and "ticket-alarm: 오류: 인수 command: 잘못된 선택: 'zzzz'" in wrong.stderr
    assert "invalid choice" in here("zzzz").stderr
    typo = here("helth", lang="ko")
    assert (
        typo.returncode == 2 and "ticket-alarm: 오류: 알 수 없는 명령 'helth'. 혹시 `health`?" in typo.stderr
    )
    assert "unknown command 'helth'. Did you mean `health`?" in here("helth").stderr
    missing = here("outbox", lang="ko")
    assert missing.returncode == 2 and "다음 인수가 필요합니다: action" in missing.stderr


def test_every_argparse_word_the_catalog_translates_is_one_argparse_says() -> None:
    """A msgid argparse no longer uses would silently stay English: each one must be in its source."""
    import argparse
    import inspect

    source = inspect.getsource(argparse)
    entries = read_po(LOCALE_DIR / "ko" / "LC_MESSAGES" / "argparse.po")[1:]
    assert len(entries) > 15
    for entry in entries:
        msgid = entry.msgid
        assert repr(msgid) in source or repr(msgid).replace("'", '"') in source, msgid


@pytest.mark.parametrize("shell", ["bash", "zsh"])
def test_completion_scripts_parse_in_their_shell_in_either_language(shell: str, korean: None) -> None:
    from ticket_alarm import cli
    from ticket_alarm.cli import completion

    korean_script = completion.script(cli.build_parser(), shell)
    i18n.set_language("en")
    assert completion.script(cli.build_parser(), shell) == korean_script  # no help text leaks into it
    if shutil.which(shell) is None:
        pytest.skip(f"{shell} is not installed")
    check = subprocess.run([shell, "-n"], input=korean_script, capture_output=True, text=True, timeout=10)
    assert check.returncode == 0, check.stderr


SENTENCE = re.compile(r"[A-Za-z]{3,} [a-z]{2,} [a-z]{2,}")  # three words: prose, not a key or a path


def prose_in(node: ast.AST) -> list[ast.Constant]:
    return [
        part
        for part in ast.walk(node)
        if isinstance(part, ast.Constant) and isinstance(part.value, str) and SENTENCE.search(part.value)
    ]


def test_no_message_literal_is_left_in_the_converted_commands() -> None:
    """The commands converted to the catalog print, log and raise only catalog text, and every hint
    comes from it: an English sentence literal there is a message someone forgot to move."""
    root = Path(__file__).resolve().parents[2]
    converted = [
        "ticket_alarm/ops/backup.py",
        "ticket_alarm/web/upcoming.py",
        "ticket_alarm/store/postgres/transfer.py",
        "crawlers/base.py",
        *(f"ticket_alarm/cli/{p.name}" for p in sorted((root / "ticket_alarm" / "cli").glob("*.py"))),
        "ticket_alarm/app.py",
        "ticket_alarm/ops/history.py",
        "ticket_alarm/store/files.py",
        "ticket_alarm/fetch/http.py",
        "ticket_alarm/fetch/conditional.py",
        "ticket_alarm/fetch/decode.py",
        "ticket_alarm/fetch/status.py",
        "crawlers/registry.py",
        "ticket_alarm/store/__init__.py",
        "ticket_alarm/store/sql/store.py",
        "ticket_alarm/store/sqlite/backend.py",
        "ticket_alarm/store/postgres/engine.py",
        "ticket_alarm/store/postgres/replicas.py",
        "ticket_alarm/delivery/notify.py",
        "crawlers/custom/crawler.py",
    ]
    crawlers = [str(p.relative_to(root)) for p in (root / "crawlers").rglob("*.py")]
    hinted = sorted({*converted, *crawlers, "ticket_alarm/daemon/pipeline.py"})
    left = []
    for name in hinted:
        tree = ast.parse((root / name).read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            texts = [k.value for k in node.keywords if k.arg == "hint"]
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            operators = called not in dir(builtins) or called == "print"  # not ValueError: a programmer's
            said = called in {"print", "info", "warning", "error", "MigrationRefused"} or called.endswith(
                "Error"
            )
            if name in converted and operators and said:
                texts += node.args
            left += [f"{name}:{part.lineno}: {part.value[:60]!r}" for arg in texts for part in prose_in(arg)]
        for node in ast.walk(tree):  # a module-level hint constant is resolved at import: not allowed
            if isinstance(node, ast.Assign) and any(
                isinstance(target, ast.Name) and target.id.endswith("HINT") for target in node.targets
            ):
                left += [f"{name}:{node.lineno}: a HINT constant (resolve it when raised)"]
    assert not left, "messages not in the catalog:\n" + "\n".join(left)


def test_melon_and_yes24_say_what_is_wrong_with_the_page_in_korean(korean: None) -> None:
    from crawlers import melon, yes24
    from ticket_alarm.errors import ParseError

    with pytest.raises(ParseError) as info:
        yes24.parse(b"<div>nothing here</div>", "https://ticket.yes24.com/list")
    assert "div.noti-tbl 표가 없습니다" in info.value.reason
    assert "yes24 크롤러를 고쳐야" in (info.value.hint or "")
    with pytest.raises(ParseError) as info:
        melon.parse(b"<html><head><title>Melon</title></head><body><p>x</p></body></html>")
    assert "ul.list_ticket_cont가 없습니다" in info.value.reason
    assert "페이지 제목 'Melon'" in info.value.reason
    assert "crawlers/melon.py를 고쳐야" in (info.value.hint or "")


def test_an_unknown_site_is_said_in_korean_with_the_name_it_most_likely_meant(korean: None) -> None:
    from crawlers import registry
    from ticket_alarm.errors import ConfigError

    known = registry.discover(include_plugins=False)
    with pytest.raises(ConfigError) as typo:
        registry.get("melonn", known)
    assert str(typo.value) == (
        "알 수 없는 사이트 'melonn'; 아는 사이트: interpark, melon, ticketlink, yes24. 혹시 `melon`?"
    )
    i18n.set_language("en")
    with pytest.raises(ConfigError) as far:
        registry.get("xyz", known)
    assert str(far.value) == "unknown site 'xyz'; known sites: interpark, melon, ticketlink, yes24."


def test_a_broken_webhook_is_explained_in_korean_with_its_token_masked(korean: None) -> None:
    from ticket_alarm.delivery.discord.webhook import broken_webhook_text

    url = "https://discord.com/api/webhooks/123456789012345678/SECRETTOKENabcdef"
    gone = broken_webhook_text("concerts", url, 404, "Unknown Webhook")
    assert gone.startswith("경로 concerts 웹훅 ") and "404 응답 (Unknown Webhook)" in gone
    assert "웹훅이 삭제되었거나 토큰이 틀렸습니다" in gone and "SECRETTOKEN" not in gone
    refused = broken_webhook_text("concerts", url, 403)
    assert "Discord가 이 웹훅을 거부했습니다" in refused and "thread_id" in refused
    i18n.set_language("en")
    assert "answered 404 (Unknown Webhook) — the webhook was deleted" in broken_webhook_text(
        "concerts", url, 404, "Unknown Webhook"
    )


# --- the store's and the lock's errors: what an operator meets first on a broken data_dir ----------


def test_a_data_dir_under_a_file_and_a_foreign_sqlite_file_are_refused_in_korean(
    here: Here, tmp_path: Path, site: FakeSite
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    under = str(write_config(tmp_path, stand_config(tmp_path, site, None, data_dir=str(blocker / "data"))))
    korean = here("once", "--config", under, lang="ko")
    assert korean.returncode == 2, said(korean)
    assert f"data_dir {blocker / 'data'}: 폴더를 만들거나 잠글 수 없습니다" in korean.stderr, korean.stderr
    assert "data_dir을 다른 곳으로 지정하세요" in korean.stderr and "Traceback" not in said(korean)
    english = here("once", "--config", under)
    assert english.returncode == 2
    assert f"data_dir {blocker / 'data'}: cannot create it or lock it (Not a directory); make it a " in (
        english.stderr
    )
    assert not HANGUL.search(english.stderr), english.stderr
    foreign_dir = tmp_path / "foreign"
    foreign_dir.mkdir()
    conn = sqlite3.connect(foreign_dir / DB_NAME)
    conn.execute("CREATE TABLE notes(body TEXT)")
    conn.commit()
    conn.close()
    config = str(
        write_config(tmp_path, stand_config(tmp_path, site, None, data_dir=str(foreign_dir)), "foreign.json")
    )
    refused = here("once", "--config", config, lang="ko")
    assert refused.returncode == 2, said(refused)
    assert (
        f"{foreign_dir / DB_NAME}: ticket-alarm이 만든 SQLite 파일이 아닙니다 (스키마 버전 없음); "
        "data_dir을 새 폴더로 지정하세요." in refused.stderr
    ), refused.stderr
    health = here("health", "--no-probe", "--config", config, lang="ko")
    assert health.returncode == 2 and "CRITICAL store: " in health.stdout, health.stdout
    assert "스키마 버전 0은 이 프로그램이 아는 버전(1.." in health.stdout
    english_health = here("health", "--no-probe", "--config", config)
    assert "schema version 0 is not one this program knows (1.." in english_health.stdout
    assert not HANGUL.search(english_health.stdout)


def test_a_newer_schema_and_a_second_daemon_are_refused_in_korean(
    here: Here, tmp_path: Path, site: FakeSite, lock: InstanceLock
) -> None:
    held = str(write_config(tmp_path, stand_config(tmp_path, site, None, data_dir=str(tmp_path / "data"))))
    korean = here("once", "--config", held, lang="ko")
    assert korean.returncode == 2, said(korean)
    assert (
        f"다른 ticket-alarm 프로세스(pid {os.getpid()})가 data_dir {tmp_path / 'data'}를 쓰고 있습니다; "
        "먼저 그 프로세스를 멈추거나(supervisorctl stop ticket-alarm:monitor)" in korean.stderr
    ), korean.stderr
    english = here("once", "--config", held)
    assert (
        f"another ticket-alarm process (pid {os.getpid()}) is using data_dir {tmp_path / 'data'}; "
        "stop it first (supervisorctl stop ticket-alarm:monitor) or use another data_dir." in english.stderr
    ), english.stderr
    newer_dir = tmp_path / "newer"
    SqliteStore.open_dir(newer_dir).close_sync()
    conn = sqlite3.connect(newer_dir / DB_NAME)
    conn.execute(f"PRAGMA user_version={SCHEMA_VERSION + 1}")
    conn.commit()
    conn.close()
    config = str(
        write_config(tmp_path, stand_config(tmp_path, site, None, data_dir=str(newer_dir)), "new.json")
    )
    refused = here("once", "--config", config, lang="ko")
    assert refused.returncode == 2, said(refused)
    assert (
        f"스키마 버전 {i18n.josa(str(SCHEMA_VERSION + 1), '은')} "
        f"이 프로그램이 아는 버전({SCHEMA_VERSION})보다 새롭습니다; "
        "ticket-alarm을 업그레이드하거나 백업을 복원하세요." in refused.stderr
    ), refused.stderr


def test_a_wrong_postgresql_password_is_said_in_korean_and_stays_masked(
    here: Here, tmp_path: Path, site: FakeSite, pg_url: str
) -> None:
    from tests.support.postgres import PASSWORD

    wrong = pg_url.replace(PASSWORD, "Wr0ng-" + PASSWORD)
    config = str(write_config(tmp_path, stand_config(tmp_path, site, None, store_url=wrong)))
    korean = here("once", "--config", config, lang="ko")
    assert korean.returncode == 2, said(korean)
    assert ": PostgreSQL에 연결할 수 없습니다 (" in korean.stderr, korean.stderr
    assert "store_url(호스트, 포트, 사용자, 비밀번호, 데이터베이스)" in korean.stderr
    english = here("once", "--config", config)
    assert (
        "cannot connect to PostgreSQL" in english.stderr and "check store_url (host, port" in english.stderr
    )
    for out in (said(korean), said(english)):
        assert PASSWORD not in out and "****" in out, out


def test_the_stores_other_errors_are_korean_when_raised(korean: None, tmp_path: Path) -> None:
    """The in-process errors a CLI run cannot easily provoke: each is resolved when raised."""
    from ticket_alarm.delivery.notify import Alert, AlertFormatError
    from ticket_alarm.errors import StoreError
    from ticket_alarm.store import open_store
    from ticket_alarm.store.postgres.replicas import replicas_check
    from ticket_alarm.store.replicas import ReplicaRow
    from ticket_alarm.store.sqlite.connection import verify_copy

    with pytest.raises(StoreError) as scheme:
        open_store("mysql://h/db")
    assert str(scheme.value).startswith("store_url: 알 수 없는 스킴 'mysql'; data_dir 경로, sqlite:///DIR")
    junk = tmp_path / "junk.sqlite3"
    junk.write_bytes(b"not sqlite at all " * 300)
    with pytest.raises(StoreError) as copy:
        verify_copy(junk, what="백업 파일")
    assert "백업 파일: 읽을 수 있는 SQLite 데이터베이스가 아닙니다 (" in str(copy.value)
    with pytest.raises(StoreError) as missing:
        SqliteStore.open_readonly(tmp_path / "none" / DB_NAME)
    assert "아직 저장소가 없습니다 (데몬이 처음 시작할 때 만듭니다)" in str(missing.value)
    with pytest.raises(AlertFormatError) as alert:
        Alert.from_json({"kind": "new"})
    assert str(alert.value).startswith("'alert' 키 없음: Alert가 아닙니다")
    row = ReplicaRow("a", "box-1", "box", 41, 0.0, 90.0, None, True, ("melon",))
    status, detail = replicas_check([row], ["melon", "yes24"], now=100.0)
    assert status == "WARNING" and detail.startswith("레플리카가 2개 중 1개만 남았습니다"), detail
    assert "box-1 (pid 41, 살아 있음, 하트비트 10초 전): melon" in detail
    assert "지금 어느 레플리카도 크롤링하지 않는 사이트: yes24" in detail
    i18n.set_language("en")
    with pytest.raises(StoreError) as english:
        open_store("mysql://h/db")
    assert str(english.value) == (
        "store_url: unknown scheme 'mysql'; use a data_dir path, sqlite:///DIR, memory: or postgresql://HOST/DB."
    )
    assert replicas_check([row], ["melon"], now=100.0)[1] == (
        "only 1 replica left of 2: if it stops, nobody takes over — "
        "box-1 (pid 41, alive, heartbeat 10s ago): melon"
    )


def test_a_custom_sites_unreadable_open_time_is_warned_in_korean(korean: None) -> None:
    from crawlers.custom.crawler import parse_html_page
    from tests.unit.test_crawler_generic import HANBIT_LIST, _definition, _fixture

    page = _fixture("hanbit_notice_page1.html").decode().replace("2027.11.20(토) 14:00", "곧 공개")
    [warning] = parse_html_page(page, _definition("hanbit"), HANBIT_LIST).warnings
    assert "오픈 시각 '곧 공개'는 " in warning and "날짜가 아닙니다; 추후 공지로 보냅니다" in warning
    i18n.set_language("en")
    [english] = parse_html_page(page, _definition("hanbit"), HANBIT_LIST).warnings
    assert (
        "open time '곧 공개' is not a date " in english and "sent as 추후 공지 (set open_at_format" in english
    )


def test_every_postgresql_operation_has_its_korean_name() -> None:
    """``_tx("lease renewal")`` names its operation in English; ``_error`` says it from the catalog, so
    a new operation without an entry would leave an English word in a Korean error."""
    root = Path(__file__).resolve().parents[2]
    named = set()
    for path in (root / "ticket_alarm" / "store" / "postgres").glob("*.py"):
        named |= set(re.findall(r'_tx\("([a-z ]+)"\)|_error\("([a-z ]+)"', path.read_text(encoding="utf-8")))
    operations = {name for pair in named for name in pair if name} | {"write"}  # _tx()'s default
    assert operations >= {"read", "write", "lease renewal", "replica heartbeat", "store migrate"}
    assert not {op for op in operations if not i18n.has("pg.op." + op.replace(" ", "_"))}
