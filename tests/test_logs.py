"""Logging: the operators' line format, stdout/stderr split, --json mode, and secret redaction."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator

import pytest
from loguru import logger

from ticket_alarm.logs import Redactor, redact, setup_logging

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
