"""Discord rendering (every documented limit, hostile input) and the webhook client against FakeDiscord."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.discord_standin import LIMITS, FakeDiscord, Fault, _check_embed
from tests.support.server import Request
from ticket_alarm.clock import FakeClock, SystemClock
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.delivery.discord.render import (
    MAX_EMBEDS,
    MAX_TOTAL,
    TBA,
    batch_size,
    embed_size,
    embed_text,
    fit_embed,
    message,
    plain_text,
    relative_text,
    render_change,
    render_notice,
    render_reminder,
    render_test,
    valid_url,
)
from ticket_alarm.delivery.discord.webhook import WebhookClient

NOTICE_URL = "https://ticket.melon.com/csoon/detail.htm?csoonId=11376"
OPEN_AT = seoul(2026, 12, 1, 20, 0)  # 2026-12-01 11:00 UTC
OPEN_UNIX = 1796122800
POSTER = "https://cdnticket.melon.co.kr/resource/image/upload/product/2026/11/poster.jpg"


def ticket(**changes: Any) -> Ticket:
    base = Ticket(
        site="melon",
        id="11376",
        title="아이유 콘서트 〈HEREH〉",
        url=NOTICE_URL,
        open_at=OPEN_AT,
        venue="KSPO DOME",
        genre="콘서트",
        image_url=POSTER,
    )
    return base.with_(**changes)


def field(embed: dict[str, Any], name: str) -> str:
    values = [f["value"] for f in embed["fields"] if f["name"] == name]
    assert values, f"no field {name!r} in {[f['name'] for f in embed['fields']]}"
    return values[0]


def assert_within_limits(embed: dict[str, Any]) -> None:
    problem, size = _check_embed(embed)
    assert problem is None, problem
    assert size == embed_size(embed) <= MAX_TOTAL
    assert len(embed["title"]) <= LIMITS["title"]
    assert len(embed["fields"]) <= LIMITS["fields"]
    for f in embed["fields"]:
        assert 0 < len(f["name"]) <= LIMITS["field_name"] and 0 < len(f["value"]) <= LIMITS["field_value"]
    assert len(embed.get("footer", {}).get("text", "")) <= LIMITS["footer"]
    assert len(embed.get("author", {}).get("name", "")) <= LIMITS["author"]
    for key in ("url",):
        if key in embed:
            assert valid_url(embed[key])
    for key in ("thumbnail", "image"):
        if key in embed:
            assert valid_url(embed[key]["url"])
    json.dumps(embed, ensure_ascii=False).encode("utf-8")  # sendable as UTF-8 JSON


def validate_message(payload: dict[str, Any]) -> tuple[str | None, FakeDiscord]:
    """Run the strict stand-in's validation on ``payload`` without a socket round trip."""
    fake = _validator()
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    request = Request("POST", "/api/webhooks/1/t", {}, {"content-type": "application/json"}, body)
    problem, _ = fake._validate(request)
    return problem, fake


_VALIDATOR: list[FakeDiscord] = []


def _validator() -> FakeDiscord:
    if not _VALIDATOR:
        fake = FakeDiscord()
        fake.server.httpd.server_close()  # only its validation is used; no socket needed
        _VALIDATOR.append(fake)
    fake = _VALIDATOR[0]
    fake.mention_violations.clear()
    fake.fired_mentions.clear()
    return fake


# --- rendering ----------------------------------------------------------------------------------------


def test_render_notice_basics() -> None:
    embed = render_notice(ticket(), "멜론티켓", 0x00CD3C)
    assert embed["url"] == NOTICE_URL
    assert embed["title"] == "아이유 콘서트 〈HEREH〉"
    assert embed["color"] == 0x00CD3C and embed["author"] == {"name": "멜론티켓"}
    assert field(embed, "티켓 오픈") == f"<t:{OPEN_UNIX}:F> (<t:{OPEN_UNIX}:R>)"
    assert embed["fields"][0]["name"] == "티켓 오픈"
    assert field(embed, "장소") == "KSPO DOME" and field(embed, "장르") == "콘서트"
    assert embed["thumbnail"] == {"url": POSTER}
    assert embed["footer"] == {"text": "ticket-alarm · 새 공지"}  # no internal id, no posting time known
    assert "판매" not in [f["name"] for f in embed["fields"]]
    assert_within_limits(embed)


