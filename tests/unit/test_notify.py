"""Alerts in the outbox (issue 10, item 3): what a change is, the Alert's JSON, legacy embed rows (rewritten
by the store's schema step 5, on SQLite and PostgreSQL), notifiers (the dry run is one), and the import
direction (the pipeline and delivery know no Discord)."""

from __future__ import annotations

import ast
import io
import json
import random
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import ROOT, run_cli, stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.legacy_outbox import is_legacy_payload, legacy_payload, old_store_file, raw_payloads
from tests.support.site_standin import FakeSite
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import STDOUT_ROUTE
from ticket_alarm.core.model import CHANGE_FIELDS, Presale, Ticket, seoul
from ticket_alarm.delivery.discord.render import (
    alert_text,
    render_alert,
    render_change,
    render_notice,
    render_reminder,
)
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.notify import (
    Alert,
    AlertFormatError,
    Changed,
    NewNotice,
    Reminder,
    StdoutNotifier,
)
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.store import DB_NAME, SCHEMA_VERSION, NewOutboxRow
from ticket_alarm.store.sqlite.backend import SqliteStore

FIXTURE = Path(__file__).parents[1] / "fixtures" / "outbox" / "legacy_rows.json"
MELON = 0x00CD3C


def ticket(**changes: Any) -> Ticket:
    base = Ticket(
        "melon",
        "11376",
        "아이유 콘서트",
        "https://ticket.melon.com/csoon/detail.htm?csoonId=11376",
        seoul(2027, 3, 1, 20),
        presales=(Presale("팬클럽 선예매", seoul(2027, 2, 27, 20)), Presale("일반", None)),
        venue="KSPO DOME",
        genre="콘서트",
    )
    return base.with_(**changes)


def legacy_rows() -> list[dict[str, Any]]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))["rows"]


# --- what counts as a change ---------------------------------------------------------------------------


def test_changes_from_names_each_changed_field_in_order() -> None:
    before = ticket()
    after = before.with_(venue="고척스카이돔", title="아이유 콘서트 추가 회차", category="change")
    assert after.changes_from(before) == ["title", "venue", "category"]
    assert ticket(open_at=None, open_date=seoul(2027, 3, 1).date()).changes_from(before) == ["open_at"]
    # a day-only open gaining its time is a change of the open, too
    day_only = ticket(open_at=None, open_date=seoul(2027, 3, 1).date())
    assert ticket(open_date=seoul(2027, 3, 1).date()).changes_from(day_only) == ["open_at"]
    moved = before.with_(presales=(Presale("팬클럽 선예매", seoul(2027, 2, 28, 20)),))
    assert moved.changes_from(before) == ["presales"]
    assert list(CHANGE_FIELDS) == ["title", "open_at", "presales", "venue", "category"]


def test_what_is_not_content_is_never_a_change_and_the_digest_agrees() -> None:
    before = ticket()
    same = [
        before.with_(views=10_000, image_url="https://cdn.example.com/new.jpg", genre="뮤지컬"),
        before.with_(booking_url="https://ticket.example.com/b", exclusive=True, extra={"posted": "x"}),
        before.with_(presales=tuple(reversed(before.presales))),
    ]
    for other in same:
        assert other.changes_from(before) == [] and other.digest == before.digest
    changed = [before.with_(title="x"), before.with_(open_at=None), before.with_(venue="")]
    for other in changed:
        assert other.changes_from(before) and other.digest != before.digest


# --- the Alert and its JSON ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "alert",
    [
        NewNotice("멜론티켓", MELON, ticket()),
        Changed("멜론티켓", MELON, ticket(venue="고척스카이돔"), before=ticket()),
        Reminder("멜론티켓", MELON, ticket(), offset_min=60),
    ],
    ids=["new", "change", "reminder"],
)
def test_an_alert_survives_the_outbox_json_and_renders_as_before(alert: Alert) -> None:
    text = json.dumps(alert.to_json(), ensure_ascii=False)
    back = Alert.from_json(json.loads(text))
    assert back == alert and back.to_json() == alert.to_json()
    assert back.to_json()["title"] == "아이유 콘서트"  # `outbox list` reads the title at the top
    expected = {
        "new": lambda: render_notice(ticket(), "멜론티켓", MELON),
        "change": lambda: render_change(ticket(), ticket(venue="고척스카이돔"), "멜론티켓", MELON),
        "reminder": lambda: render_reminder(ticket(), "멜론티켓", MELON, 60),
    }[alert.kind]()
    assert render_alert(back) == expected


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ({"alert": 1, "kind": "party", "site_name": "s", "color": 1}, "unknown alert kind"),
        ({"alert": 1, "kind": "new", "site_name": "s", "color": 1}, "carries its ticket"),
        ({"alert": 1, "kind": "change", "ticket": ticket().to_json()}, "as it was before"),
        ({"alert": 1, "kind": "reminder", "ticket": ticket().to_json()}, "carries its offset"),
        ({"alert": 2, "kind": "new", "ticket": ticket().to_json()}, "version 2"),
        ({"alert": 1, "kind": "new", "ticket": {"site": "melon"}}, "unreadable"),
        ({"no": "title"}, "no 'alert' key"),
        ({"title": "an embed of an older version", "fields": []}, "no 'alert' key"),  # step 5 ran
        ([1, 2], "JSON object"),
    ],
)
def test_a_payload_that_is_no_alert_is_refused_by_name(payload: Any, why: str) -> None:
    with pytest.raises(AlertFormatError, match=why):
        Alert.from_json(payload)


