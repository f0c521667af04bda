"""Fuzzing what tests/unit/test_discord.py and tests/unit/test_crawler_*.py leave out.

- the whole way an alert travels: random Ticket → Alert (new / change / reminder) → the outbox's JSON
  round trip (stored with ensure_ascii=False, as store.py does) → render_alert → batch_size →
  message(role_ids) → the strict stand-in Discord's validation: accepted, no mass mention, only the
  configured roles pinged;
- truncated pages of every real crawler (any cut of any fixture page): a ParseError, or tickets that
  are a subset of the full page's with unchanged digests — a cut page must never look like a change.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crawlers import melon, ticketlink, yes24
from crawlers.interpark import site as interpark
from tests.support.discord_standin import FakeDiscord
from tests.support.real_sites import load_samples
from tests.support.server import Request
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.delivery.discord.render import (
    MAX_EMBEDS,
    batch_size,
    message,
    render_alert,
    render_notice,
)
from ticket_alarm.delivery.notify import Alert, Changed, NewNotice, Reminder
from ticket_alarm.errors import ParseError

_PIECES = [
    "@everyone",
    "@here",
    "<@&123456789012345678>",
    "<@42>",
    "<#1234567>",
    "**",
    "||",
    "`",
    "\u202e",
    "\u2066",
    "\x00",
    "\x1b",
    "\ud83c",
    "\n",
    "가",
    "🎫",
    "[x](javascript:y)",
    "https://",
    "가" * 3000,
]
_TEXT = st.lists(st.text(max_size=30) | st.sampled_from(_PIECES), max_size=10).map("".join)
_URLS = st.sampled_from(
    [
        "https://ticket.melon.com/csoon/detail.htm?csoonId=1",
        "http://tickets.example.kr/n/1",
        "javascript:alert(1)",
        "/relative",
        "//cdn.example.com/x.jpg",
        "https://exa mple.com/x",
        "https://" + "a" * 3000 + ".com",
        "",
    ]
) | st.text(max_size=40)
_WHEN = st.none() | st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    return Ticket(
        site=draw(st.sampled_from(["melon", "yes24", "teststand"])),
        id=draw(st.text(min_size=1, max_size=40) | st.sampled_from(["<@&1>", "@everyone", "1" * 300])),
        title=draw(_TEXT.filter(bool)),
        url=draw(_URLS),
        open_at=draw(_WHEN),
        category=draw(st.sampled_from(["open", "change"])),
        exclusive=draw(st.booleans()),
        presales=tuple(draw(st.lists(st.builds(Presale, _TEXT, _WHEN), max_size=30))),
        venue=draw(_TEXT),
        genre=draw(_TEXT),
        image_url=draw(_URLS),
        booking_url=draw(_URLS),
        open_date=draw(st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))),
    )


_VALIDATOR: list[FakeDiscord] = []


def _validate(payload: dict[str, Any]) -> FakeDiscord:
    if not _VALIDATOR:
        fake = FakeDiscord()
        fake.server.httpd.server_close()  # only its validation is used
        _VALIDATOR.append(fake)
    fake = _VALIDATOR[0]
    fake.mention_violations.clear()
    fake.fired_mentions.clear()
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")  # fails on a lone surrogate
    problem, _ = fake._validate(
        Request("POST", "/api/webhooks/1/t", {}, {"content-type": "application/json"}, body)
    )
    assert problem is None, problem
    return fake


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(tickets(), min_size=1, max_size=12),
    st.lists(st.from_regex(r"[1-9]\d{17}", fullmatch=True), max_size=3, unique=True),
    st.integers(0, 0xFFFFFF),
    st.integers(1, 10080),
)
def test_any_ticket_renders_to_a_payload_discord_accepts(
    batch: list[Ticket], roles: list[str], color: int, minutes: int
) -> None:
    name = "멜론티켓 @everyone <@&999999999999999999>"
    alerts: list[Alert] = [NewNotice(name, color, t) for t in batch]
    alerts += [Changed(name, color, t, before=batch[0]) for t in batch[1:4]]
    alerts += [Reminder(name, color, t, offset_min=minutes) for t in batch[:3]]
    # the outbox stores each Alert as JSON text and reads it back; the notifier renders it at send time.
    # Only valid tickets reach the outbox (the pipeline drops what `problems()` refuses, lone surrogates
    # included, which UTF-8 cannot store); the renderer must cope with every ticket anyway.
    for alert in alerts:
        read = (getattr(alert, "ticket", None), getattr(alert, "before", None))
        if not any(t.problems() for t in read if t is not None):
            text = json.dumps(alert.to_json(), ensure_ascii=False).encode("utf-8").decode("utf-8")
            assert Alert.from_json(json.loads(text)) == alert
    stored = [render_alert(a) for a in alerts]
    assert stored[: len(batch)] == [render_notice(t, name, color) for t in batch]
    sent = 0
    while sent < len(stored):
        count = batch_size(stored[sent:])
        assert 1 <= count <= MAX_EMBEDS
        payload = message(stored[sent : sent + count], role_ids=roles)
        fake = _validate(payload)
        assert fake.mention_violations == []
        assert sorted(set(fake.fired_mentions)) == sorted(f"role:{r}" for r in roles)
        sent += count


# --- truncated pages -----------------------------------------------------------------------------------

PARSERS = {
    "interpark": interpark.parse,
    "yes24": yes24.parse,
    "melon": melon.parse,
    "ticketlink": ticketlink.parse,
}
LIST_PATHS = {
    "interpark": "/contents/api/open-notice/notice-list",
    "yes24": "/New/Notice/Ajax/axList.aspx",
    "melon": "/csoon/ajax/listTicketOpen.htm",
    "ticketlink": "/help/getNoticeList",
}
PAGES = [
    (site, s.body)
    for site in PARSERS
    for s in load_samples(site)
    if s.path == LIST_PATHS[site] and s.status == 200 and len(s.body) > 200
]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(PAGES), st.floats(0.0, 1.0, exclude_max=True))
def test_a_cut_page_is_a_parse_error_never_a_change(page: tuple[str, bytes], fraction: float) -> None:
    site, body = page
    parse = PARSERS[site]
    full = {t.id: t.digest for t in parse(body, "https://x")}
    cut = body[: int(len(body.rstrip()) * fraction)]
    try:
        tickets_ = parse(cut, "https://x")
    except ParseError as exc:
        assert exc.site == site
        return
    changed = [t.id for t in tickets_ if full.get(t.id) != t.digest]
    assert not changed, f"{site}: a page cut at {fraction:.2f} changed {changed} (a spurious change alert)"


def test_every_fixture_page_is_cut_somewhere() -> None:
    assert {site for site, _ in PAGES} == set(PARSERS) and len(PAGES) >= 20
    assert seoul(2027, 1, 1).tzinfo is not None