def test_site_name_once_and_posting_time_in_the_footer() -> None:
    embed = render_notice(ticket(extra={"posted": "2026.11.24"}), "멜론티켓", 1)
    assert embed["footer"] == {"text": "ticket-alarm · 게시 2026-11-24 · 새 공지"}
    assert json.dumps(embed, ensure_ascii=False).count("멜론티켓") == 1  # the author line only
    assert "11376" not in embed["footer"]["text"]
    interpark = render_notice(ticket(extra={"posted": "2027-11-26 18:00:00"}), "인터파크 티켓", 1)
    assert interpark["footer"] == {"text": "ticket-alarm · 게시 2027-11-26 18:00 · 새 공지"}


def test_open_time_unknown_says_tba() -> None:
    embed = render_notice(ticket(open_at=None), "멜론티켓", 1)
    assert field(embed, "티켓 오픈") == TBA == "추후 공지"


def test_open_date_without_time() -> None:
    embed = render_notice(ticket(open_at=None, open_date=date(2026, 12, 1)), "멜론티켓", 1)
    value = field(embed, "티켓 오픈")
    assert "2026-12-01" in value and TBA in value and "<t:" not in value


def test_open_time_in_another_timezone_is_the_same_instant() -> None:
    embed = render_notice(ticket(open_at=OPEN_AT.astimezone(UTC)), "멜론티켓", 1)
    assert f"<t:{OPEN_UNIX}:F>" in field(embed, "티켓 오픈")


def test_presales_come_first_each_by_its_own_name() -> None:
    presales = (
        Presale("팬클럽 선예매(FC)", seoul(2026, 11, 30, 20)),
        Presale("멜론 멤버십 *선예매*", None),
        Presale("선예매", seoul(2026, 11, 30, 12)),
        Presale("", None),
    )
    embed = render_notice(ticket(presales=presales), "멜론티켓", 1)
    unix = int(seoul(2026, 11, 30, 20).timestamp())
    names = [f["name"] for f in embed["fields"]]
    assert names[:5] == ["팬클럽 선예매(FC)", "멜론 멤버십 \\*선예매\\*", "선예매", "선예매", "일반 예매"]
    assert embed["fields"][0]["value"] == f"<t:{unix}:F> (<t:{unix}:R>)"
    assert embed["fields"][1]["value"] == TBA
    assert field(embed, "일반 예매") == f"<t:{OPEN_UNIX}:F> (<t:{OPEN_UNIX}:R>)"
    # never "선예매 / 선예매:" — a field's value never repeats its name
    assert not any(f["value"].startswith(f["name"]) for f in embed["fields"])
    assert_within_limits(embed)


def test_many_presales_share_one_field_and_the_open_time_stays() -> None:
    presales = tuple(Presale(f"{n}차 선예매", seoul(2026, 11, 20 + n, 20)) for n in range(9))
    embed = render_notice(ticket(presales=presales), "멜론티켓", 1)
    names = [f["name"] for f in embed["fields"]]
    assert names[:5] == [f"{n}차 선예매" for n in range(5)]
    assert names[5] == "그 밖의 선예매 4건" and field(embed, "그 밖의 선예매 4건").count("\n") == 3
    assert "일반 예매" in names


def test_exclusive_marker_and_booking_link() -> None:
    embed = render_notice(
        ticket(exclusive=True, booking_url="https://tkglobal.melon.com/performance/index.htm?prodId=1"),
        "멜론티켓",
        1,
    )
    assert embed["title"].startswith("[단독판매] ")
    assert json.dumps(embed, ensure_ascii=False).count("단독판매") == 1  # the badge, not a field too
    assert field(embed, "예매") == "[예매 페이지](https://tkglobal.melon.com/performance/index.htm?prodId=1)"