# --- legacy rows: Discord embeds written by older versions ---------------------------------------------


# embeds as older versions wrote them: the fixture's three, and the shapes an embed could take
EMBEDS: list[dict[str, Any]] = [
    {"title": "공지 (작성자 없음)", "color": 0x1E90FF, "fields": []},
    {"title": "색 없는 공지", "author": {"name": "예스24", "url": "https://ticket.yes24.com"}},
    {"author": {"icon_url": "https://x.example/i.png"}, "title": "이름 없는 작성자", "color": 3.0},
    {
        "title": "따옴표 \"큰\" '작은' \\역슬래시\\ 〈HEREH〉 🎫",
        "description": '줄\n바꿈\t탭 "중첩 {"json": [1, 2]}"',
        "color": 0,
        "author": {"name": '인터파크 "티켓"'},
        "fields": [{"name": "장소", "value": '잠실 "주경기장"', "inline": True}, {"name": "", "value": "-"}],
        "footer": {"text": "게시 2027-02-10"},
        "timestamp": "2027-02-10T09:00:00+09:00",
        "big": 12345678901234567,
        "ratio": 0.5,
    },
    {
        "title": "",
        "color": -1,
        "author": "멜론티켓 (문자열)",
        "thumbnail": {"url": "https://x.example/p.jpg"},
    },
    {
        "title": "널\x00문자",
        "author": {"name": "티켓\x00링크"},
        "color": 7,
        "fields": [{"name": "\x00", "value": "v"}],
    },
]
# not embeds: left as they are, dead letters at read time
NOT_EMBEDS: list[Any] = [{"no": "title"}, [1, 2], {"title": 7}, {"title": "t", "fields": None}, "nope"]


def old_embeds() -> list[dict[str, Any]]:
    return [r["payload"] for r in legacy_rows()] + EMBEDS


def test_the_reference_conversion_keeps_the_embed_and_reads_as_a_legacy_alert() -> None:
    for embed in old_embeds():
        original = json.dumps(embed, ensure_ascii=False)
        assert is_legacy_payload(embed)
        converted = legacy_payload(embed)
        assert json.dumps(embed, ensure_ascii=False) == original  # the input is not touched
        assert converted["kind"] == "legacy" and converted["embed"] == embed
        alert = Alert.from_json(converted)
        assert alert.kind == "legacy" and alert.embed == embed and alert.title == embed["title"]
        assert Alert.from_json(json.loads(json.dumps(alert.to_json()))) == alert
        assert list(alert.to_json()) == list(converted)  # the key order Alert.to_json writes
    fixture = legacy_payload(legacy_rows()[0]["payload"])
    assert (fixture["site_name"], fixture["color"]) == ("멜론티켓", MELON)
    assert [(legacy_payload(e)["site_name"], legacy_payload(e)["color"]) for e in EMBEDS] == [
        ("", 0x1E90FF),
        ("예스24", 0),
        ("", 0),
        ('인터파크 "티켓"', 0),
        ("", -1),
        ("티켓\x00링크", 7),
    ]
    for payload in NOT_EMBEDS:
        assert not is_legacy_payload(payload)


def assert_rewritten(
    raw: dict[int, str], ids: list[int], embeds: list[dict[str, Any]], *, nul_dropped: bool = False
) -> None:
    """Each old row now holds exactly the reference payload, keys in order, the embed unchanged.
    ``nul_dropped``: PostgreSQL's jsonb drops a \u0000 from the title and author name (not the embed)."""
    for row_id, embed in zip(ids, embeds, strict=True):
        stored = json.loads(raw[row_id])
        expected = legacy_payload(embed)
        if nul_dropped:
            expected |= {k: expected[k].replace("\x00", "") for k in ("title", "site_name")}
        assert stored == expected, row_id
        assert list(stored) == list(expected)
        # byte-for-byte what the notifier will serialize: same keys, same order, same values
        assert json.dumps(stored["embed"], ensure_ascii=False) == json.dumps(embed, ensure_ascii=False)


