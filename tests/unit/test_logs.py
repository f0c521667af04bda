"""Logging: the operators' line format, stdout/stderr split, --json mode, and secret redaction."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest
from loguru import logger

from ticket_alarm.logs import BUSY_REPEAT, Redactor, redact, repeats, setup_logging

if TYPE_CHECKING:
    from pathlib import Path

    from tests.support.site_standin import FakeSite

LINE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \[(DEBUG|INFO|WARNING|ERROR)\] (.*)$")
SECRET = "LogTestSecretToken_9f8e7d6c5b4a3210"
PROXY_PASSWORD = "LogTestProxyPassw0rd"


@pytest.fixture
def streams() -> Iterator[tuple[io.StringIO, io.StringIO]]:
    out, err = io.StringIO(), io.StringIO()
    yield out, err
    logger.remove()
    logger.add(sys.stderr)  # loguru's default again, for the tests that follow


def lines(stream: io.StringIO) -> list[tuple[str, str]]:
    out = []
    for line in stream.getvalue().splitlines():
        match = LINE.match(line)
        assert match, f"line not in the operators' format: {line!r}"
        out.append((match[1], match[2]))
    return out


def emit() -> None:
    logger.debug("디버그 {}", 0)
    logger.info("크롤링 완료: melon 공지 {}건, 새 공지 {}건, 변경 {}건, {:.1f}초", 30, 2, 0, 1.25)
    logger.warning("melon: stopped at the page cap")
    logger.error("크롤링 실패: yes24 HTTP 503")


def test_format_and_split(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    setup_logging(stdout=out, stderr=err)
    emit()
    assert lines(out) == [
        ("INFO", "크롤링 완료: melon 공지 30건, 새 공지 2건, 변경 0건, 1.2초"),
        ("WARNING", "melon: stopped at the page cap"),
        ("ERROR", "크롤링 실패: yes24 HTTP 503"),
    ]
    assert lines(err) == [
        ("WARNING", "melon: stopped at the page cap"),
        ("ERROR", "크롤링 실패: yes24 HTTP 503"),
    ]


def test_debug_level(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    setup_logging(level="DEBUG", stdout=out, stderr=err)
    emit()
    assert [level for level, _ in lines(out)] == ["DEBUG", "INFO", "WARNING", "ERROR"]
    assert [level for level, _ in lines(err)] == ["WARNING", "ERROR"]


def test_error_level_still_sends_warnings_to_stderr(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    setup_logging(level="ERROR", stdout=out, stderr=err)
    emit()
    assert [level for level, _ in lines(out)] == ["ERROR"]
    assert [level for level, _ in lines(err)] == ["WARNING", "ERROR"]


def test_json_mode_sends_everything_to_stderr(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    setup_logging(json_mode=True, stdout=out, stderr=err)
    emit()
    assert out.getvalue() == ""
    assert [level for level, _ in lines(err)] == ["INFO", "WARNING", "ERROR"]


def test_registered_secrets_are_redacted(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    setup_logging(stdout=out, stderr=err, secrets=[SECRET, PROXY_PASSWORD])
    url = f"https://discord.com/api/webhooks/123456789012345678/{SECRET}"
    logger.info("posting to {}", url)
    logger.error("알림 전송 실패: {} and proxy http://user:{}@proxy:3128", url, PROXY_PASSWORD)
    logger.warning(f"an f-string with {SECRET} inside")
    text = out.getvalue() + err.getvalue()
    assert SECRET not in text and PROXY_PASSWORD not in text
    assert "webhooks/123456789012345678/****" in text and "http://user:****@proxy:3128" in text
    assert len(lines(out)) == 3


def test_redaction_reaches_every_sink(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    setup_logging(stdout=out, stderr=err, secrets=[SECRET])
    captured: list[str] = []
    sink = logger.add(lambda m: captured.append(str(m)), format="{message}")
    try:
        logger.info("token {}", SECRET)
    finally:
        logger.remove(sink)
    assert captured == ["token ****\n"]


def test_redactor_prefers_the_longest_secret() -> None:
    r = Redactor()
    r.register(["abcd", "abcdefgh", "", "abcd"])
    assert r("x abcdefgh y abcd z") == "x **** y **** z"
    assert r("nothing here") == "nothing here"


def test_global_redactor_keeps_earlier_secrets(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    redact.register([SECRET])
    setup_logging(stdout=out, stderr=err)  # a later setup without secrets forgets none
    logger.info("{}", SECRET)
    assert SECRET not in out.getvalue()


def test_a_newline_in_logged_text_cannot_forge_a_line(streams: tuple[io.StringIO, io.StringIO]) -> None:
    out, err = streams
    setup_logging(stdout=out, stderr=err)
    forged = "evil\n2099-01-01 00:00:00 [ERROR] 크롤링 실패: forged\r\x1b[31m\u202e"
    logger.warning("route {} refused", forged)
    for stream in (out, err):
        assert [level for level, _ in lines(stream)] == ["WARNING"]  # one line, in the format
        assert "2099-01-01 00:00:00 [ERROR]" in stream.getvalue()  # still readable, as text
        assert (
            "\\n2099" in stream.getvalue()
            and "\\x1b" in stream.getvalue()
            and "\u202e" not in stream.getvalue()
        )


def _read_all(fd: int) -> str:
    """Everything written to the terminal so far (bounded: stops when nothing more arrives in 0.2 s)."""
    import os
    import select

    chunks = []
    for _ in range(100):
        ready, _w, _x = select.select([fd], [], [], 0.2)
        if not ready:
            break
        chunks.append(os.read(fd, 65536))
    return b"".join(chunks).decode("utf-8").replace("\r\n", "\n")


def test_one_terminal_gets_each_line_once(streams: tuple[io.StringIO, io.StringIO]) -> None:
    """stdout and stderr on the same terminal (an operator's shell): every line once, none lost."""
    import os
    import pty

    master, slave = pty.openpty()
    out = os.fdopen(os.dup(slave), "w", encoding="utf-8", buffering=1)
    err = os.fdopen(os.dup(slave), "w", encoding="utf-8", buffering=1)
    try:
        setup_logging(stdout=out, stderr=err)
        emit()
        out.flush()
        err.flush()
        text = _read_all(master)
    finally:
        logger.remove()
        for handle in (out, err):
            handle.close()
        os.close(slave)
        os.close(master)
    assert text.count("melon: stopped at the page cap") == 1
    assert text.count("크롤링 실패: yes24 HTTP 503") == 1
    assert text.count("크롤링 완료: melon") == 1 and "디버그" not in text


def test_one_terminal_at_error_level_still_shows_warnings(streams: tuple[io.StringIO, io.StringIO]) -> None:
    import os
    import pty

    master, slave = pty.openpty()
    out = os.fdopen(os.dup(slave), "w", encoding="utf-8", buffering=1)
    try:
        setup_logging(level="ERROR", stdout=out, stderr=out)
        emit()
        out.flush()
        text = _read_all(master)
    finally:
        logger.remove()
        out.close()
        os.close(slave)
        os.close(master)
    assert "크롤링 완료" not in text
    assert text.count("page cap") == 1 and text.count("HTTP 503") == 1


def test_two_files_keep_the_split_one_file_or_pipe_does_not(
    tmp_path: object, streams: tuple[io.StringIO, io.StringIO]
) -> None:
    """Supervisor's two log files keep the split; one file or one pipe for both (``> log 2>&1``,
    ``2>&1 | tee``) is one place."""
    import os
    from pathlib import Path

    from ticket_alarm.logs import same_destination

    base = Path(str(tmp_path))
    with (base / "out.log").open("w") as out, (base / "err.log").open("w") as err:
        assert not same_destination(out, err)
        assert same_destination(out, out)
        with os.fdopen(os.dup(out.fileno()), "w") as dup:  # what a shell's 2>&1 hands the child
            assert same_destination(out, dup)
    r, w = os.pipe()
    r2, w2 = os.pipe()
    try:
        with (
            os.fdopen(w, "w") as pipe_out,
            os.fdopen(os.dup(w), "w") as pipe_err,
            os.fdopen(w2, "w") as other,
        ):
            assert same_destination(pipe_out, pipe_err)
            assert not same_destination(pipe_out, other)
    finally:
        os.close(r)
        os.close(r2)
    assert not same_destination(*streams)


@pytest.mark.e2e
@pytest.mark.parametrize("shared", ["file", "pipe"])
def test_an_error_line_is_written_once_with_2_and_1(tmp_path: Path, site: FakeSite, shared: str) -> None:
    """``once > run.log 2>&1`` and ``once 2>&1 | tee run.log``: each 크롤링 실패 line once."""
    import subprocess
    import sys

    from tests.conftest import child_env, stand_config, write_config

    dead = "http://127.0.0.1:9"  # discard port: connection refused at once
    settings = stand_config(tmp_path, site, None)
    settings["sites"]["teststand"]["base_url"] = dead
    config = write_config(tmp_path, settings)
    cmd = [sys.executable, "-m", "ticket_alarm", "once", "--wait", "5", "--config", str(config)]
    if shared == "file":
        with (tmp_path / "run.log").open("w") as log:
            proc = subprocess.run(
                cmd, cwd=tmp_path, env=child_env(), stdout=log, stderr=subprocess.STDOUT, timeout=120
            )
        text = (tmp_path / "run.log").read_text(encoding="utf-8")
    else:
        proc = subprocess.run(
            cmd, cwd=tmp_path, env=child_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=120
        )
        text = proc.stdout.decode("utf-8")
    assert proc.returncode == 1, text
    failed = [line for line in text.splitlines() if "크롤링 실패" in line and "teststand" in line]
    assert len(failed) == 1, text


def test_times_are_kst_whatever_the_machine_zone(streams: tuple[io.StringIO, io.StringIO]) -> None:
    import time as _time
    from datetime import datetime, timedelta, timezone

    out, err = streams
    setup_logging(stdout=out, stderr=err)
    before = datetime.now(timezone(timedelta(hours=9)))
    logger.info("시각")
    after = datetime.now(timezone(timedelta(hours=9)))
    stamp = out.getvalue()[:19]
    assert before.strftime("%Y-%m-%d %H:%M:%S") <= stamp <= after.strftime("%Y-%m-%d %H:%M:%S"), stamp
    assert _time  # the machine's TZ is irrelevant: the stamp is compared with KST wall time


def test_apply_level_keeps_the_streams_and_mode(streams: tuple[io.StringIO, io.StringIO]) -> None:
    from ticket_alarm.logs import apply_level

    out, err = streams
    setup_logging(json_mode=True, stdout=out, stderr=err)
    apply_level("DEBUG")
    emit()
    assert out.getvalue() == ""
    assert [level for level, _ in lines(err)] == ["DEBUG", "INFO", "WARNING", "ERROR"]
    apply_level("ERROR")
    err.truncate(0)
    err.seek(0)
    emit()
    assert [level for level, _ in lines(err)] == ["ERROR"]


@pytest.mark.e2e
def test_log_level_from_the_file_and_the_environment_is_applied(tmp_path: Path, site: FakeSite) -> None:
    from tests.conftest import child_env, run_cli, stand_config, write_config

    config = write_config(tmp_path, stand_config(tmp_path, site, None, log_level="DEBUG"))
    debug = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert debug.returncode == 0, debug.stderr
    assert "[DEBUG] teststand: GET http://127.0.0.1" in debug.stdout
    assert "[INFO] 크롤링 완료: teststand" in debug.stdout
    quiet = run_cli(
        "once",
        "--config",
        str(config),
        cwd=tmp_path,
        env=child_env(TICKET_ALARM_LOG_LEVEL="ERROR"),
        timeout=60,
    )
    assert quiet.returncode == 0, quiet.stderr
    assert "[INFO]" not in quiet.stdout and "[DEBUG]" not in quiet.stdout


def test_memory_line_once_per_cycle_not_per_site(streams: tuple[io.StringIO, io.StringIO]) -> None:
    from typing import Any, cast

    from ticket_alarm.clock import FakeClock
    from ticket_alarm.config.settings import Settings
    from ticket_alarm.daemon.scheduler import Daemon

    out, err = streams
    setup_logging(stdout=out, stderr=err)
    clock = FakeClock()
    none = cast(Any, None)
    sites = ["interpark", "yes24", "melon", "ticketlink"]
    daemon = Daemon(Settings(interval=300), none, none, none, clock, sites=sites)

    def memory_lines() -> list[str]:
        return [m for level, m in lines(out) if m.startswith("메모리 사용량")]

    daemon._log_memory("interpark", 80.0)  # the first crawl after the start says it at once
    for _round in range(3):
        for name in sites:
            clock.advance(5)
            daemon._log_memory(name, 81.0)
    assert len(memory_lines()) == 1 + 3
    assert memory_lines()[-1] == "메모리 사용량: 81.0 MB (RSS) after 4 site crawl(s)"
    # one site crawling often while another waits an hour: still at most once an interval
    for _ in range(20):
        clock.advance(60)
        daemon._log_memory("interpark", 82.0)
    assert 4 + 3 <= len(memory_lines()) <= 4 + 5


def test_repeated_lines_are_held_to_one_per_kind_per_minute(streams: tuple[io.StringIO, io.StringIO]) -> None:
    """Issue 20: a flood must not fill the disk. One WARNING/ERROR line per kind per minute (the
    injected clock), the next one carrying the count held back; INFO is never held."""
    now = [100.0]
    out, err = streams
    setup_logging(stdout=out, stderr=err)
    saved = repeats.clock
    repeats.clock = lambda: now[0]
    try:
        for _ in range(50):
            logger.warning("web: the same trouble")
        for n in range(5):
            logger.info("크롤링 완료: teststand {}", n)
        logger.warning("web: another trouble")
        for _ in range(3):  # the runbook counts these: never held
            logger.warning("크롤링 실패: yes24 HTTP 503")
        now[0] += 61
        logger.warning("web: the same trouble")
        for _ in range(3):
            logger.warning("web: the same trouble")
        now[0] += 61
        repeats.flush()
    finally:
        repeats.clock = saved
    warnings = [text for level, text in lines(err)]
    assert warnings == [
        "web: the same trouble",
        "web: another trouble",
        *["크롤링 실패: yes24 HTTP 503"] * 3,
        "web: the same trouble (+49 more like this in the last 61 s, held back)",
        "3 more like “web: the same trouble” in the last 61 s (held back: one line per kind per minute)",
    ]
    assert [text for level, text in lines(out) if level == "INFO"] == [
        f"크롤링 완료: teststand {n}" for n in range(5)
    ]


def test_asyncio_and_aiohttp_errors_are_one_short_line(streams: tuple[io.StringIO, io.StringIO]) -> None:
    """asyncio's 'socket.accept() out of system resource' and aiohttp's malformed-request error used to
    print tracebacks (through the stdlib's last-resort handler): now one line each, kinds rate-limited."""
    import logging

    out, err = streams
    setup_logging(stdout=out, stderr=err)
    try:
        raise OSError(24, "Too many open files")
    except OSError as exc:
        for _ in range(20):
            logging.getLogger("asyncio").error(
                "socket.accept() out of system resource\nsocket: <socket fd=6>", exc_info=exc
            )
    try:
        raise ValueError("400, message: Got more than 8190 bytes when reading: " + "a" * 5000)
    except ValueError as exc:
        logging.getLogger("aiohttp.server").error("Error handling request from %s", "127.0.0.1", exc_info=exc)
    text = err.getvalue()
    assert "Traceback" not in text
    got = lines(err)
    assert len(got) == 2, got
    assert got[0][0] == "ERROR" and got[0][1].startswith("asyncio: socket.accept() out of system resource\\n")
    assert got[0][1].endswith("OSError: [Errno 24] Too many open files")
    assert got[1][0] == "WARNING" and got[1][1].startswith(
        "aiohttp.server: Error handling request from 127.0.0.1"
    )
    assert len(got[1][1]) < 400


def test_a_line_with_its_own_window_is_said_once_per_window_never_counted(
    streams: tuple[io.StringIO, io.StringIO],
) -> None:
    """APScheduler's busy line goes through the same limiter with its own window (``BUSY_REPEAT``, ten
    minutes): said once a job per window, even past the minute of the other kinds; the lines held in
    between are dropped quietly, with no count and no summary line."""
    import logging

    now = [100.0]
    out, err = streams
    setup_logging(stdout=out, stderr=err)
    saved = repeats.clock
    repeats.clock = lambda: now[0]
    busy = logging.getLogger("apscheduler.executors.default")
    text = 'Execution of job "crawl melon (trigger: x)" skipped: maximum number of running instances'
    try:
        busy.warning(text)
        now[0] += 120  # past the minute of the other kinds, inside the ten minutes
        busy.warning(text)
        repeats.flush()
        now[0] += BUSY_REPEAT
        repeats.flush()  # the window is over: the held line is not summarised
        busy.warning(text)
    finally:
        repeats.clock = saved
    said = [text for _level, text in lines(out)]
    assert len(said) == 2 and said[0] == said[1] and said[0].startswith("melon: "), said
    assert "held back" not in out.getvalue() and err.getvalue() == ""