def test_plain_text_has_no_discord_markup() -> None:
    now = seoul(2026, 11, 28, 20, 0)
    pair = f"<t:{OPEN_UNIX}:F> (<t:{OPEN_UNIX}:R>)"
    assert plain_text(pair, now) == "2026-12-01 (화) 20:00 KST (3일 후)"
    assert plain_text(f"<t:{OPEN_UNIX}:R>", now) == "3일 후"
    assert (
        plain_text("[예매 페이지](https://ticket.melon.com/p?x=1)", now)
        == "예매 페이지 https://ticket.melon.com/p?x=1"
    )
    assert plain_text("멜론 멤버십 \\*선예매\\* \\[1차\\]", now) == "멜론 멤버십 *선예매* [1차]"
    assert relative_text(now - timedelta(minutes=5), now) == "5분 전"
    assert relative_text(now + timedelta(hours=2, minutes=5), now) == "2시간 후"
    assert relative_text(now, now) == "지금"


def test_embed_text_reads_like_the_alert() -> None:
    presales = (Presale("팬클럽 선예매", seoul(2026, 11, 30, 20)),)
    embed = render_notice(
        ticket(presales=presales, booking_url="https://ticket.melon.com/performance/index.htm?prodId=1"),
        "멜론티켓",
        1,
    )
    text = embed_text(embed, seoul(2026, 11, 28, 20))
    assert text.splitlines() == [
        "[DRY RUN] 멜론티켓 | 아이유 콘서트 〈HEREH〉",
        "    팬클럽 선예매: 2026-11-30 (월) 20:00 KST (2일 후)",
        "    일반 예매: 2026-12-01 (화) 20:00 KST (3일 후)",
        "    장소: KSPO DOME",
        "    장르: 콘서트",
        "    예매: 예매 페이지 https://ticket.melon.com/performance/index.htm?prodId=1",
        f"    링크: {NOTICE_URL}",
        "    (새 공지)",
    ]


def test_change_category_badge() -> None:
    assert render_notice(ticket(category="change"), "멜론티켓", 1)["title"].startswith("[변경/취소] ")


@pytest.mark.parametrize(
    "image",
    [
        "",
        "//cdn.example.com/p.jpg",
        "/resource/p.jpg",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "ftp://cdn.example.com/p.jpg",
        "https://cdn.example.com/p p.jpg",
        "https://" + "a" * 2100 + ".com/p.jpg",
        "http://localhost/p.jpg",
        "https:///p.jpg",
    ],
)
def test_thumbnail_only_for_valid_http_urls(image: str) -> None:
    embed = render_notice(ticket(image_url=image), "멜론티켓", 1)
    assert "thumbnail" not in embed
    assert_within_limits(embed)


@pytest.mark.parametrize(
    "image", [POSTER, "http://ticketimage.interpark.com/Play/image/large/26/26000001_p.gif"]
)
def test_thumbnail_for_valid_urls(image: str) -> None:
    assert render_notice(ticket(image_url=image), "인터파크 티켓", 1)["thumbnail"] == {"url": image}


def test_render_change_shows_before_and_after() -> None:
    before = ticket()
    later = seoul(2026, 12, 2, 20)
    after = ticket(open_at=later, venue="고척스카이돔")
    assert after.changes_from(before) == ["open_at", "venue"]
    embed = render_change(before, after, "멜론티켓", 7)
    assert embed["title"] == "[변경] 아이유 콘서트 〈HEREH〉"
    value = field(embed, "티켓 오픈")  # the field's own name, as in the notice's embed
    old, new = value.split("\n→ ")
    assert f"<t:{OPEN_UNIX}:F>" in old and f"<t:{int(later.timestamp())}:F>" in new
    assert field(embed, "장소") == "KSPO DOME\n→ 고척스카이돔"
    assert embed["url"] == NOTICE_URL
    assert_within_limits(embed)


def test_render_change_to_tba_and_unchanged_time_still_shown() -> None:
    embed = render_change(ticket(), ticket(open_at=None), "멜론티켓", 7)
    assert field(embed, "티켓 오픈").endswith(f"→ {TBA}")
    embed = render_change(ticket(), ticket(title="아이유 콘서트 추가 회차"), "멜론티켓", 7)
    assert field(embed, "제목") == "아이유 콘서트 〈HEREH〉\n→ 아이유 콘서트 추가 회차"
    assert f"<t:{OPEN_UNIX}:F>" in field(embed, "티켓 오픈")


