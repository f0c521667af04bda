"""One language per log: every line the daemon and the commands log comes from the catalog (``t``),
DEBUG lines included, so a Korean operator's log is Korean and an English one English throughout."""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from loguru import logger

from tests.unit.test_http import PUBLIC, Recorder, make_fetcher, ok
from ticket_alarm import i18n
from ticket_alarm.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
LEVELS = {"trace", "debug", "info", "success", "warning", "error", "critical", "exception", "log"}
WORD = re.compile(r"[A-Za-z가-힣]{2,}")
NEUTRAL = {"HTTP", "INFO", "web"}  # a protocol, a level name, a subsystem label: the same in ko and en
# (module, literal) left to the branch that owns the module: ``delivery/outbox.py`` (issue 22's outbox work)
ELSEWHERE = {("ticket_alarm/delivery/outbox.py", "route {}: posting {} alert(s) to {}")}


def literal_log_texts(path: Path) -> list[tuple[int, str]]:
    """The string literals with words in them that a ``logger.<level>(...)`` call is given."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)):
            continue
        if node.func.attr not in LEVELS or "logger" not in ast.unparse(node.func.value):
            continue
        for arg in node.args:
            literal = isinstance(arg, ast.Constant) and isinstance(arg.value, str)
            if literal and set(WORD.findall(arg.value)) - NEUTRAL:
                found.append((node.lineno, arg.value))
    return found


def test_no_log_line_is_written_outside_the_catalog() -> None:
    offenders = {
        (str(path.relative_to(ROOT)), text): line
        for folder in ("ticket_alarm", "crawlers")
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, text in literal_log_texts(path)
    }
    assert set(offenders) - ELSEWHERE == set(), offenders


def test_the_check_sees_a_literal_line(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        'logger.debug("{} crawler raised", name)\n'
        'logger.bind(x=1).warning("{} 재시도 {}/{}", a, b, c)\n'
        'logger.info("{}", t("log.crawled"))\n'
        'logger.debug("{}: {} {} → HTTP {}", a, b, c, d)\n',
        encoding="utf-8",
    )
    assert literal_log_texts(module) == [(1, "{} crawler raised"), (2, "{} 재시도 {}/{}")]


@pytest.fixture
def debug_lines() -> Iterator[list[str]]:
    said: list[str] = []
    sink = logger.add(lambda m: said.append(m.record["message"]), level="DEBUG")
    yield said
    logger.remove(sink)
    i18n.set_language("en")  # the suite's language (tests/conftest.py)


@pytest.mark.parametrize(
    ("lang", "retry", "other"), [("en", "retry 1/3", "재시도"), ("ko", "재시도 1/3", "retry")]
)
async def test_a_retry_is_logged_in_the_operators_language(
    debug_lines: list[str], lang: str, retry: str, other: str
) -> None:
    i18n.set_language(lang)
    async with make_fetcher(Recorder(httpx.Response(503), ok()), FakeClock()) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/list")
    retries = [line for line in debug_lines if retry in line]
    assert len(retries) == 1 and retries[0].startswith("s"), debug_lines
    assert not any(other in line for line in debug_lines), debug_lines
