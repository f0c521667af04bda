"""Issue 15 item 12: Korean text aligned by display width in every CLI table, and `explain`'s reminders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx

from tests.unit.test_alerts import OPEN_A, ListCrawler, ticket
from ticket_alarm import app
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import RouteSettings, Settings
from ticket_alarm.daemon.pipeline import Pipeline
from ticket_alarm.daemon.reminders import Reminders
from ticket_alarm.fetch.http import Fetcher
from ticket_alarm.i18n.table import cut, pad, render, width
from ticket_alarm.ops.explain import explain, render_text
from ticket_alarm.ops.history import search_text, stats_text
from ticket_alarm.store.api import Sent
from ticket_alarm.store.sqlite.backend import SqliteStore

WEBHOOK = "http://127.0.0.1:9/api/webhooks/123456789012345678/{}"


def test_width_cut_and_pad_count_columns_not_characters() -> None:
    assert width("아이유") == 6 and width("IU") == 2 and width("ＢＴＳ") == 6
    assert width("e\u0301") == 1  # a combining accent takes no column
    assert cut("아이유 콘서트", 7) == "아이유…" and width(cut("아이유 콘서트", 7)) == 7
    assert cut("short", 10) == "short"
    assert pad("콘서트", 8) == "콘서트  " and pad("7", 3, ">") == "  7"


def test_render_aligns_mixed_korean_and_ascii_columns() -> None:
    lines = render(
        ("ROUTE", "N", "TITLE"),
        [("콘서트", "12", "아이유"), ("all", "3", "BTS"), ("뮤지컬알림", "100", "x")],
        align="<>",
    )
    starts = {width(line[: line.rindex(" ") + 1]) for line in lines}
    assert len(starts) == 1, lines  # the last column starts at one display column on every line
    assert lines == [  # the right-aligned N column ends at one display column too
        "ROUTE         N  TITLE",
        "콘서트       12  아이유",
        "all           3  BTS",
        "뮤지컬알림  100  x",
    ]


def test_history_tables_align_korean_titles_and_sites() -> None:
    rows = [
        {"site": "멜론", "id": "1", "title": "가", "first_seen": 0.0, "imported": False},
        {"site": "yes24", "id": "22", "title": "b", "first_seen": 0.0, "imported": True},
    ]
    lines = search_text(rows).splitlines()
    assert (
        len({width(line[: line.index(c)]) for line, c in zip(lines, ("TITLE", "가", "b"), strict=True)}) == 1
    )
    doc = {
        "sites": [{"site": "공연장", "rows": 5, "first_seen": None, "newest": None, "last_seen": None}],
        "total": 5,
        "outbox": {"pending": 0, "sent": 0, "dead": 0},
        "legacy_keys": {"imported": 0, "matched": 0},
    }
    head, row, total = stats_text(doc).splitlines()[:3]
    assert width(head[: head.index("ROWS") + 4]) == width(row[: row.index("5") + 1])
    assert width(total[: total.index("5") + 1]) == width(row[: row.index("5") + 1])


async def test_explain_aligns_korean_route_names_and_shows_a_sent_reminder_as_sent(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 30, 0, 0, tzinfo=UTC))
    settings = Settings(
        routes=[
            RouteSettings(name="콘서트알림", webhook_url=WEBHOOK.format("tokentokentoken1"), reminders=[60]),
            RouteSettings(name="all", webhook_url=WEBHOOK.format("tokentokentoken2"), include=["없는말"]),
        ],
        notify_on_first_run=True,
    )
    store = SqliteStore.open_dir(tmp_path / "data")
    fetcher = Fetcher(settings.http, transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    crawler = ListCrawler()
    crawler.tickets = [ticket("1")]
    try:
        pipeline = Pipeline(settings, store, fetcher, {"fake": crawler}, clock, router=app.router(settings))
        assert (await pipeline.run_site("fake")).ok
        clock.advance((OPEN_A - clock.now()).total_seconds() - 60 * 60)
        assert await Reminders(store, {"fake": crawler}, clock).run_due() == (1, 0)
        doc = await explain(store, app.router(settings), "fake", "1")
        assert doc is not None and [r["status"] for r in doc["reminders"]] == ["queued"]
        reminder = next(r for r in await store.outbox_list() if r.kind == "reminder")
        await store.settle([reminder.id], Sent("m-1"), clock.now().timestamp())
        doc = await explain(store, app.router(settings), "fake", "1")
        assert doc is not None and [r["status"] for r in doc["reminders"]] == ["sent"]
        text = render_text(doc)
        route_lines = [line for line in text.splitlines() if "matched" in line or "skipped" in line]
        assert len(route_lines) == 2
        verdicts = {
            width(line[: line.index("matched" if "matched" in line else "skipped")]) for line in route_lines
        }
        assert len(verdicts) == 1, route_lines
        reminder_line = text.splitlines()[-1]
        assert "콘서트알림" in reminder_line and reminder_line.endswith("sent")
    finally:
        await fetcher.aclose()
        await store.close()