def test_presales_with_the_same_name_and_an_unknown_time() -> None:
    """Sorting (name, None) against (name, datetime) used to raise TypeError and kill the site's cycle."""
    before = ticket(presales=(Presale("선예매", OPEN_AT), Presale("선예매", None)))
    after = ticket(presales=(Presale("선예매", None), Presale("선예매", seoul(2026, 11, 30, 20))))
    assert before.with_(presales=tuple(reversed(before.presales))).changes_from(before) == []
    assert after.changes_from(before) == ["presales"]
    embed = render_change(before, after, "멜론티켓", 1)
    assert field(embed, "선예매").count(TBA) == 2
    assert_within_limits(embed)


def test_views_and_poster_are_not_changes() -> None:
    assert ticket(views=10_000, image_url="https://cdn.example.com/new.jpg").changes_from(ticket()) == []


def test_render_test() -> None:
    now = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    embed = render_test(now)
    assert embed["footer"]["text"] == "ticket-alarm send-test"
    assert f"<t:{int(now.timestamp())}:F>" in field(embed, "보낸 시각")
    assert_within_limits(embed)


# --- hostile input -----------------------------------------------------------------------------------


def test_huge_title_and_fields() -> None:
    hostile = ticket(
        title="가" * 10_000,
        venue="장소" * 5_000,
        genre="g" * 3_000,
        presales=tuple(Presale(f"선예매 {n} " + "x" * 300, OPEN_AT) for n in range(40)),
        id="9" * 3000,
    )
    embed = render_notice(hostile, "s" * 1000, 1)
    assert_within_limits(embed)
    assert embed["title"].endswith("…") and len(embed["title"]) == 256
    names = [f["name"] for f in embed["fields"]]
    assert "일반 예매" in names  # the most important field survives 40 presales
    assert names[-1] == "일반 예매" or "그 밖의 선예매 35건" in names


def test_fit_embed_with_everything_over_the_limits() -> None:
    embed = {
        "title": "t" * 10_000,
        "description": "d" * 10_000,
        "author": {"name": "a" * 1000},
        "footer": {"text": "f" * 5000},
        "fields": [{"name": "n" * 500, "value": "v" * 2000, "inline": True} for _ in range(40)],
        "url": "javascript:alert(1)",
        "thumbnail": {"url": "/relative.png"},
        "image": {"url": "not a url"},
        "color": 5,
    }
    out = fit_embed(embed)
    assert_within_limits(out)
    assert "url" not in out and "thumbnail" not in out and "image" not in out
    assert len(out["description"]) <= LIMITS["description"]


def test_fit_embed_empty_and_missing_values() -> None:
    out = fit_embed({"title": "\u202e\u0000 ", "fields": [{"name": "", "value": ""}, {"name": None}]})
    assert out["title"] == "(제목 없음)"
    assert out["fields"] == [{"name": "-", "value": "-", "inline": False}] * 2
    assert_within_limits(out)


def test_control_characters_and_bidi_overrides_are_removed() -> None:
    spoof = "정상 제목\u202e\u2066txt.exe\u2069\u200f\u0007\u001b[31m"
    embed = render_notice(ticket(title=spoof, venue=spoof, genre=spoof), "멜론\u202e티켓", 1)
    text = json.dumps(embed, ensure_ascii=False)
    for ch in ("\u202e", "\u2066", "\u2069", "\u200f", "\u0007", "\u001b"):
        assert ch not in text
    assert embed["author"]["name"] == "멜론티켓"
    assert_within_limits(embed)


def test_lone_surrogates_cannot_break_the_json_body() -> None:
    """A site that cuts a title in the middle of a UTF-16 pair sends "\\ud83c" in its JSON."""
    broken = json.loads('"\\ud83c 아이유 콘서트 \\udf89"')
    embed = render_notice(ticket(title=broken, venue=broken, genre=broken), "멜론티켓", 1)
    assert_within_limits(embed)
    assert "아이유 콘서트" in embed["title"]
    httpx.Request("POST", "https://discord.com/api/webhooks/1/t", json=message([embed]))  # encodes


@pytest.mark.parametrize(
    "url",
    ["javascript:alert(1)", "/csoon/detail.htm?csoonId=1", "csoon/detail.htm", "https://", "mailto:a@b.com"],
)
def test_bad_notice_links_are_dropped(url: str) -> None:
    embed = render_notice(ticket(url=url, booking_url=url), "멜론티켓", 1)
    assert "url" not in embed
    assert "예매" not in [f["name"] for f in embed["fields"]]
    assert_within_limits(embed)


