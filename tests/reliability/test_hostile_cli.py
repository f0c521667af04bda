"""Issue 20, item 6: the smaller hostile conditions, each met as a user meets it (real CLI, real daemon).

- ``PYTHONIOENCODING=ascii``: ``--help`` and ``check-config`` write escaped text, never a traceback;
- a config saved as CP949 or UTF-16 is named as such, with the ``iconv`` command that converts it;
- ``TICKET_ALARM_LANG=xx``: one warning naming the allowed values; pydantic's "finite number" in Korean;
- NOL's ``0001-01-01T00:00:00`` open date is TBA, not "1-01-01 00:00";
- bidi controls (U+202E …) are stripped from scraped text on the status page and in Discord;
- a symlinked config resolves its relative ``data_dir`` beside the real file: one store, one daemon;
- without ``web.token``, ``/healthz`` shows no paths nor webhook ids, and no answer names its server;
- a head poll stopped at its page cap (every row new) starts the sweep at once.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import DaemonProcess, child_env, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.live_sites import FIRST_OPEN, LiveNotice, LiveSites
from tests.support.ports import free_port
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e  # every test runs the real CLI or the real daemon
FIXTURES = Path(__file__).parents[1] / "fixtures"
BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"


def _plain_config(folder: Path, **extra: object) -> Path:
    return write_config(folder, {"data_dir": "data", "sites": {"melon": {"enabled": False}}, **extra})


# --- the command line -------------------------------------------------------------------------------


def test_an_ascii_output_encoding_gets_escaped_text_not_a_traceback(tmp_path: Path) -> None:
    config = _plain_config(tmp_path)
    env = child_env(PYTHONIOENCODING="ascii", TICKET_ALARM_LANG="ko")
    helped = run_cli("--help", env=env, cwd=tmp_path)
    assert helped.returncode == 0 and "Traceback" not in helped.stderr, helped.stderr[-800:]
    assert "\\u" in helped.stdout  # the Korean help, escaped
    checked = run_cli("check-config", "--config", str(config), env=env, cwd=tmp_path)
    assert checked.returncode == 0 and "Traceback" not in checked.stderr, checked.stderr[-800:]
    doc = json.JSONDecoder().raw_decode(checked.stdout)[0]  # \uXXXX is a JSON escape: it still parses
    assert doc["data_dir"] == str(tmp_path / "data") and any(ord(ch) > 0x7F for ch in doc["delivery"])
    first = json.loads((FIXTURES / "nol" / "upcoming_open_cursor0.json").read_bytes())["notices"][0]
    page = tmp_path / "nol.json"
    notice = {**first, "title": "🎫 티켓 오픈 안내"}  # beyond the BMP: a surrogate pair of escapes
    page.write_text(json.dumps({"notices": [notice], "summary": {"next_cursor": None}}), encoding="utf-8")
    listed = run_cli(
        "test-crawlers", "interpark", "--file", str(page), "--json", "--config", str(config), env=env
    )
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr[-800:]
    assert json.loads(listed.stdout)["sites"][0]["parsed"][0]["title"].startswith("🎫 티켓 오픈")


@pytest.mark.skipif(shutil.which("iconv") is None, reason="iconv is not installed")
@pytest.mark.parametrize(("encoding", "expected"), [("CP949", "CP949"), ("UTF-16", "UTF-16")])
def test_a_config_not_in_utf8_is_named_with_the_command_that_converts_it(
    tmp_path: Path, encoding: str, expected: str
) -> None:
    text = json.dumps({"data_dir": "데이터", "sites": {"melon": {"enabled": False}}}, ensure_ascii=False)
    config = tmp_path / "config.json"
    config.write_bytes(text.encode("cp949" if encoding == "CP949" else "utf-16"))  # with a BOM
    result = run_cli(
        "check-config", "--config", str(config), cwd=tmp_path, env=child_env(TICKET_ALARM_LANG="ko")
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if "[ERROR]" in line]
    assert len(errors) == 1, result.stderr
    assert "권한" not in errors[0] and "permission" not in errors[0]  # not a permissions problem
    assert f"{config}: " in errors[0] and f"{expected} 인코딩" in errors[0], errors[0]
    command = errors[0].split("UTF-8로 바꾸세요: ", 1)[1].split(" 후 ", 1)[0]
    assert command.startswith(f"iconv -f {expected} -t UTF-8 ")
    subprocess.run(command, shell=True, check=True, cwd=tmp_path, timeout=30)  # what the user runs
    converted = tmp_path / "config.utf8.json"
    fixed = run_cli("check-config", "--config", str(converted), cwd=tmp_path)
    assert fixed.returncode == 0, fixed.stderr[-800:]
    assert json.JSONDecoder().raw_decode(fixed.stdout)[0]["data_dir"] == str(tmp_path / "데이터")


def test_an_unknown_language_warns_once_naming_the_allowed_values(tmp_path: Path) -> None:
    config = _plain_config(tmp_path)
    for value in ("xx", "fr_FR.UTF-8"):
        result = run_cli(
            "check-config", "--config", str(config), cwd=tmp_path, env=child_env(TICKET_ALARM_LANG=value)
        )
        assert result.returncode == 0, result.stderr[-800:]
        warnings = [line for line in result.stderr.splitlines() if f"TICKET_ALARM_LANG={value!r}" in line]
        assert len(warnings) == 1 and "ko, en" in warnings[0], result.stderr
        assert "using Korean" in warnings[0]  # said in English too: the reader's language is unknown
    for value in ("ko", "en_US.UTF-8"):
        quiet = run_cli(
            "check-config", "--config", str(config), cwd=tmp_path, env=child_env(TICKET_ALARM_LANG=value)
        )
        assert quiet.returncode == 0 and "TICKET_ALARM_LANG" not in quiet.stderr, (value, quiet.stderr)


def test_an_infinite_number_is_refused_in_korean(tmp_path: Path) -> None:
    config = tmp_path / "config.json"
    config.write_text('{"interval": 1e400, "sites": {"melon": {"enabled": false}}}', encoding="utf-8")
    result = run_cli(
        "check-config", "--config", str(config), cwd=tmp_path, env=child_env(TICKET_ALARM_LANG="ko")
    )
    assert result.returncode == 2
    assert "interval: 유한한 숫자여야 합니다" in result.stderr and "finite number" not in result.stderr


def test_a_nol_open_date_of_year_0001_is_tba(tmp_path: Path) -> None:
    first = json.loads((FIXTURES / "nol" / "upcoming_open_cursor0.json").read_bytes())["notices"][0]
    dates = [
        {"ticket_open_date": "0001-01-01T00:00:00", "ticket_open_type": 1, "general_later": False},
        {
            "ticket_open_date": "0001-01-01T00:00:00Z",
            "ticket_open_type": 3,
            "ticket_other_open_name": "선예매",
        },
    ]
    page = tmp_path / "nol.json"
    page.write_text(
        json.dumps({"notices": [{**first, "ticket_dates": dates}], "summary": {"next_cursor": None}})
    )
    config = _plain_config(tmp_path)
    result = run_cli("test-crawlers", "interpark", "--file", str(page), "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-800:]
    assert "1-01-01" not in result.stdout and "추후 공지" in result.stdout, result.stdout
    as_json = run_cli(
        "test-crawlers", "interpark", "--file", str(page), "--json", "--config", str(config), cwd=tmp_path
    )
    parsed = json.loads(as_json.stdout)["sites"][0]["parsed"][0]
    assert parsed["open_at"] is None and [p["at"] for p in parsed["presales"]] == [None]


# --- the daemon: bidi text, a symlinked config, /healthz and the Server header ------------------------


def test_a_symlinked_config_resolves_data_dir_beside_the_real_file_one_daemon_only(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(1)
    real = tmp_path / "etc" / "ticket-alarm"
    real.mkdir(parents=True)
    config = write_config(real, {**stand_config(tmp_path, site, None), "data_dir": "data"})
    links = tmp_path / "links"
    links.mkdir()
    (links / "config.json").symlink_to(config)
    d = DaemonProcess(links / "config.json", tmp_path)  # started through the link
    daemons.append(d)
    d.wait_log("크롤링 완료: teststand")
    store = real / "data" / "ticket-alarm.sqlite3"
    assert f"store {store}" in d.out(), d.out()[-1500:]  # beside the real file, not the link
    assert not (links / "data").exists()
    second = run_cli("run", "--config", str(config), cwd=tmp_path, timeout=30)  # the other path to it
    assert second.returncode == 2 and f"pid {d.proc.pid}" in second.stderr, second.stderr[-800:]
    assert d.terminate()[0] == 0


def test_bidi_controls_are_stripped_and_an_anonymous_health_answer_shows_no_details(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    discord: FakeDiscord,
    daemons: list[DaemonProcess],
) -> None:
    webhook = discord.add_webhook()
    notices.add(1)
    notices.add(1, prefix=f"\u202e\u2066역방향{BIDI}\u202c")
    port = free_port()
    settings = stand_config(tmp_path, site, webhook, notify_on_first_run=True, web={"port": port})
    d = DaemonProcess(write_config(tmp_path, settings), tmp_path)
    daemons.append(d)
    d.wait_log("status page: http://127.0.0.1")
    d.wait_for(lambda: len(discord.embeds()) >= 2, 30, "both notices delivered")
    base = f"http://127.0.0.1:{port}"
    page = httpx.get(base + "/", timeout=10)
    assert "역방향" in page.text and not any(ch in page.text for ch in BIDI)
    shown = json.dumps(discord.embeds(), ensure_ascii=False)
    assert "역방향" in shown and not any(ch in shown for ch in BIDI)

    health = httpx.get(base + "/healthz", timeout=10)
    assert health.status_code in (200, 503) and {c["name"] for c in health.json()["checks"]} >= {"daemon"}
    webhook_id = webhook.split("/")[-2]
    for secret in (str(tmp_path), webhook_id):
        assert secret not in health.text, (secret, health.text[:600])
    answers = [page, health, httpx.get(base + "/nosuch", timeout=10), httpx.post(base + "/", timeout=10)]
    for answer in answers:
        assert "server" not in answer.headers, (answer.status_code, answer.headers)
    assert d.terminate()[0] == 0


def test_health_details_stay_for_the_token_holder(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, daemons: list[DaemonProcess]
) -> None:
    notices.add(1)
    port = free_port()
    token = "health-token-0123456789abcdef"
    config = write_config(tmp_path, stand_config(tmp_path, site, None, web={"port": port, "token": token}))
    d = DaemonProcess(config, tmp_path)
    daemons.append(d)
    d.wait_log("status page: http://127.0.0.1")
    health = httpx.get(
        f"http://127.0.0.1:{port}/healthz", headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert all(c["detail"] for c in health.json()["checks"]) and str(tmp_path / "data") in health.text
    assert "server" not in health.headers
    assert d.terminate()[0] == 0


# --- a head poll at its page cap --------------------------------------------------------------------


def test_a_head_poll_stopped_at_its_page_cap_starts_the_sweep_at_once(
    tmp_path: Path, daemons: list[DaemonProcess]
) -> None:
    live = LiveSites(clock=time.monotonic).start()
    try:
        live.fill("yes24", 10)
        config = write_config(
            tmp_path,
            {
                "interval": 3600,  # one sweep at the start: a second one within the test is an early one
                "head_interval": 1,
                "data_dir": str(tmp_path / "data"),
                "sites": {
                    "interpark": {"enabled": False},
                    "melon": {"enabled": False},
                    "ticketlink": {"enabled": False},
                    "teststand": {"enabled": False},
                    "yes24": {"base_url": live.base_url, "page_cap": 1},  # one page of 20, both orders
                },
                "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
            },
        )
        d = DaemonProcess(config, tmp_path)  # dry run: alerts on stdout
        daemons.append(d)
        d.wait_log("첫 실행", timeout=60)
        d.wait_for(lambda: live.count("yes24", "head") >= 1, 20, "a head poll")
        # 21 notices at once (one listing change): the head poll's one page holds the newest 20; the
        # oldest of them opens first, so the sweep's one page (open-date order) has it
        with live.lock:
            rows = live.notices["yes24"]
            for n in range(21):
                notice_id = 30000 + n
                opens = FIRST_OPEN.replace(year=2026) if n == 0 else FIRST_OPEN.replace(month=11)
                rows.append(LiveNotice(notice_id, f"yes24 급증 {notice_id} 티켓오픈 안내", opens))
        d.wait_for(lambda: "급증 30000" in d.out(), 30, "the notice the head poll could not reach")
        assert all(f"급증 {30000 + n}" in d.out() for n in range(21))
        assert "a head poll stopped at its page cap, every notice new; sweeping now" in d.out()
        assert live.count("yes24", "sweep") >= 2  # the first sweep and the early one
        assert d.terminate()[0] == 0
    finally:
        live.stop()
