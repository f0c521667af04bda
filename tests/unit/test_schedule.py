"""The quiet-hours and digest policy (``delivery.schedule``) as tables, and its config checks."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pydantic import ValidationError

from ticket_alarm.config.routes import DigestSettings, QuietHours, RouteSettings
from ticket_alarm.core.alert import Changed, NewNotice, OpsAlert, Reminder
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.delivery import schedule
from ticket_alarm.i18n import set_language

WEBHOOK = "https://discord.com/api/webhooks/123456789012345678/" + "a" * 68
BERLIN = ZoneInfo("Europe/Berlin")


def kst(day: int, hour: int, minute: int = 0) -> datetime:
    """December 2026 in KST: the 7th is a Monday."""
    return seoul(2026, 12, day, hour, minute)


def quiet(**kw: Any) -> QuietHours:
    return QuietHours.model_validate({"from": "23:00", "to": "08:00", **kw})


def notice(open_at: datetime | None = None, *presales: datetime) -> NewNotice:
    ticket = Ticket(
        "melon",
        "1",
        "공연",
        "https://ticket.melon.com/1",
        open_at,
        presales=tuple(Presale("팬클럽", p) for p in presales),
    )
    return NewNotice("멜론티켓", 1, ticket)


@pytest.fixture
def english() -> Iterator[None]:
    set_language("en")
    yield
    set_language("en")  # the suite's language (tests/conftest.py), not the environment's


FAR = kst(30, 20)  # an open far from every window below


@pytest.mark.parametrize(
    ("q", "at", "inside"),
    [
        (quiet(), kst(7, 22, 59), False),
        (quiet(), kst(7, 23, 0), True),  # the start is inside
        (quiet(), kst(8, 3, 0), True),  # after midnight: the window that started the day before
        (quiet(), kst(8, 7, 59), True),
        (quiet(), kst(8, 8, 0), False),  # the end is outside
        (quiet(**{"from": "01:00", "to": "06:00"}), kst(8, 0, 30), False),  # a window within one day
        (quiet(**{"from": "01:00", "to": "06:00"}), kst(8, 5, 59), True),
        (quiet(days=["fri", "sat"]), kst(11, 23, 30), True),  # Friday night
        (quiet(days=["fri", "sat"]), kst(12, 7, 0), True),  # Saturday morning: Friday's window
        (quiet(days=["fri", "sat"]), kst(14, 7, 0), False),  # Monday morning: Sunday's window, not listed
        (quiet(days=["fri", "sat"]), kst(10, 23, 30), False),  # Thursday night
        # the window in Berlin time: 23:00 CET is 07:00 KST the next day
        (quiet(tz="Europe/Berlin"), datetime(2026, 12, 7, 23, 30, tzinfo=BERLIN), True),
        (quiet(tz="Europe/Berlin"), kst(8, 7, 30), True),
        (quiet(tz="Europe/Berlin"), kst(8, 16, 1), False),  # 08:01 in Berlin
    ],
)
def test_the_window_an_instant_falls_in(q: QuietHours, at: datetime, inside: bool) -> None:
    assert (schedule.quiet_window(q, at) is not None) is inside


def test_a_window_across_midnight_ends_the_next_morning() -> None:
    window = schedule.quiet_window(quiet(), kst(8, 3))
    assert window == (kst(7, 23), kst(8, 8))


def test_kst_has_no_daylight_saving_so_every_window_is_nine_hours() -> None:
    for day in range(1, 31):
        start, end = schedule.quiet_window(quiet(), kst(day, 23, 30)) or (None, None)
        assert start is not None and end is not None and (end - start).total_seconds() == 9 * 3600


@pytest.mark.parametrize(
    ("alert", "held"),
    [
        (notice(FAR), True),  # a new notice for next month waits
        (notice(None), True),  # 추후 공지: nothing urgent about it
        (notice(kst(8, 2)), False),  # the open falls inside the window
        (notice(kst(8, 14)), False),  # within urgent_within (12h) of now (03:00)
        (notice(kst(8, 16)), True),  # 13 hours away
        (notice(FAR, kst(8, 10)), False),  # a presale within 12h passes
        (notice(kst(7, 20)), True),  # an open that was before the window began: no reason to wake anyone
        (Reminder("멜론티켓", 1, notice(FAR).ticket, 60), False),  # reminders never wait
        (OpsAlert("", 0, {"title": "ops"}), False),
    ],
)
def test_what_a_quiet_window_holds(alert: Any, held: bool) -> None:
    route = RouteSettings(name="r", webhook_url=WEBHOOK, quiet_hours=quiet())
    hold = schedule.hold(route, alert, kst(8, 3).timestamp())
    assert (hold is not None) is held
    if hold is not None:
        assert hold == schedule.Hold("quiet", kst(8, 8).timestamp())


def test_urgent_within_is_configurable() -> None:
    route = RouteSettings(name="r", webhook_url=WEBHOOK, quiet_hours=quiet(urgent_within="30m"))
    assert schedule.hold(route, notice(kst(8, 3, 20)), kst(8, 3).timestamp()) is None  # inside the window
    route = RouteSettings(name="r", webhook_url=WEBHOOK, quiet_hours=quiet(urgent_within="2d"))
    assert schedule.hold(route, notice(kst(9, 20)), kst(8, 3).timestamp()) is None  # within 2 days


def test_outside_the_window_and_in_silent_mode_nothing_is_held() -> None:
    route = RouteSettings(name="r", webhook_url=WEBHOOK, quiet_hours=quiet())
    assert schedule.hold(route, notice(FAR), kst(8, 12).timestamp()) is None
    silent = RouteSettings(name="r", webhook_url=WEBHOOK, quiet_hours=quiet(mode="silent"))
    assert schedule.hold(silent, notice(FAR), kst(8, 3).timestamp()) is None
    assert schedule.silent(silent, [notice(FAR)], kst(8, 3))
    assert not schedule.silent(silent, [notice(FAR), notice(kst(8, 4))], kst(8, 3))  # one urgent: loud
    assert not schedule.silent(silent, [notice(FAR)], kst(8, 12))
    assert not schedule.silent(route, [notice(FAR)], kst(8, 3))  # hold mode is never "silent"
    assert not schedule.silent(None, [notice(FAR)], kst(8, 3))


@pytest.mark.parametrize(
    ("digest", "at", "start", "following"),
    [
        ({"every": "day"}, kst(8, 8, 59), kst(7, 9), kst(8, 9)),
        ({"every": "day"}, kst(8, 9), kst(8, 9), kst(9, 9)),
        ({"every": "day", "at": "21:30"}, kst(8, 23), kst(8, 21, 30), kst(9, 21, 30)),
        ({"every": "week"}, kst(9, 12), kst(7, 9), kst(14, 9)),  # Mondays 09:00
        ({"every": "week"}, kst(7, 8), seoul(2026, 11, 30, 9), kst(7, 9)),  # the Monday before
        ({"every": "week", "weekday": "fri", "at": "18:00"}, kst(12, 0), kst(11, 18), kst(18, 18)),
    ],
)
def test_digest_periods(digest: dict[str, str], at: datetime, start: datetime, following: datetime) -> None:
    settings = DigestSettings.model_validate(digest)
    assert schedule.period_start(settings, at) == start
    assert schedule.next_period(settings, at) == following


def test_a_digest_route_holds_every_notice_and_change_until_its_next_period_but_not_reminders() -> None:
    route = RouteSettings(name="r", webhook_url=WEBHOOK, digest=DigestSettings(every="day"))
    at = kst(8, 12).timestamp()
    before = notice(FAR).ticket
    for alert in (notice(kst(8, 13)), Changed("멜론티켓", 1, before.with_(title="바뀜"), before)):
        assert schedule.hold(route, alert, at) == schedule.Hold("digest", kst(9, 9).timestamp())
    assert schedule.hold(route, Reminder("멜론티켓", 1, before, 10), at) is None


@pytest.mark.parametrize(
    ("section", "value", "phrase"),
    [
        ("quiet_hours", {"from": "25:00", "to": "08:00"}, "'25:00' is not a time of day"),
        ("quiet_hours", {"from": "23:00", "to": "8:00"}, "'8:00' is not a time of day"),
        (
            "quiet_hours",
            {"from": "23:00", "to": "08:00", "tz": "Mars/Olympus"},
            "'Mars/Olympus' is not a time zone",
        ),
        (
            "quiet_hours",
            {"from": "23:00", "to": "08:00", "urgent_within": "soon"},
            "'soon' is not a span of time",
        ),
        ("quiet_hours", {"from": "23:00", "to": "23:00"}, "an empty window"),
        ("quiet_hours", {"from": "23:00", "to": "08:00", "days": ["fri", "friday"]}, "days"),
        ("digest", {"every": "day", "at": "9am"}, "'9am' is not a time of day"),
        ("digest", {"every": "month"}, "every"),
        ("digest", {"every": "day", "tz": "KST"}, "'KST' is not a time zone"),
    ],
)
def test_bad_quiet_hours_and_digests_are_refused_with_one_clear_paragraph(
    section: str, value: dict[str, Any], phrase: str, english: None
) -> None:
    with pytest.raises(ValidationError) as caught:
        RouteSettings.model_validate({"name": "r", "webhook_url": WEBHOOK, section: value})
    assert phrase in str(caught.value)


def test_the_korean_paragraph() -> None:
    set_language("ko")
    try:
        with pytest.raises(ValidationError) as caught:
            RouteSettings.model_validate(
                {"name": "r", "webhook_url": WEBHOOK, "quiet_hours": {"to": "08:00", "from": "x"}}
            )
        assert "시각이 아닙니다" in str(caught.value)
    finally:
        set_language("en")  # the suite's language (tests/conftest.py)


def test_hold_reads_the_row_time_as_utc() -> None:
    route = RouteSettings(name="r", webhook_url=WEBHOOK, quiet_hours=quiet())
    at = datetime(2026, 12, 7, 18, 0, tzinfo=UTC)  # 03:00 KST on the 8th
    assert schedule.hold(route, notice(FAR), at.timestamp()) == schedule.Hold("quiet", kst(8, 8).timestamp())
