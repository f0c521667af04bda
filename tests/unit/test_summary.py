"""``delivery.summary``: which notices one 알림 전송 line names, in the operator's language."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ticket_alarm import i18n
from ticket_alarm.core.alert import Alert, NewNotice
from ticket_alarm.core.model import Ticket, seoul
from ticket_alarm.delivery.summary import sent_summary
from ticket_alarm.store.api import OutboxItem


def batch(count: int) -> list[tuple[OutboxItem, Alert]]:
    out: list[tuple[OutboxItem, Alert]] = []
    for n in range(count):
        ticket = Ticket("melon", str(n), f"공연 {n}", f"https://ticket.melon.com/{n}", seoul(2027, 3, 1, 20))
        item = OutboxItem(
            id=n,
            route="main",
            kind="new",
            site="melon",
            notice_key=ticket.key,
            payload={},
            attempts=0,
            created_at=0.0,
        )
        out.append((item, NewNotice("멜론티켓", 0x00CD3C, ticket)))
    return out


@pytest.fixture
def korean() -> Iterator[None]:
    i18n.set_language("ko")
    yield
    i18n.set_language("en")  # the suite's language (tests/conftest.py)


def test_the_rest_is_counted_in_english_in_an_english_log() -> None:
    said = sent_summary(batch(5))
    assert said == "melon 「공연 0」, melon 「공연 1」, melon 「공연 2」 and 2 more"
    assert "외" not in said and "건" not in said  # one language per log line


def test_the_rest_is_counted_in_korean_in_a_korean_log(korean: None) -> None:
    assert sent_summary(batch(5)) == "melon 「공연 0」, melon 「공연 1」, melon 「공연 2」 외 2건"


def test_three_or_fewer_are_all_named_with_nothing_counted() -> None:
    assert sent_summary(batch(3)) == "melon 「공연 0」, melon 「공연 1」, melon 「공연 2」"