# --- batching and messages -----------------------------------------------------------------------------


def test_batch_size_counts_embeds_and_characters() -> None:
    small = fit_embed({"title": "t", "fields": [{"name": "n", "value": "v"}]})
    assert batch_size([small] * 25) == MAX_EMBEDS
    assert batch_size([small] * 3) == 3
    assert batch_size([]) == 0
    big = fit_embed({"title": "x" * 256, "description": "d" * 2700})  # 2956 characters
    assert embed_size(big) == 2956
    assert batch_size([big, big, big]) == 2
    assert batch_size([big, big, small]) == 3
    huge = fit_embed({"title": "h", "description": "d" * 4096, "footer": {"text": "f" * 1903}})
    assert embed_size(huge) == MAX_TOTAL
    assert batch_size([huge, small]) == 1  # the first always goes, alone when it has to


def test_batches_of_hostile_embeds_pass_the_strict_validator() -> None:
    embeds = [
        render_notice(ticket(title="가" * 10_000, venue="v" * 5000, id=str(n)), "멜론티켓", 1)
        for n in range(30)
    ]
    sent = 0
    while sent < len(embeds):
        count = batch_size(embeds[sent:])
        assert 1 <= count <= MAX_EMBEDS
        problem, _ = validate_message(message(embeds[sent : sent + count]))
        assert problem is None, problem
        sent += count


def test_message_always_carries_allowed_mentions() -> None:
    payload = message([render_test(datetime.now(UTC))])
    assert payload["allowed_mentions"] == {"parse": []} and "content" not in payload
    with_roles = message([], role_ids=["111", "222"])
    assert with_roles["allowed_mentions"] == {"parse": [], "roles": ["111", "222"]}
    assert with_roles["content"] == "<@&111> <@&222>"
    # a caller mutating one payload must not change the next one
    payload["allowed_mentions"]["parse"].append("everyone")
    assert message([])["allowed_mentions"] == {"parse": []}


_PIECES = [
    "@everyone",
    "@here",
    "<@&123456789>",
    "<@42>",
    "**",
    "__",
    "`",
    "\u202e",
    "\n",
    "가",
    "[x](javascript:y)",
]
_text = st.lists(st.text(max_size=20) | st.sampled_from(_PIECES), max_size=12).map("".join)


@st.composite
def tickets(draw: st.DrawFn) -> Ticket:
    open_at = draw(
        st.none()
        | st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC))
    )
    return Ticket(
        site="melon",
        id=draw(st.text(min_size=1, max_size=40)),
        title=draw(_text.filter(bool)),
        url=draw(st.sampled_from([NOTICE_URL, "http://tickets.example.kr/n/1", "javascript:x"])),
        open_at=open_at,
        category=draw(st.sampled_from(["open", "change"])),
        exclusive=draw(st.booleans()),
        presales=tuple(draw(st.lists(st.builds(Presale, _text, st.none() | st.just(OPEN_AT)), max_size=6))),
        venue=draw(_text),
        genre=draw(_text),
        image_url=draw(st.sampled_from([POSTER, "", "javascript:x", "//x.jpg"]) | st.text(max_size=30)),
        booking_url=draw(st.sampled_from(["", "https://ticket.example.kr/b?x=1"]) | st.text(max_size=30)),
        open_date=draw(st.none() | st.dates(min_value=date(2000, 1, 1), max_value=date(2100, 1, 1))),
    )


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(tickets(), min_size=1, max_size=8), st.integers(0, 0xFFFFFF))
def test_random_tickets_are_accepted_and_ping_nobody(batch: list[Ticket], color: int) -> None:
    embeds = [render_notice(t, "멜론티켓 @everyone", color) for t in batch]
    embeds += [render_change(batch[0], t, "멜론티켓", color) for t in batch[1:3]]
    sent = 0
    while sent < len(embeds):
        count = batch_size(embeds[sent:])
        payload = message(embeds[sent : sent + count])
        problem, fake = validate_message(payload)
        assert problem is None, problem
        assert fake.mention_violations == [] and fake.fired_mentions == []
        assert payload["allowed_mentions"] == {"parse": []}
        sent += count


