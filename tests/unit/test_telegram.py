"""The Telegram notifier against the strict Bot API stand-in (real loopback HTTP, an injected clock)."""

from __future__ import annotations

import random
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.telegram_standin import MAX_TEXT, EntityError, FakeTelegram, parse_html, utf16_len
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import RouteSettings, TelegramSettings, destinations
from ticket_alarm.core.model import Presale, Ticket, seoul
from ticket_alarm.delivery.notify import Changed, NewNotice, OpsAlert, Outcome, Reminder
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.delivery.telegram import TelegramNotifier, fit_html, mask_token
from ticket_alarm.store import NewOutboxRow
from ticket_alarm.store.sqlite.backend import SqliteStore

SECRET = "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
BOOKING = "https://tickets.interpark.com/goods/26001234"
HOSTILE = [
    "<script>alert(1)</script>",
    "R&B 페스티벌 & <b>굵게</b>",
    "</b></i><a href='x'>",
    "&amp; &lt; &#60; &bogus; <<>>",
    "가" * 5000,
    "🎫" * 5000,
]


def ticket(**changes: Any) -> Ticket:
    base = Ticket(
        site="interpark",
        id="26001234",
        title="아이유 콘서트 〈HEREH〉",
        url="https://ticket.interpark.com/notice/26001234",
        open_at=seoul(2026, 12, 1, 20, 0),
        venue="KSPO DOME",
        booking_url=BOOKING,
        presales=(Presale("팬클럽 선예매", seoul(2026, 11, 30, 20, 0)),),
    )
    return base.with_(**changes)


def notice(**changes: Any) -> NewNotice:
    return NewNotice("인터파크", 0xF5A623, ticket(**changes))


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def telegram(clock: FakeClock) -> Iterator[FakeTelegram]:
    fake = FakeTelegram(clock=clock.monotonic).start()
    yield fake
    threading.Thread(target=fake.stop, daemon=True).start()


def notifier(
    fake: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock, chat: int | str = 4242, **kw: Any
) -> TelegramNotifier:
    token = next(iter(fake.tokens), None) or fake.add_bot(secret=SECRET)
    return TelegramNotifier(
        "fans/telegram", kw.pop("token", token), str(chat), http, clock, api_base=fake.api_base, **kw
    )


def assert_no_secret(n: TelegramNotifier, *texts: str) -> None:
    for text in (*texts, n.describe()):
        assert SECRET not in text and "AAHdq" not in text, text


# --- one message per alert, escaped, within Telegram's limits -----------------------------------