def test_schema_step_5_rewrites_old_embed_rows_in_place_exactly_as_the_reference(tmp_path: Path) -> None:
    db = tmp_path / DB_NAME
    embeds = old_embeds()
    written = [json.dumps(p, ensure_ascii=False) if not isinstance(p, str) else p for p in NOT_EMBEDS]
    ids = old_store_file(db, [*embeds, *NOT_EMBEDS])
    SqliteStore.open_file(db).close_sync()  # the current code opens it: steps 5.. run
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 5
    conn.close()
    raw = raw_payloads(db)
    assert_rewritten(raw, ids[: len(embeds)], embeds)
    assert [raw[i] for i in ids[len(embeds) :]] == written  # untouched, byte for byte
    assert len(raw) == len(embeds) + len(NOT_EMBEDS)  # nothing dropped


async def test_postgres_schema_step_5_rewrites_old_embed_rows_exactly_as_the_reference(pg_url: str) -> None:
    import psycopg

    from ticket_alarm.store.postgres.engine import PostgresStore, migrations

    embeds = old_embeds()
    not_embeds = [*NOT_EMBEDS, '{"title": "nul \\u0000 in a title", "bad json"']
    written = [json.dumps(p, ensure_ascii=False) if not isinstance(p, str) else p for p in not_embeds]
    async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
        await conn.execute(
            "CREATE TABLE schema_migrations(version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"
        )
        for number, name, sql in migrations()[:4]:  # the database as the version before step 5 left it
            await conn.execute(sql.encode())
            await conn.execute("INSERT INTO schema_migrations(version, name) VALUES (%s, %s)", (number, name))
        ids = []
        for text in [json.dumps(e, ensure_ascii=False) for e in embeds] + written:
            cur = await conn.execute(
                "INSERT INTO outbox(route, kind, site, payload, created_at, next_attempt_at) "
                "VALUES ('default', 'new', 'melon', %s, 0, 0) RETURNING id",
                (text,),
            )
            row = await cur.fetchone()
            assert row is not None
            ids.append(int(row[0]))
    store = await PostgresStore.open(pg_url)  # the current code: migrates to step 5 and on
    try:
        assert await store.schema_version() == len(migrations()) >= 5
        raw = {r["id"]: r["payload"] for r in await store._rows("SELECT id, payload FROM outbox")}
    finally:
        await store.close()
    assert_rewritten(raw, ids[: len(embeds)], embeds, nul_dropped=True)
    assert [raw[i] for i in ids[len(embeds) :]] == written
    assert len(raw) == len(ids)