# --- the webhook client against the real stand-in -----------------------------------------------------


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    """conftest's stand-in, stopped in the background (shutdown waits up to 0.5 s for a poll)."""
    fake = FakeDiscord().start()
    yield fake
    threading.Thread(target=fake.stop, daemon=True).start()


def embed_n(n: int) -> dict[str, Any]:
    return render_notice(ticket(id=str(n), title=f"공연 {n}"), "멜론티켓", 1)


async def test_sent_with_message_id(discord: FakeDiscord, http: httpx.AsyncClient) -> None:
    url = discord.add_webhook()
    client = WebhookClient(http, SystemClock())
    outcome = await client.execute(url, message([embed_n(1)]))
    assert outcome.kind == "sent" and outcome.status == 200
    assert outcome.message_id == discord.messages[0].message_id
    assert discord.messages[0].payload["allowed_mentions"] == {"parse": []}


async def test_bucket_headers_prevent_429s(discord: FakeDiscord, http: httpx.AsyncClient) -> None:
    url = discord.add_webhook()
    client = WebhookClient(http, SystemClock())
    started = time.monotonic()
    outcomes = [await client.execute(url, message([embed_n(n)])) for n in range(12)]
    elapsed = time.monotonic() - started
    assert [o.kind for o in outcomes] == ["sent"] * 12
    assert discord.count_429 == 0 and client.rate_limited == 0
    assert len(discord.messages) == 12
    assert elapsed >= 2 * discord.bucket_window - 0.5  # it really waited for two resets


