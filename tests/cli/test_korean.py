"""Issue 21, a first week in Korean: one language in the log (the real daemon against the stand-in
sites and Discord writes no English sentence: key names, URLs, site names, titles and quoted server
replies aside), particles that fit the word before them, hints a fan can act on, and a first `once`
that says what it is doing."""

from __future__ import annotations

import io
import json
import logging
import re
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, child_env, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.ports import free_port
from tests.support.real_sites import SITES, RealSites
from tests.support.server import Request, Response
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm import i18n
from ticket_alarm.i18n import final_sound, josa
from ticket_alarm.logs import setup_logging

KO = {"TICKET_ALARM_LANG": "ko"}


@pytest.fixture
def korean(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv(i18n.LANG_ENV, raising=False)
    i18n.set_language(None)  # unset: Korean
    yield
    i18n.set_language("en")


# what may stay Latin inside a Korean line: URLs, paths, key names (a.b, snake_case), site names,
# HTTP reason phrases in parentheses, units and the level/timestamp prefix
_ALLOWED = [
    r"「[^」]*」",  # a notice's title, as the site wrote it
    r"\{[^{}]*\}",  # a server's own JSON reply, quoted
    r"https?://\S+",
    rf"\b(?:{'|'.join(SITES)})\b",  # site names
    r"(?:/[\w.\-]+)+/?",
    r"\([A-Z][A-Za-z\- ]+\)",  # (Service Unavailable), (Not Found)
    r"\b[\w\-]+(?:\.[\w\-]+)+\b",  # web.token, config.json, sites.melon.page_cap
    r"\b\w+_\w+\b",  # snake_case keys
    r"\bticket-alarm(?::\w+)?\b",
    r"`[^`]*`",  # a command to run
    r"\bHTTP(?: \d{3})?\b",
    r"\b(?:RSS|MB|KST|UTC|SIGINT|SIGTERM|SIGHUP|Discord|Retry-After|JavaScript)\b",
]
# two English words in a row are already a phrase ("status page", "dry run"), stricter than three
ENGLISH_RUN = re.compile(r"\b[A-Za-z]{2,}(?:[ ,:;'\-]+[A-Za-z]{2,})+\b")


def english_sentences(log: str) -> list[str]:
    """Lines of ``log`` with a run of two or more English words outside the allowlist."""
    bad = []
    for line in log.splitlines():
        text = re.sub(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \[\w+\] ", "", line)  # time and level
        for pattern in _ALLOWED:
            text = re.sub(pattern, " ", text)
        if ENGLISH_RUN.search(text):
            bad.append(line)
    return bad


def test_the_filter_finds_english_and_passes_korean() -> None:
    assert english_sentences("2026-12-06 12:00:00 [INFO] status page: http://127.0.0.1:1/")
    assert english_sentences("2026-12-06 12:00:00 [WARNING] 알림 전송 실패: route default retried in 2s")
    assert not english_sentences(
        "2026-12-06 12:00:00 [INFO] 알림 전송: 1건 — melon 「Winter Live Tour」 (https://a.example/b)"
    )
    assert not english_sentences(
        '2026-12-06 12:00:00 [ERROR] 알림 전송 실패: 경로 default HTTP 503: {"message": "Bad Gateway"}'
    )


@pytest.fixture
def real_sites() -> Iterator[RealSites]:
    sites = RealSites().start()
    yield sites
    sites.stop()


@pytest.mark.e2e
def test_a_full_daemon_run_in_korean_has_no_english_sentence(
    tmp_path: Path, discord: FakeDiscord, real_sites: RealSites, daemons: list[DaemonProcess]
) -> None:
    discord.bucket_limit = 50
    webhook = discord.add_webhook()
    discord.fail(503, count=1)  # one failed post: the retry line
    config = {
        "interval": 4,
        "head_interval": 2,
        "data_dir": str(tmp_path / "data"),
        "notify_on_first_run": True,
        "discord_webhook_url": webhook,
        "sites": {"teststand": {"enabled": False}, **{n: {"base_url": real_sites.base_url} for n in SITES}},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
        "web": {"port": free_port()},
    }
    path = write_config(tmp_path, config)
    d = DaemonProcess(path, tmp_path, env=child_env(TICKET_ALARM_LANG="ko"))
    daemons.append(d)
    for site in SITES:
        d.wait_log(f"크롤링 완료: {site}", count=2, timeout=90)
    d.wait_log("알림 전송:", timeout=60)
    d.proc.send_signal(signal.SIGINT)
    assert d.proc.wait(timeout=20) == 0
    log = d.out() + d.err()
    assert "크롤링 실패" not in log  # Ctrl-C is not a failed crawl
    assert english_sentences(log) == [], "\n".join(english_sentences(log))


# --- particles ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("word", "subject", "object_", "topic", "with_", "to"),
    [
        ("멜론", "멜론이", "멜론을", "멜론은", "멜론과", "멜론으로"),
        ("티켓링크", "티켓링크가", "티켓링크를", "티켓링크는", "티켓링크와", "티켓링크로"),
        ("서울", "서울이", "서울을", "서울은", "서울과", "서울로"),  # ㄹ: 로, not 으로
        ("seventeen", "seventeen이", "seventeen을", "seventeen은", "seventeen과", "seventeen으로"),
        (
            "'SEVENTEEN'",
            "'SEVENTEEN'이",
            "'SEVENTEEN'을",
            "'SEVENTEEN'은",
            "'SEVENTEEN'과",
            "'SEVENTEEN'으로",
        ),
        ("default", "default가", "default를", "default는", "default와", "default로"),
        ("melon", "melon이", "melon을", "melon은", "melon과", "melon으로"),
        ("ticketlink", "ticketlink가", "ticketlink를", "ticketlink는", "ticketlink와", "ticketlink로"),
        ("Spring", "Spring이", "Spring을", "Spring은", "Spring과", "Spring으로"),  # -ng: ㅇ
        ("festival", "festival이", "festival을", "festival은", "festival과", "festival로"),  # -l: ㄹ
        ("BTS", "BTS가", "BTS를", "BTS는", "BTS와", "BTS로"),  # spelled out: 에스
        ("IU", "IU가", "IU를", "IU는", "IU와", "IU로"),
        ("GOR", "GOR이", "GOR을", "GOR은", "GOR과", "GOR로"),  # 알: ㄹ
        ("KAN", "KAN이", "KAN을", "KAN은", "KAN과", "KAN으로"),  # 엔
        ("yes24", "yes24가", "yes24를", "yes24는", "yes24와", "yes24로"),  # 사
        ("401", "401이", "401을", "401은", "401과", "401로"),  # 일: ㄹ
        ("503", "503이", "503을", "503은", "503과", "503으로"),  # 삼
        ("2029", "2029가", "2029를", "2029는", "2029와", "2029로"),  # 구
        ("10", "10이", "10을", "10은", "10과", "10으로"),  # 영 (십 too)
        ("(없음)", "(없음)이", "(없음)을", "(없음)은", "(없음)과", "(없음)으로"),  # marks skipped
        ("***", "***이(가)", "***을(를)", "***은(는)", "***과(와)", "***(으)로"),  # unknown: both forms
        ("", "이(가)", "을(를)", "은(는)", "과(와)", "(으)로"),
    ],
)
def test_the_particle_fits_the_final_sound(
    word: str, subject: str, object_: str, topic: str, with_: str, to: str
) -> None:
    assert [josa(word, p) for p in ("이", "을", "은", "과", "으로")] == [subject, object_, topic, with_, to]
    assert [josa(word, p) for p in ("가", "를", "는", "와", "로")] == [subject, object_, topic, with_, to]


def test_final_sound_reads_hangul_digits_and_latin() -> None:
    assert final_sound("값") == "ㅄ" and final_sound("예매") == "" and final_sound("팔") == "ㄹ"
    assert final_sound("x") == "" and final_sound("!") is None


def test_the_catalog_fits_particles_after_fields(korean: None) -> None:
    assert i18n.t("route.included", keyword="SEVENTEEN") == "include 'SEVENTEEN'이 맞음"
    assert i18n.t("route.included", keyword="아이유") == "include '아이유'가 맞음"
    assert i18n.t("route.site", site="melon", sites="x").startswith("사이트 melon이 ")
    assert i18n.t("route.site", site="yes24", sites="x").startswith("사이트 yes24가 ")
    assert "경로 seventeen이 받음" in i18n.t("route.catch_all.taken", route="seventeen")
    # a word that only begins like a particle (이다, 은행) is left alone
    assert i18n.t("log.scheduler_busy", site="melon", what="전체 확인").startswith("melon: 앞선 전체 확인이 ")


# --- APScheduler, Ctrl-C -------------------------------------------------------------------------


def test_apschedulers_busy_warning_is_one_korean_line(korean: None) -> None:
    out, err = io.StringIO(), io.StringIO()
    setup_logging(stdout=out, stderr=err)
    busy = logging.getLogger("apscheduler.executors.default")
    for _ in range(3):  # every 30 s while a slow site holds its job: said once
        busy.warning(
            'Execution of job "head poll ticketlink (trigger: interval[0:00:30], next run at: '
            '2026-12-06 03:00:30 UTC)" skipped: maximum number of running instances reached (1)'
        )
    busy.warning('Execution of job "crawl melon (trigger: x)" skipped: maximum number of running instances')
    lines = out.getvalue().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "ticketlink: 앞선 빠른 확인이 아직 끝나지 않아 이번 차례는 건너뜁니다 (사이트가 느리게 답하는 중)",
        "melon: 앞선 전체 확인이 아직 끝나지 않아 이번 차례는 건너뜁니다 (사이트가 느리게 답하는 중)",
    ]
    assert "UTC" not in out.getvalue() and err.getvalue() == ""  # INFO: nothing is lost