async def _seed_store(path: Path, now: float, *, also: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """A store file at schema 4 holding the outbox rows an older version wrote (embeds, then ``also``),
    opened by the current code (which rewrites them), then one new-style row."""
    rows = legacy_rows()
    old_store_file(path, [r["payload"] for r in rows] + list(also), now=now)
    store = SqliteStore.open_file(path)
    try:
        fresh = NewNotice("멜론티켓", MELON, ticket(id="2", title="새 형식 공연")).to_json()
        await store.enqueue([NewOutboxRow("default", "new", "melon", "k2", fresh)], now)
    finally:
        await store.close()
    return rows


@pytest.fixture
def fake_discord() -> Iterator[FakeDiscord]:
    fake = FakeDiscord(bucket_limit=1000).start()
    yield fake
    # shutdown() waits up to 0.5 s for serve_forever's poll; nothing in the test depends on it
    threading.Thread(target=fake.stop, daemon=True).start()


async def test_a_store_file_with_old_rows_delivers_them_as_they_were_rendered(
    tmp_path: Path, fake_discord: FakeDiscord
) -> None:
    """A file at schema 4 with old rows, opened by the current code: the embeds go out exactly as they were
    stored (keys in order), and a row that is no embed is kept as a dead letter named by its id."""
    clock = FakeClock()
    db = tmp_path / DB_NAME
    rows = await _seed_store(db, clock.now().timestamp(), also=[{"no": "title"}, [1, 2]])
    store = SqliteStore.open_file(db)
    try:
        async with httpx.AsyncClient(timeout=5.0) as http:
            notifier = DiscordNotifier("default", fake_discord.add_webhook(), WebhookClient(http, clock))
            delivery = Delivery(store, [notifier], clock, rng=random.Random(3))
            assert await delivery.drain(timeout=5) == 4
        assert (await store.outbox_stats()).pending == 0 and len(await store.outbox_list(status="sent")) == 4
        dead = await store.outbox_list(status="dead")
        assert [(d.id, d.payload) for d in dead] == [(4, {"no": "title"}), (5, [1, 2])]  # kept as they were
        assert "no 'alert' key" in (dead[0].last_error or "") and "JSON object" in (dead[1].last_error or "")
        assert delivery.stats.dead == 2
    finally:
        await store.close()
    embeds = fake_discord.embeds()
    assert embeds[:3] == [r["payload"] for r in rows]  # posted as-is, one message, oldest first
    assert [json.dumps(e, ensure_ascii=False) for e in embeds[:3]] == [
        json.dumps(r["payload"], ensure_ascii=False) for r in rows
    ]  # byte for byte: the same keys in the same order
    assert embeds[3]["title"] == "새 형식 공연" and embeds[3]["author"] == {"name": "멜론티켓"}
    assert len(fake_discord.messages) == 1
    assert fake_discord.messages[0].payload["allowed_mentions"] == {"parse": []}


async def test_an_unreadable_row_becomes_a_dead_letter_and_the_rest_goes_out(tmp_path: Path) -> None:
    clock = FakeClock()
    store = SqliteStore.open_file(tmp_path / DB_NAME)
    out = io.StringIO()
    try:
        good = NewNotice("멜론티켓", MELON, ticket()).to_json()
        bad = {"alert": 1, "kind": "new", "site_name": "멜론티켓", "color": 1}  # no ticket
        await store.enqueue(
            [NewOutboxRow(STDOUT_ROUTE, "new", "melon", f"k{i}", p) for i, p in enumerate([bad, good])], 1
        )
        delivery = Delivery(store, [StdoutNotifier(alert_text, clock, out=out)], clock)
        assert await delivery.drain(timeout=5) == 1
        [dead] = await store.outbox_list(status="dead")
        assert "unreadable outbox payload" in (dead.last_error or "") and "carries its ticket" in (
            dead.last_error or ""
        )
        assert len(await store.outbox_list(status="sent")) == 1 and delivery.stats.dead == 1
    finally:
        await store.close()
    assert out.getvalue().count("[DRY RUN] 멜론티켓 | 아이유 콘서트") == 1


async def test_once_delivers_old_rows_left_in_the_data_dir(
    tmp_path: Path, site: FakeSite, discord: FakeDiscord
) -> None:
    """The real command on a data_dir an older version left alerts in: they go out unchanged."""
    url = discord.add_webhook()
    config = write_config(tmp_path, stand_config(tmp_path, site, url))
    (tmp_path / "data").mkdir()
    rows = await _seed_store(tmp_path / "data" / DB_NAME, 0.0)
    result = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr
    assert discord.embeds()[:3] == [r["payload"] for r in rows]
    assert "새 형식 공연" in [e["title"] for e in discord.embeds()]


# --- notifiers -----------------------------------------------------------------------------------------


async def test_the_dry_run_is_a_notifier_printing_every_kind(tmp_path: Path) -> None:
    clock = FakeClock(seoul(2027, 2, 27, 19))
    out = io.StringIO()
    notifier = StdoutNotifier(alert_text, clock, out=out)
    assert notifier.route == STDOUT_ROUTE and notifier.fits([NewNotice("s", 1, ticket())] * 30) == 30
    alerts = [
        NewNotice("멜론티켓", MELON, ticket()),
        Changed("멜론티켓", MELON, ticket(venue="고척스카이돔"), before=ticket()),
        Reminder("멜론티켓", MELON, ticket(), offset_min=60),
        Alert.from_json(legacy_payload(legacy_rows()[0]["payload"])),
    ]
    assert (await notifier.send(alerts)).kind == "sent"
    text = out.getvalue()
    assert text.count("[DRY RUN] 멜론티켓 | ") == 4 and "<t:" not in text
    assert "[DRY RUN] 멜론티켓 | [변경] 아이유 콘서트" in text and "장소: KSPO DOME / → 고척스카이돔" in text
    assert "[곧 티켓 오픈]" in text and "2027-03-01 (월) 20:00 KST" in text


DISCORD_FREE = (
    "daemon/pipeline.py",
    "delivery/outbox.py",
    "daemon/reminders.py",
    "delivery/notify.py",
    "core/model.py",
    "config/routes.py",
)


@pytest.mark.parametrize("module", DISCORD_FREE)
def test_the_pipeline_and_delivery_import_nothing_from_discord(module: str) -> None:
    tree = ast.parse((ROOT / "ticket_alarm" / module).read_text(encoding="utf-8"))
    imported = [node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)] + [
        alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names
    ]
    assert not [m for m in imported if m.startswith("ticket_alarm.delivery.discord")], module
    assert "DRY_RUN_ROUTE" not in (ROOT / "ticket_alarm" / module).read_text(encoding="utf-8")