async def test_429_body_retry_after_is_parsed_and_waited(
    discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    url = discord.add_webhook()
    clock = FakeClock()
    client = WebhookClient(http, clock)
    discord.faults.append(
        Fault(
            status=429, body={"message": "You are being rate limited.", "retry_after": 3.25, "global": False}
        )
    )
    outcome = await client.execute(url, message([embed_n(1)]))
    assert outcome.kind == "rate_limited" and outcome.status == 429
    assert outcome.retry_after == 3.25 and client.rate_limited == 1
    again = await client.execute(url, message([embed_n(1)]))
    assert again.kind == "sent"
    assert clock.slept == [3.25]


async def test_real_bucket_exhaustion_gives_a_parsed_429(
    discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    url = discord.add_webhook()
    for n in range(discord.bucket_limit):  # another client used up the bucket
        await WebhookClient(http, SystemClock()).execute(url, message([embed_n(n)]))
    outcome = await WebhookClient(http, SystemClock()).execute(url, message([embed_n(99)]))
    assert outcome.kind == "rate_limited"
    assert outcome.retry_after is not None and 0 < outcome.retry_after <= discord.bucket_window
    assert outcome.retry_after != int(outcome.retry_after)  # from the body, not the rounded header


async def test_global_429_holds_every_webhook(http: httpx.AsyncClient) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if "111111111111" in request.url.path and not calls:
            calls.append(1)
            return httpx.Response(429, json={"retry_after": 1.5, "global": True})
        return httpx.Response(200, json={"id": "5"})

    calls: list[int] = []
    clock = FakeClock()
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock:
        client = WebhookClient(mock, clock)
        first = await client.execute(
            "https://discord.com/api/webhooks/111111111111/aaaaaaaaaaaa", message([])
        )
        second = await client.execute(
            "https://discord.com/api/webhooks/222222222222/bbbbbbbbbbbb", message([])
        )
    assert first.kind == "rate_limited" and first.retry_after == 1.5
    assert second.kind == "sent" and clock.slept == [1.5]


async def test_429_without_body_uses_retry_after_header(http: httpx.AsyncClient) -> None:
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(
            lambda r: httpx.Response(429, text="slow down", headers={"Retry-After": "4"})
        )
    ) as mock:
        outcome = await WebhookClient(mock, FakeClock()).execute(
            "https://discord.com/api/webhooks/111111111111/aaaaaaaaaaaa", message([])
        )
    assert outcome.kind == "rate_limited" and outcome.retry_after == 4.0


async def test_deleted_webhook_is_broken(discord: FakeDiscord, http: httpx.AsyncClient) -> None:
    url = discord.add_webhook("123456789012345678")
    discord.delete_webhook("123456789012345678")
    outcome = await WebhookClient(http, SystemClock()).execute(url, message([embed_n(1)]))
    assert outcome.kind == "broken" and outcome.status == 404 and "Unknown Webhook" in outcome.error


async def test_wrong_token_is_broken(discord: FakeDiscord, http: httpx.AsyncClient) -> None:
    url = discord.add_webhook("123456789012345678")
    outcome = await WebhookClient(http, SystemClock()).execute(url + "x", message([embed_n(1)]))
    assert outcome.kind == "broken" and outcome.status == 401


async def test_invalid_form_body_is_dead(discord: FakeDiscord, http: httpx.AsyncClient) -> None:
    url = discord.add_webhook()
    bad = {**embed_n(1), "title": "x" * 300}  # bypasses fit_embed on purpose
    outcome = await WebhookClient(http, SystemClock()).execute(url, message([bad]))
    assert outcome.kind == "dead" and outcome.status == 400
    assert "Invalid Form Body" in outcome.error and "title longer than 256" in outcome.error


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_are_retried(discord: FakeDiscord, http: httpx.AsyncClient, status: int) -> None:
    url = discord.add_webhook()
    discord.fail(status)
    client = WebhookClient(http, SystemClock())
    outcome = await client.execute(url, message([embed_n(1)]))
    assert outcome.kind == "retry" and outcome.status == status and f"HTTP {status}" in outcome.error
    assert (await client.execute(url, message([embed_n(1)]))).kind == "sent"


async def test_timeout_is_retried(discord: FakeDiscord) -> None:
    url = discord.add_webhook()
    discord.fail(hang=True)
    async with httpx.AsyncClient(timeout=0.3) as client:
        outcome = await WebhookClient(client, SystemClock()).execute(url, message([embed_n(1)]))
    assert outcome.kind == "retry" and "timeout" in outcome.error
    assert discord.messages == []


async def test_connection_refused_is_retried(http: httpx.AsyncClient) -> None:
    port = _free_port()
    url = f"http://127.0.0.1:{port}/api/webhooks/123456789012345678/tokentokentoken"
    client = WebhookClient(http, SystemClock())
    outcome = await client.execute(url, message([embed_n(1)]))
    assert outcome.kind == "retry" and "connection failed" in outcome.error
    assert await client.probe(url) is None


async def test_probe_gets_and_never_posts(discord: FakeDiscord, http: httpx.AsyncClient) -> None:
    url = discord.add_webhook("123456789012345678")
    client = WebhookClient(http, SystemClock())
    assert await client.probe(url) == 200
    discord.delete_webhook("123456789012345678")
    assert await client.probe(url) == 404
    assert discord.requests == [] and discord.messages == []  # GETs are not POSTs


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_bucket_wait_uses_the_clock() -> None:
    headers = {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-After": "2.5"}

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(200, json={"id": "1"}, headers=headers))
    ) as mock:
        clock = FakeClock()
        client = WebhookClient(mock, clock)
        url = "https://discord.com/api/webhooks/111111111111/aaaaaaaaaaaa"
        await client.execute(url, message([]))
        await client.execute(url, message([]))
        await client.execute("https://discord.com/api/webhooks/222222222222/bbbbbbbbbbbb", message([]))
    assert clock.slept == [2.5]  # the second webhook has its own bucket
    await asyncio.sleep(0)
    assert timedelta(seconds=sum(clock.slept)) == timedelta(seconds=2.5)


_URL = "https://discord.com/api/webhooks/123456789012345678/TokenTokenTokenToken_secret"