@pytest.mark.e2e
def test_ctrl_c_during_a_hung_crawl_is_no_failed_crawl(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(2)
    config = write_config(tmp_path, stand_config(tmp_path, site, None, http={"timeout": 30, "retries": 0}))
    d = DaemonProcess(config, tmp_path, env=child_env(**KO))
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    site.fail("/api/notices", Response(hang=True))  # the next crawl waits on a site that never answers
    d.wait_log(
        "이번 차례는 건너뜁니다"
    )  # interval 1 s: APScheduler skips the turns meanwhile, said in Korean
    d.proc.send_signal(signal.SIGINT)
    assert d.proc.wait(timeout=15) == 0
    log = d.out() + d.err()
    assert "SIGINT 받음: 종료합니다" in log and "teststand: 종료하느라 크롤링을 멈췄습니다" in log
    assert "크롤링 실패" not in log  # the runbook's count of failures does not count restarts
    assert "Execution of job" not in log and log.count("이번 차례는 건너뜁니다") == 1
    assert english_sentences(log) == [], "\n".join(english_sentences(log))


# --- hints, the first once ----------------------------------------------------------------------

JS_WALL = (
    "<!DOCTYPE html><html><head><title>NOL</title></head><body>"
    "<noscript>이 페이지를 보려면 JavaScript를 켜 주세요</noscript>"
    "<script src='/challenge.js'></script></body></html>"
).encode()


@pytest.mark.e2e
def test_a_javascript_wall_gets_the_proxy_hint_not_the_moved_endpoint(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices
) -> None:
    notices.add(1)
    site.fail("/api/notices", Response(200, JS_WALL, {"Content-Type": "text/html; charset=utf-8"}))
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    result = run_cli("once", "--config", str(config), cwd=tmp_path, env=child_env(**KO), timeout=60)
    assert result.returncode == 1
    assert "봇 확인 페이지" in result.stdout and "proxy.https" in result.stdout
    assert "옮겨졌을" not in result.stdout and "크롤러를 고쳐야" not in result.stdout
    assert f"{site.base_url}/api/notices" in result.stdout  # the URL really requested


@pytest.mark.e2e
def test_the_first_once_says_per_site_what_it_read_on_stderr(tmp_path: Path, real_sites: RealSites) -> None:
    config = {
        "data_dir": str(tmp_path / "data"),
        "sites": {"teststand": {"enabled": False}, **{n: {"base_url": real_sites.base_url} for n in SITES}},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
    }
    path = write_config(tmp_path, config)
    result = run_cli("once", "--config", str(path), cwd=tmp_path, env=child_env(**KO), timeout=120)
    assert result.returncode == 0, result.stderr
    assert "읽는 중" not in result.stdout  # stdout stays the log a script reads
    for site in SITES:
        lines = [line for line in result.stderr.splitlines() if line.startswith(f"once: {site} 읽는 중")]
        assert lines, result.stderr
        assert re.fullmatch(rf"once: {site} 읽는 중 — 페이지 \d+개 읽음, 공지 \d+건까지", lines[0])


# --- the small things, through the real CLI ---------------------------------------------------


@pytest.mark.e2e
def test_the_small_things_a_fan_meets_in_korean(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    discord: FakeDiscord,
    daemons: list[DaemonProcess],
) -> None:
    env = child_env(**KO)
    typo = run_cli("onec", env=env, cwd=tmp_path)
    assert typo.returncode == 2 and "알 수 없는 명령 'onec'. 혹시 `once`?" in typo.stderr
    notices.add(2, prefix="아이유 콘서트")
    config = write_config(
        tmp_path, stand_config(tmp_path, site, discord.add_webhook(), notify_on_first_run=True)
    )
    discord.fail(503, count=-1)  # Discord down: the alerts wait in the outbox
    once = run_cli("once", "--wait", "0", "--config", str(config), cwd=tmp_path, env=env)
    assert once.returncode == 1, once.stdout + once.stderr
    empty = run_cli("history", "search", "없는공연", "--config", str(config), cwd=tmp_path, env=env)
    assert empty.returncode == 1
    assert empty.stdout.splitlines() == [line for line in empty.stdout.splitlines() if "[INFO]" in line]
    assert "처음 발견" not in empty.stdout  # no table of headers alone: one line says it
    assert "history search: '없는공연'에 맞는 공지가 없습니다" in empty.stdout
    notice_id = json.loads(
        run_cli(
            "history", "--json", "search", "아이유", "--config", str(config), cwd=tmp_path, env=env
        ).stdout
    )[0]["id"]
    text = run_cli("explain", "teststand", notice_id, "--config", str(config), cwd=tmp_path, env=env).stdout
    assert "변경 기록:" in text and "처음 발견" in text and "대기열에 넣음" in text and "시도 " in text
    assert english_sentences(text) == [], text
    discord.clear_faults()
    d = DaemonProcess(config, tmp_path, env=env)
    daemons.append(d)
    d.wait_log("ticket-alarm 시작")
    assert "대기 알림 2건" in d.out()  # the start banner says what waits in the outbox
    d.wait_for(lambda: len(discord.embeds()) == 2, what="the two waiting alerts")
    assert d.terminate()[0] == 0


@pytest.mark.e2e
def test_head_polls_fail_and_recover_in_korean_naming_the_url_really_requested(
    tmp_path: Path, real_sites: RealSites, daemons: list[DaemonProcess]
) -> None:
    down = {"on": False}

    def hook(req: Request) -> Response | None:
        if down["on"] and req.path == "/help/getNoticeList":
            return Response(200, b"<html><title>x</title>not the list</html>", {"Content-Type": "text/html"})
        return None

    real_sites.site.hook = hook
    config = {
        "interval": 600,  # one sweep; then head polls every second
        "head_interval": 1,
        "data_dir": str(tmp_path / "data"),
        "sites": {"teststand": {"enabled": False}, **{n: {"enabled": n == "ticketlink"} for n in SITES}},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
    }
    config["sites"]["ticketlink"]["base_url"] = real_sites.base_url
    d = DaemonProcess(write_config(tmp_path, config), tmp_path, env=child_env(**KO))
    daemons.append(d)
    d.wait_log("크롤링 완료: ticketlink")
    down["on"] = True
    d.wait_for(lambda: "ticketlink: 빠른 확인 실패: " in d.err(), what="a failed head poll")
    line = next(x for x in d.err().splitlines() if "빠른 확인 실패" in x)
    assert f"{real_sites.base_url}/help/getNoticeList" in line, line  # as a sweep names it
    assert "ticketlink.co.kr" not in line  # not the public address the crawler asked for
    down["on"] = False
    d.wait_log("ticketlink: 빠른 확인이 ")  # … N번 실패한 뒤 다시 됩니다
    assert d.terminate()[0] == 0
    log = d.out() + d.err()
    assert english_sentences(log) == [], "\n".join(english_sentences(log))