async def test_a_notice_is_one_html_message_with_a_booking_button(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    outcome = await n.send([notice()])
    assert outcome == Outcome("sent", 200, message_id="1")
    [sent] = telegram.messages
    assert sent.html.startswith("<b>아이유 콘서트 〈HEREH〉</b>\n<i>인터파크</i>")
    assert "\n팬클럽 선예매: 2026-11-30 (월) 20:00 KST" in sent.text
    assert "\n일반 예매: 2026-12-01 (화) 20:00 KST" in sent.text and "\n장소: KSPO DOME" in sent.text
    assert BOOKING not in sent.text  # the link is the button, not text
    buttons = sent.params["reply_markup"]["inline_keyboard"][0]
    assert buttons[0] == {"text": "예매하기", "url": BOOKING}
    assert buttons[1]["url"] == "https://ticket.interpark.com/notice/26001234"
    assert sent.params["parse_mode"] == "HTML" and sent.params["disable_web_page_preview"] is True
    assert sent.params["disable_notification"] is False


async def test_silent_sends_disable_the_notification(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    assert (await n.send([notice()], silent=True)).kind == "sent"
    assert telegram.messages[0].params["disable_notification"] is True


@pytest.mark.parametrize("title", HOSTILE)
async def test_hostile_titles_pass_the_strict_parser_and_read_as_they_are(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock, title: str
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    outcome = await n.send([notice(title=title, venue=title, booking_url="javascript:alert(1)")])
    assert outcome.kind == "sent", outcome.error
    shown = telegram.messages[0].text
    assert shown.startswith(title[:200])  # what the fan reads is the title itself, not markup
    assert utf16_len(shown) <= MAX_TEXT
    assert all(
        b["url"].startswith("https://")
        for b in telegram.messages[0].params["reply_markup"]["inline_keyboard"][0]
    )


async def test_an_alert_over_4096_characters_is_cut_without_breaking_a_tag_or_an_entity(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    huge = OpsAlert("ticket-alarm", 0, {"title": "<&>" * 3000, "description": "&🎫<" * 3000, "fields": []})
    outcome = await n.send([huge])
    assert outcome.kind == "sent", outcome.error
    shown = telegram.messages[0].text
    assert utf16_len(shown) == MAX_TEXT and shown.endswith("…")
    assert telegram.messages[0].html.startswith("<b>&lt;&amp;&gt;")


@pytest.mark.parametrize("limit", [1, 2, 5, 17, 100])
def test_fit_html_counts_text_not_markup(limit: int) -> None:
    pieces = [("a<b>&" * 10, "b"), ("\n", ""), ("🎫&" * 10, "i")]
    out = fit_html(pieces, limit)
    text, _ = parse_html(out)
    assert utf16_len(text) <= limit


@pytest.mark.parametrize(
    "bad",
    ["1 < 2", "R&B", "<script>x</script>", "<b>open", "<b><i>x</b></i>", "</b>", "a > b", '<a href="">x</a>'],
)
def test_the_stand_in_refuses_what_telegram_cannot_parse(bad: str) -> None:
    with pytest.raises(EntityError):
        parse_html(bad)


def test_the_stand_in_reads_entities_and_nesting() -> None:
    text, entities = parse_html(
        '<b>A &amp; B <i>&lt;C&gt;</i></b> &#127915; <a href="https://x.kr/?a=1&amp;b=2">x</a>'
    )
    assert text == "A & B <C> 🎫 x"
    assert entities[-1] == ("a", "https://x.kr/?a=1&b=2")


async def test_a_change_and_a_reminder_render(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    before = ticket(open_at=seoul(2026, 12, 1, 20, 0))
    after = ticket(open_at=seoul(2026, 12, 2, 14, 0))
    assert (await n.send([Changed("인터파크", 1, after, before)])).kind == "sent"
    assert (await n.send([Reminder("인터파크", 1, after, 10)])).kind == "sent"
    change, reminder = telegram.texts()
    assert change.startswith("[변경]") and "2026-12-01 (화) 20:00 KST" in change and "→ 2026-12-02" in change
    assert reminder.startswith("[곧 티켓 오픈]") and "10분 전입니다" in reminder


# --- answers and Outcomes -------------------------------------------------------------------------


async def test_an_unknown_token_is_broken(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_bot(secret=SECRET)
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock, token=f"123456789:{SECRET[::-1]}")
    outcome = await n.send([notice()])
    assert outcome.kind == "broken" and outcome.status == 401
    text = n.broken_text(outcome)
    assert "@BotFather" in text and "fans/telegram" in text
    assert f"{SECRET[::-1]}" not in text + n.describe()
    assert await n.probe() is False


async def test_a_missing_chat_is_broken_and_says_to_check_chat_id(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    n = notifier(telegram, http, clock, chat=-1009999)
    outcome = await n.send([notice()])
    assert outcome.kind == "broken" and outcome.status == 400 and "chat not found" in outcome.error
    assert "telegram.chat_id" in n.broken_text(outcome)
    assert await n.probe() is False


@pytest.mark.parametrize(
    ("kind", "said"), [("private", "blocked by the user"), ("group", "kicked from the group")]
)
async def test_a_blocked_or_kicked_bot_is_broken_until_it_answers_again(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock, kind: str, said: str
) -> None:
    chat_id = 4242 if kind == "private" else -4242
    chat = telegram.add_chat(chat_id, kind)
    chat.blocked = True
    n = notifier(telegram, http, clock, chat=chat_id)
    outcome = await n.send([notice()])
    assert outcome.kind == "broken" and outcome.status == 403 and said in outcome.error
    assert "Start" in n.broken_text(outcome)
    assert await n.probe() is False
    chat.blocked = False
    assert await n.probe() is True


async def test_a_group_upgraded_to_a_supergroup_says_the_new_chat_id(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(-4242, "group")
    n = notifier(telegram, http, clock, chat=-4242)
    telegram.fail(
        400,
        description="Bad Request: group chat was upgraded to a supergroup chat",
        parameters={"migrate_to_chat_id": -1001234567890},
    )
    outcome = await n.send([notice()])
    assert outcome.kind == "broken"
    assert "-1001234567890" in n.broken_text(outcome)


@pytest.mark.parametrize(
    "description",
    ['Bad Request: can\'t parse entities: Unsupported start tag "x"', "Bad Request: message is too long"],
)
async def test_a_refused_message_is_dead_with_a_clear_error(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock, description: str
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    telegram.fail(400, description=description)
    outcome = await n.send([notice()])
    assert outcome.kind == "dead" and outcome.status == 400
    assert outcome.error.startswith("Telegram") and description in outcome.error


async def test_a_text_over_the_limit_is_refused_by_the_stand_in(
    telegram: FakeTelegram, http: httpx.AsyncClient
) -> None:
    token = telegram.add_bot(secret=SECRET)
    telegram.add_chat(4242)
    url = f"{telegram.api_base}/bot{token}/sendMessage"
    body = {"chat_id": 4242, "text": "<b>" + "&amp;" * (MAX_TEXT + 1) + "</b>", "parse_mode": "HTML"}
    answer = (await http.post(url, json=body)).json()
    assert answer == {"ok": False, "error_code": 400, "description": "Bad Request: message is too long"}
    body["text"] = "<b>" + "&amp;" * MAX_TEXT + "</b>"  # 4096 after entities: fine
    assert (await http.post(url, json=body)).json()["ok"] is True


@pytest.mark.parametrize("status", [500, 502, 503])
async def test_server_errors_retry(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock, status: int
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    telegram.fail(status, description="Internal Server Error")
    outcome = await n.send([notice()])
    assert outcome.kind == "retry" and outcome.status == status
    assert (await n.send([notice()])).kind == "sent"


async def test_a_proxy_page_echoing_the_url_retries_and_never_shows_the_token(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    page = f"<html>502 from proxy for {telegram.api_base}/bot123456789:{SECRET}/sendMessage</html>"
    telegram.fail(502, raw=page.encode())
    outcome = await n.send([notice()])
    assert outcome.kind == "retry" and outcome.status == 502 and "proxy" in outcome.error
    quoted = f"123456789%3A{SECRET}"
    assert_no_secret(n, outcome.error, n.scrub(page), n.scrub(f"bot987654321:{SECRET}"), n.scrub(quoted))
    assert "bot123…:****" in n.describe() and "123…:****" in n.scrub(page)


async def test_a_timeout_retries(telegram: FakeTelegram, clock: FakeClock) -> None:
    telegram.add_chat(4242)
    telegram.fail(hang=True)
    async with httpx.AsyncClient() as http:
        n = notifier(telegram, http, clock, timeout=0.3)
        outcome = await n.send([notice()])
    assert outcome.kind == "retry" and "timeout" in outcome.error
    assert telegram.messages == []
    assert_no_secret(n, outcome.error)


async def test_an_unreachable_api_retries_and_probes_unknown(
    http: httpx.AsyncClient, clock: FakeClock
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    n = TelegramNotifier(
        "r/telegram", f"123456789:{SECRET}", "4242", http, clock, api_base=f"http://127.0.0.1:{port}"
    )
    outcome = await n.send([notice()])
    assert outcome.kind == "retry" and "connection failed" in outcome.error
    assert await n.probe() is None
    assert_no_secret(n, outcome.error)


# --- the pace and 429s ----------------------------------------------------------------------------


async def test_a_429_retry_after_is_honoured_on_the_injected_clock(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    telegram.fail(429, description="Too Many Requests: retry after 7", parameters={"retry_after": 7})
    outcome = await n.send([notice()])
    assert outcome.kind == "rate_limited" and outcome.retry_after == 7.0
    assert n.wait() == 7.0
    assert (await n.send([notice()])).kind == "sent"
    assert clock.slept == [7.0]


async def test_another_sender_in_the_chat_draws_a_real_429_which_is_waited_out(
    telegram: FakeTelegram, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    async with httpx.AsyncClient() as mine, httpx.AsyncClient() as theirs:
        other = notifier(telegram, theirs, clock)  # another process, its own pace
        n = notifier(telegram, mine, clock)
        assert (await other.send([notice()])).kind == "sent"
        limited = await n.send([notice()])
        assert limited.kind == "rate_limited" and limited.retry_after == 1.0
        assert (await n.send([notice()])).kind == "sent"
    assert [s for _, s in telegram.requests] == [200, 429, 200]


@pytest.mark.parametrize(
    ("chat", "kind", "count", "elapsed"), [(4242, "private", 5, 4.0), (-4242, "group", 25, 64.0)]
)
async def test_the_pace_per_chat_holds_without_a_429(
    telegram: FakeTelegram,
    http: httpx.AsyncClient,
    clock: FakeClock,
    chat: int,
    kind: str,
    count: int,
    elapsed: float,
) -> None:
    telegram.add_chat(chat, kind)
    n = notifier(telegram, http, clock, chat=chat)
    started = clock.monotonic()
    outcomes = [await n.send([notice(id=str(i))]) for i in range(count)]
    assert [o.kind for o in outcomes] == ["sent"] * count
    assert [s for _, s in telegram.requests] == [200] * count
    assert clock.monotonic() - started == elapsed  # 1/s; a group's 21st waits for the first's minute


async def test_two_routes_into_one_chat_share_its_pace(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    a, b = notifier(telegram, http, clock), notifier(telegram, http, clock)
    assert (await a.send([notice()])).kind == "sent"
    assert b.wait() == 1.0
    assert (await b.send([notice()])).kind == "sent"
    assert [s for _, s in telegram.requests] == [200, 200]


# --- edits, the model, the destination ---------------------------------------------------------------


async def test_edit_rewrites_the_message_and_an_unchanged_edit_counts_as_done(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242)
    n = notifier(telegram, http, clock)
    sent = await n.send([notice()])
    assert sent.message_id is not None
    edited = await n.edit(sent.message_id, [notice(venue="올림픽홀")])
    assert edited.kind == "sent" and edited.message_id == sent.message_id
    assert len(telegram.messages) == 1 and "올림픽홀" in telegram.messages[0].text
    again = await n.edit(sent.message_id, [notice(venue="올림픽홀")])
    assert again.kind == "sent" and ("editMessageText", 400) in telegram.requests
    assert (await n.edit("999", [notice()])).kind == "gone"  # deleted in the chat: the outbox posts afresh


async def test_for_destination_builds_the_lane_and_hides_the_token(
    telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    token = telegram.add_bot(secret=SECRET)
    telegram.add_chat(-1001234567890, "supergroup")
    route = RouteSettings(
        name="fans",
        webhook_url="http://127.0.0.1:1/api/webhooks/123456/abcdefghijkl",
        telegram=TelegramSettings(bot_token=token, chat_id="-1001234567890", api_base=telegram.api_base),
    )
    [dest] = [d for d in destinations(route) if d.kind == "telegram"]
    n = TelegramNotifier.for_destination(dest, http, clock)
    assert n.route == "fans/telegram" and n.fits([notice(), notice()]) == 1
    caps = n.capabilities
    assert (caps.edit, caps.silent, caps.max_batch, caps.max_chars) == (True, True, 1, 4096)
    assert n.fingerprint and SECRET not in n.fingerprint and len(n.fingerprint) == 16
    assert mask_token(token) == "bot123…:****" and mask_token(token) in n.describe()
    assert_no_secret(n)
    assert (await n.send([notice()])).kind == "sent" and await n.probe() is True


# --- through the real drainer and store -------------------------------------------------------------


async def test_a_telegram_lane_delivers_each_alert_once_at_the_chats_pace(
    tmp_path: Path, telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(-4242, "group")
    n = notifier(telegram, http, clock, chat=-4242)
    store = SqliteStore.open_file(tmp_path / "store.sqlite3")
    alerts = [notice(id=str(i), title=HOSTILE[i % 3]) for i in range(3)]
    rows = [NewOutboxRow(n.route, "new", "interpark", f"k{i}", a.to_json()) for i, a in enumerate(alerts)]
    await store.enqueue(rows, clock.now().timestamp())
    telegram.fail(429, description="Too Many Requests: retry after 5", parameters={"retry_after": 5})
    delivery = Delivery(store, [n], clock, rng=random.Random(7))
    assert await delivery.deliver_due(n.route) == 3
    assert [s for _, s in telegram.requests] == [429, 200, 200, 200]
    assert clock.slept == [5.0, 1.0, 1.0]  # the 429's wait, then one message a second
    assert [t.split("\n")[0] for t in telegram.texts()] == [a.ticket.title for a in alerts]
    sent = await store.outbox_list(status="sent")
    assert sorted(r.message_id or "" for r in sent) == ["1", "2", "3"]
    assert delivery.stats.rate_limited == 1 and delivery.stats.failures == 0
    await store.close()


async def test_a_blocked_chat_stops_the_lane_keeps_its_alerts_and_stores_no_token(
    tmp_path: Path, telegram: FakeTelegram, http: httpx.AsyncClient, clock: FakeClock
) -> None:
    telegram.add_chat(4242).blocked = True
    n = notifier(telegram, http, clock)
    store = SqliteStore.open_file(tmp_path / "store.sqlite3")
    await store.enqueue([NewOutboxRow(n.route, "new", "interpark", "k", notice().to_json())], 0)
    delivery = Delivery(store, [n], clock, rng=random.Random(7))
    assert await delivery.deliver_due(n.route) == 0
    assert n.route in delivery.stats.broken and (await store.outbox_stats()).pending == 1
    broken = await store.broken_webhooks()
    assert "blocked" in broken[n.route]
    assert_no_secret(n, *broken.values())
    await store.close()