@pytest.mark.parametrize(
    ("status", "content_type", "body", "kind"),
    [
        (400, "application/json", {"code": 50035, "message": "Invalid Form Body"}, "dead"),
        (400, "text/html", "<html>400 Bad Request</html>", "retry"),  # a proxy or Cloudflare, not Discord
        (413, "text/html", "<html>413 Request Entity Too Large</html>", "retry"),
        (403, "text/html", "<html>error code: 1006</html>", "retry"),  # Cloudflare's IP block
        (403, "application/json", {"code": 50013, "message": "Missing Permissions"}, "broken"),
        (401, "application/json", {"code": 50027, "message": "Invalid Webhook Token"}, "broken"),
        (404, "application/json", {"code": 10015, "message": "Unknown Webhook"}, "broken"),
        (404, "text/html", "<html>not found</html>", "retry"),
        (308, "text/html", "", "retry"),
        (502, "text/html", "<html>bad gateway</html>", "retry"),
    ],
)
async def test_only_discords_own_json_error_is_permanent(
    status: int, content_type: str, body: Any, kind: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raw = json.dumps(body) if isinstance(body, dict) else f"{body} echo {request.url}"
        headers = (
            {"Content-Type": content_type, "Location": str(request.url)}
            if status == 308
            else {"Content-Type": content_type}
        )
        return httpx.Response(status, content=raw.encode(), headers=headers)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        outcome = await WebhookClient(http, FakeClock()).execute(_URL, message([embed_n(1)]))
    assert outcome.kind == kind, outcome
    assert "TokenTokenTokenToken_secret" not in outcome.error  # an echoed URL is masked at once


async def test_repeated_429s_wait_at_least_a_second_and_grow() -> None:
    clock = FakeClock()
    answers = [
        httpx.Response(
            429, json={"message": "You are being rate limited.", "retry_after": 0, "global": False}
        ),
        httpx.Response(
            429, json={"message": "You are being rate limited.", "retry_after": 0.01, "global": False}
        ),
        httpx.Response(429, content=b"error code: 1015", headers={"Content-Type": "text/plain"}),
    ]
    async with httpx.AsyncClient(transport=httpx.MockTransport(lambda r: answers.pop(0))) as http:
        client = WebhookClient(http, clock)
        waits = [(await client.execute(_URL, message([embed_n(1)]))).retry_after for _ in range(3)]
    assert waits == [1.0, 2.0, 4.0]
    assert (
        client.bucket_wait("https://discord.com/api/webhooks/999999999999999999/other_token_value") > 0
    )  # HTML 429: global


def test_a_change_of_the_open_beside_presales_keeps_the_name_일반_예매() -> None:
    presales = (Presale("팬클럽 선예매", seoul(2026, 11, 30, 20)),)
    before = ticket(presales=presales)
    after = ticket(presales=presales, open_at=seoul(2026, 12, 2, 20))
    names = [f["name"] for f in render_change(before, after, "멜론티켓", 7)["fields"]]
    assert names == ["일반 예매"]  # as the notice's own embed names it, not "티켓 오픈 변경"
    unchanged = render_change(before, ticket(presales=presales, venue="고척스카이돔"), "멜론티켓", 7)
    assert [f["name"] for f in unchanged["fields"]] == ["장소", "일반 예매"]


def test_every_sites_embed_has_the_same_footer_and_says_what_kind_of_alert_it_is() -> None:
    for extra in ({}, {"posted": "2026.11.24"}):
        new = render_notice(ticket(extra=extra), "멜론티켓", 1)["footer"]["text"]
        change = render_change(ticket(extra=extra), ticket(extra=extra, venue="x"), "멜론티켓", 1)
        soon = render_reminder(ticket(extra=extra), "멜론티켓", 1, 60)["footer"]["text"]
        assert new.startswith("ticket-alarm") and new.endswith(" · 새 공지")
        assert change["footer"]["text"].startswith("ticket-alarm")
        assert change["footer"]["text"].endswith(" · 변경 알림")
        assert soon.startswith("ticket-alarm") and soon.endswith(" · 1시간 전 알림")


async def test_a_silent_send_sets_suppress_notifications_and_only_then(
    discord: FakeDiscord, http: httpx.AsyncClient
) -> None:
    from ticket_alarm.delivery.discord.webhook import DiscordNotifier
    from ticket_alarm.delivery.notify import NewNotice

    sender = DiscordNotifier("r", discord.add_webhook(), WebhookClient(http, FakeClock()))
    alert = NewNotice(site_name="멜론티켓", color=1, ticket=ticket())
    assert (await sender.send([alert])).kind == "sent"
    assert (await sender.send([alert], silent=True)).kind == "sent"
    assert [m.payload.get("flags") for m in discord.messages] == [None, 4096]
