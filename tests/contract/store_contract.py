"""The store contract: every backend (memory, SQLite, a server database) passes these unchanged.

Used by ``tests/contract/test_store_contract.py``, which provides two fixtures per backend:
``store`` (an empty, writable store) and ``second`` (another handle on the SAME stored data, as a
second process would open it; for the memory backend the same object). A new backend is one
more parameter there. Nothing here knows SQL or files.
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from ticket_alarm.core.model import identity_key
from ticket_alarm.core.notice_memo import NoticeRead
from ticket_alarm.errors import StoreError, StoreLockedError
from ticket_alarm.store.api import (
    Cycle,
    Dead,
    DigestEvent,
    HeadState,
    HistoryRow,
    LegacyKey,
    NewOutboxRow,
    PendingChange,
    ReminderRow,
    Retry,
    Sent,
    SiteState,
    Store,
)

DAY = 86400.0


def hist(n: int, site: str = "melon", digest: str = "d1", **ticket: Any) -> HistoryRow:
    data = {"site": site, "id": str(n), "title": f"공연 {n}", **ticket}
    return HistoryRow(f"{site}:{n}", digest, site, str(n), f"공연 {n}", data)


def msg(route: str = "a", key: str | None = "melon:1", kind: str = "new", **payload: Any) -> NewOutboxRow:
    return NewOutboxRow(route, kind, "melon", key, {"title": "t", **payload})


def cycle(now: float, site: str = "melon", **parts: Any) -> Cycle:
    return Cycle(site=site, now=now, state=parts.pop("state", SiteState(site, initialized=True)), **parts)


def reminder(key: str, offset: int, open_at: float, now: float, status: str = "pending") -> ReminderRow:
    return ReminderRow(key, "melon", "a", offset, open_at, open_at - offset * 60, status, now)


async def test_is_a_store(store: Store) -> None:
    assert isinstance(store, Store)
    assert store.location


# --- history ----------------------------------------------------------------------------------
async def test_commit_cycle_writes_everything_and_says_what(store: Store) -> None:
    result = await store.commit_cycle(
        cycle(
            10.0,
            history=[hist(1), hist(2)],
            events=[DigestEvent("melon:1", "first", "d1", {"x": 1})],
            outbox=[msg(key="melon:1"), msg(route="b", key="melon:1")],
            reminders=[reminder("melon:1", 30, 10_000.0, 10.0)],
            state=SiteState("melon", initialized=True, last_count=2),
        )
    )
    assert (result.history_written, result.touched, result.events, result.reminders) == (2, 0, 1, 1)
    assert len(result.outbox_ids) == 2 and result.outbox_ids[0] < result.outbox_ids[1]
    seen = await store.seen(["melon:1", "melon:2", "melon:3"])
    assert set(seen) == {"melon:1", "melon:2"}
    assert seen["melon:1"].digest == "d1" and seen["melon:1"].ticket["title"] == "공연 1"
    row = await store.notice("melon:1")
    assert row is not None and (row.first_seen, row.last_seen, row.site, row.notice_id) == (
        10.0,
        10.0,
        "melon",
        "1",
    )
    assert [e.event for e in await store.notice_events("melon:1")] == ["first"]
    assert (await store.notice_events("melon:1"))[0].at == 10.0
    assert [o.route for o in await store.notice_outbox("melon:1")] == ["a", "b"]
    assert [(r.offset_min, r.status, r.due_at) for r in await store.reminders(["melon:1"])] == [
        (30, "pending", 10_000.0 - 1800)
    ]
    assert (await store.site_state("melon")).last_count == 2
    assert await store.history_count() == 2 and await store.history_count("melon") == 2
    assert await store.history_count("yes24") == 0


async def test_commit_cycle_updates_touches_and_holds(store: Store) -> None:
    await store.commit_cycle(cycle(10.0, history=[hist(1), hist(2)]))
    await store.commit_cycle(
        cycle(
            20.0,
            touched=["melon:2"],
            pending=[PendingChange("melon:2", "d9", {"held": True}, 1)],
            history=[hist(1, digest="d2")],
        )
    )
    one, two = await store.notice("melon:1"), await store.notice("melon:2")
    assert one is not None and two is not None
    assert (one.digest, one.first_seen, one.last_seen) == ("d2", 10.0, 20.0)
    assert (two.last_seen, two.pending_digest, two.pending_ticket, two.pending_cycles) == (
        20.0,
        "d9",
        {"held": True},
        1,
    )
    seen = await store.seen(["melon:2"])
    assert (seen["melon:2"].pending_digest, seen["melon:2"].pending_cycles) == ("d9", 1)
    await store.commit_cycle(cycle(30.0, pending=[PendingChange("melon:2", None, None, 0)]))
    cleared = await store.notice("melon:2")
    assert cleared is not None and (cleared.pending_digest, cleared.pending_ticket) == (None, None)


async def test_commit_cycle_is_all_or_nothing(store: Store) -> None:
    bad = NewOutboxRow("a", "new", "melon", "melon:1", {"not json": object()})
    with pytest.raises(StoreError):
        await store.commit_cycle(cycle(10.0, history=[hist(1)], outbox=[bad]))
    assert await store.seen(["melon:1"]) == {}
    assert (await store.outbox_stats()).pending == 0
    assert (await store.site_state("melon")).initialized is False


async def test_many_keys_are_looked_up(store: Store) -> None:
    rows = [hist(n) for n in range(1200)]
    await store.commit_cycle(cycle(1.0, history=rows))
    assert len(await store.seen(r.key for r in rows)) == 1200


async def test_payload_is_opaque_json(store: Store) -> None:
    payload = {
        "embeds": [{"title": "한글 ✓", "n": 1.5, "none": None, "list": [1, "2"]}],
        "alert": {"kind": "new"},
    }
    (i,) = await store.enqueue([NewOutboxRow("a", "new", "melon", None, payload)], 5.0)
    (item,) = await store.claim("a", 5.0, owner="t", lease_seconds=60)
    assert item.id == i and item.payload == payload and item.notice_key is None
    assert (await store.outbox_list())[0].payload == payload


async def test_reads_of_history(store: Store) -> None:
    await store.commit_cycle(
        cycle(
            10.0,
            history=[
                hist(1, open_at="2030-05-01T20:00:00+09:00"),
                hist(2, open_date="2030-06-01"),
                hist(3, presales=[{"at": "2030-04-01T10:00:00+09:00"}]),
                hist(4, open_at="2020-01-01T10:00:00+09:00"),
            ],
        )
    )
    await store.commit_cycle(cycle(20.0, site="yes24", history=[hist(9, site="yes24")]))
    assert await store.known_contents("melon") == {
        ("공연 1", "2030-05-01T20:00:00+09:00"),
        ("공연 2", None),
        ("공연 3", None),
        ("공연 4", "2020-01-01T10:00:00+09:00"),
    }
    assert (await store.newest_notice("yes24") or {})["id"] == "9"
    assert (await store.newest_notice("melon") or {})["id"] == "4"  # the same first_seen: inserted last
    assert await store.newest_notice("ticketlink") is None
    by_site = await store.history_by_site()
    assert [(s.site, s.n, s.first_seen, s.newest, s.last_seen) for s in by_site] == [
        ("melon", 4, 10.0, 10.0, 10.0),
        ("yes24", 1, 20.0, 20.0, 20.0),
    ]
    upcoming = await store.upcoming_rows("2030-01-01")
    assert sorted(r.notice_id for r in upcoming) == ["1", "2", "3"]
    assert all(isinstance(r.ticket, dict) for r in upcoming)


async def test_search_history(store: Store) -> None:
    rows = [
        HistoryRow("melon:1", "d", "melon", "1", "IU Concert 100%", {}),
        HistoryRow("melon:2", "d", "melon", "2", "아이유 콘서트", {"open_at": "2030-01-01T10:00:00+09:00"}),
        HistoryRow("melon:3", "d", "melon", "3", "iu_fan meeting", {}),
    ]
    await store.commit_cycle(cycle(10.0, history=rows[:2]))
    await store.commit_cycle(cycle(20.0, history=rows[2:]))
    assert [h.notice_id for h in await store.search_history("iu")] == ["3", "1"]  # newest first, ASCII case
    assert [h.notice_id for h in await store.search_history("100%")] == ["1"]
    assert [h.notice_id for h in await store.search_history("u_")] == ["3"]  # `_` is literal
    assert [h.notice_id for h in await store.search_history("%")] == ["1"]
    hit = (await store.search_history("아이유"))[0]
    assert (hit.origin, hit.open_at, hit.first_seen) == ("history", "2030-01-01T10:00:00+09:00", 10.0)
    assert [
        h.notice_id for h in await store.search_history("IUFAN", fold=lambda s: s.lower().replace("_", ""))
    ] == ["3"]
    assert len(await store.search_history("i", limit=1)) == 1
    await store.import_legacy([LegacyKey("old:1", "record", "melon", "77", "IU 옛 공연", 5.0)], 30.0)
    hits = await store.search_history("IU")
    assert [(h.origin, h.notice_id, h.first_seen) for h in hits][-1] == ("imported", "77", 5.0)


# --- legacy keys -------------------------------------------------------------------------------
async def test_legacy_keys(store: Store) -> None:
    await store.commit_cycle(cycle(1.0, history=[hist(1)]))
    added, known = await store.import_legacy(
        [LegacyKey("melon:1", "hash"), LegacyKey("melon:2", "hash"), LegacyKey("h:abc", "hash")], 2.0
    )
    assert (added, known) == (2, 1)  # melon:1 is in history already
    assert await store.import_legacy([LegacyKey("melon:2", "hash")], 3.0) == (0, 1)
    assert await store.legacy_keys(["melon:1", "melon:2", "melon:3"]) == {"melon:2"}
    assert await store.legacy_counts() == (2, 0)
    await store.commit_cycle(cycle(4.0, history=[hist(2)], legacy_matched=["melon:2"]))
    assert await store.legacy_counts() == (2, 1)


# --- reminders ---------------------------------------------------------------------------------
async def test_reminders_upsert_due_and_settle(store: Store) -> None:
    await store.commit_cycle(
        cycle(
            1.0,
            history=[hist(1)],
            reminders=[reminder("melon:1", 60, 10_000.0, 1.0), reminder("melon:1", 10, 10_000.0, 1.0)],
        )
    )
    assert await store.next_reminder_due() == 10_000.0 - 3600
    stored = await store.reminders(["melon:1"])
    assert [r.offset_min for r in stored] == [60, 10] and all(r.id > 0 for r in stored)
    # an upsert keeps the row (and its id), moving it
    moved = ReminderRow("melon:1", "melon", "a", 60, 20_000.0, 20_000.0 - 3600, "pending", 2.0)
    await store.commit_cycle(cycle(2.0, reminders=[moved]))
    again = {r.offset_min: r for r in await store.reminders(["melon:1"])}
    assert again[60].id == stored[0].id and again[60].open_at == 20_000.0
    assert await store.next_reminder_due() == 10_000.0 - 600
    due = await store.due_reminders(20_000.0)
    assert [d.offset_min for d in due] == [10, 60]  # by due_at
    assert await store.due_reminders(0.0) == []
    ids = await store.settle_reminders(
        9_500.0, queued=[due[0].id], skipped=[due[1].id], outbox=[msg(kind="reminder")]
    )
    assert len(ids) == 1
    assert {r.offset_min: r.status for r in await store.reminders(["melon:1"])} == {
        10: "queued",
        60: "skipped",
    }
    assert await store.next_reminder_due() is None
    assert [o.kind for o in await store.outbox_list()] == ["reminder"]


async def test_reminders_are_one_per_sale(store: Store) -> None:
    """The same offset for two sales of one notice: two rows, each upserted on its own sale."""
    general = ReminderRow("melon:1", "melon", "a", 10, 10_000.0, 9_400.0, "pending", 1.0)
    presale = replace(general, open_at=5_000.0, due_at=4_400.0, sale="팬클럽 선예매")
    await store.commit_cycle(cycle(1.0, history=[hist(1)], reminders=[general, presale]))
    stored = await store.reminders(["melon:1"])
    assert [(r.sale, r.open_at) for r in stored] == [("", 10_000.0), ("팬클럽 선예매", 5_000.0)]
    await store.commit_cycle(cycle(2.0, reminders=[replace(presale, open_at=6_000.0, due_at=5_400.0)]))
    again = {r.sale: r for r in await store.reminders(["melon:1"])}
    assert again["팬클럽 선예매"].open_at == 6_000.0 and again["팬클럽 선예매"].id == stored[1].id
    assert again[""].open_at == 10_000.0
    assert [(d.sale, d.due_at) for d in await store.due_reminders(9_999.0)] == [
        ("팬클럽 선예매", 5_400.0),
        ("", 9_400.0),
    ]


# --- outbox ------------------------------------------------------------------------------------
async def test_claim_leases_rows_to_one_owner(store: Store, second: Store) -> None:
    ids = await store.enqueue([msg(n=i) for i in range(5)], 10.0)
    await store.enqueue([msg(route="b")], 10.0)
    first = await store.claim("a", 10.0, owner="p1", lease_seconds=60, limit=3)
    assert [i.id for i in first] == list(ids[:3])
    other = await second.claim("a", 11.0, owner="p2", lease_seconds=600)
    assert [i.id for i in other] == list(ids[3:])  # never the rows p1 holds
    assert await second.claim("a", 12.0, owner="p3", lease_seconds=60) == []
    # an owner takes its own leased rows back (a batch it did not finish, a restart of that lane)
    assert [i.id for i in await second.claim("a", 12.0, owner="p2", lease_seconds=600)] == list(ids[3:])
    assert await store.next_due("a") == 10.0  # leases are not considered
    # p1 died: its lease expires and the rows can be claimed again
    again = await second.claim("a", 71.0, owner="p3", lease_seconds=60)
    assert [i.id for i in again] == list(ids[:3])


async def test_renew_extends_only_the_owners_own_pending_rows(store: Store, second: Store) -> None:
    ids = await store.enqueue([msg(n=i) for i in range(4)], 10.0)
    assert len(await store.claim("a", 10.0, owner="p1", lease_seconds=30)) == 4  # held until 40
    await store.settle([ids[3]], Sent("m"), 12.0)  # settled meanwhile: not renewed
    assert await second.renew([*ids, 999], 25.0, owner="p1", lease_seconds=30) == 3  # now held until 55
    assert await second.renew(ids, 26.0, owner="p2", lease_seconds=600) == 0  # not p2's: nothing changes
    leases = {r.id: (r.lease_owner, r.lease_until) for r in await store.outbox_list(status="pending")}
    assert leases == {i: ("p1", 55.0) for i in ids[:3]}
    assert await second.claim("a", 50.0, owner="p2", lease_seconds=30) == []  # renewed: still p1's
    assert await store.renew([], 50.0, owner="p1", lease_seconds=30) == 0


async def test_a_lease_nobody_renews_lapses_and_its_rows_go_to_another_owner(
    store: Store, second: Store
) -> None:
    ids = await store.enqueue([msg(n=i) for i in range(3)], 10.0)
    await store.claim("a", 10.0, owner="p1", lease_seconds=30)
    assert await second.claim("a", 39.0, owner="p2", lease_seconds=30) == []  # not before it lapses
    taken = await second.claim("a", 40.0, owner="p2", lease_seconds=30)  # p1 stopped renewing
    assert [i.id for i in taken] == list(ids)
    assert await store.renew(ids, 41.0, owner="p1", lease_seconds=30) == 0  # too late: p2's now
    assert await second.renew(ids, 41.0, owner="p2", lease_seconds=30) == 3
    assert await store.claim("a", 60.0, owner="p1", lease_seconds=30) == []  # p2 holds them until 71


async def test_concurrent_claims_never_share_a_row(store: Store, second: Store) -> None:
    await store.enqueue([msg(n=i) for i in range(40)], 1.0)
    got = await asyncio.gather(
        *[
            (store if n % 2 else second).claim("a", 2.0, owner=f"o{n}", lease_seconds=30, limit=7)
            for n in range(8)
        ]
    )
    ids = [i.id for batch in got for i in batch]
    assert len(ids) == 40 and len(set(ids)) == 40


async def test_settle_releases_and_records(store: Store) -> None:
    ids = await store.enqueue([msg(n=i) for i in range(4)], 10.0)
    await store.claim("a", 10.0, owner="p", lease_seconds=600)
    assert await store.settle(ids[:2], Retry("HTTP 503: boom", 11.0), 10.5) == 2
    assert await store.settle(ids[:1], Retry("429", 12.0, count=False), 10.6) == 1
    assert await store.settle([ids[2]], Dead("HTTP 400: " + "x" * 10_000), 10.7) == 1
    assert await store.settle([ids[3], ids[2]], Sent("msg-1"), 13.0) == 1  # a dead row is not resurrected
    rows = {r.id: r for r in await store.outbox_list()}
    assert (rows[ids[0]].attempts, rows[ids[0]].last_error, rows[ids[0]].next_attempt_at) == (1, "429", 12.0)
    assert rows[ids[1]].attempts == 1 and rows[ids[1]].status == "pending"
    assert rows[ids[2]].status == "dead" and len(rows[ids[2]].last_error or "") == 4000
    assert (rows[ids[3]].status, rows[ids[3]].sent_at, rows[ids[3]].message_id) == ("sent", 13.0, "msg-1")
    assert all(r.lease_owner is None and r.lease_until is None for r in rows.values())
    assert len((await store.outbox_list(status="pending"))[0].last_error or "") <= 2000
    # released by the retry: claimable at its next attempt despite the long lease
    assert [i.id for i in await store.claim("a", 12.0, owner="q", lease_seconds=60)] == list(ids[:2])


async def test_retry_error_is_truncated(store: Store) -> None:
    (i,) = await store.enqueue([msg()], 1.0)
    await store.settle([i], Retry("e" * 5000, 2.0), 1.0)
    assert len((await store.outbox_list())[0].last_error or "") == 2000


async def test_outbox_reads(store: Store) -> None:
    assert await store.next_due("a") is None
    await store.commit_cycle(cycle(5.0, history=[hist(1)]))
    a1, a2 = await store.enqueue([msg(key="melon:1"), msg(key=None)], 10.0)
    (b1,) = await store.enqueue([msg(route="b")], 20.0)
    await store.settle([a2], Dead("gone"), 21.0)
    stats = await store.outbox_stats()
    assert (stats.pending, stats.dead, stats.sent, stats.oldest_pending) == (2, 1, 0, 10.0)
    assert stats.by_route == {"a": 1, "b": 1}
    assert [r.id for r in await store.outbox_list(status="pending")] == [a1, b1]
    assert [r.id for r in await store.outbox_list(route="a")] == [a1, a2]
    assert [r.id for r in await store.outbox_list(since=15.0)] == [b1]
    assert await store.next_due("a") == 10.0
    recent = await store.recent_alerts(limit=2)
    assert [(r.id, r.title, r.notice_id) for r in recent] == [(b1, "공연 1", "1"), (a2, None, None)]
    assert await store.claim("a", 9.0, owner="x", lease_seconds=1) == []  # not due yet


async def test_a_row_held_on_purpose_is_not_late(store: Store) -> None:
    """Quiet hours park a row (a Retry that counts no attempt) until the window ends: health and the
    age metric must not call the outbox stuck overnight; a row backing off still counts."""
    held, backing_off = await store.enqueue([msg(), msg()], 10.0)
    await store.settle([held], Retry("held for quiet hours", 40_000.0, count=False), 10.0)
    assert (await store.outbox_stats()).oldest_pending == 10.0
    await store.settle([backing_off], Retry("HTTP 503", 70.0), 10.0)
    await store.enqueue([msg()], 50.0)
    stats = await store.outbox_stats()
    assert (stats.pending, stats.oldest_pending) == (3, 10.0)
    await store.settle([backing_off], Sent(), 60.0)
    assert (await store.outbox_stats()).oldest_pending == 50.0


async def test_empty_outbox_and_retries_move_next_due(store: Store) -> None:
    stats = await store.outbox_stats()
    assert (stats.pending, stats.sent, stats.dead, stats.oldest_pending, stats.by_route) == (
        0,
        0,
        0,
        None,
        {},
    )
    a, b, c = await store.enqueue([msg(), msg(), msg()], 100.0)
    await store.settle([a], Retry("HTTP 503", 160.0), 100.0)
    assert await store.next_due("a") == 100.0 and await store.next_due("zzz") is None
    await store.settle([b, c], Retry("HTTP 503", 130.0), 100.0)
    assert await store.next_due("a") == 130.0
    assert [i.id for i in await store.claim("a", 130.0, owner="o", lease_seconds=1000, limit=1)] == [b]
    assert [i.id for i in await store.claim("a", 200.0, owner="o2", lease_seconds=1)] == [
        a,
        c,
    ]  # oldest first


async def test_retry_dead(store: Store) -> None:
    a, b, c = await store.enqueue([msg(), msg(route="b"), msg()], 10.0)
    await store.settle([a, b, c], Dead("x"), 11.0)
    assert await store.retry_dead(route="b", since=None, now=50.0) == 1
    assert await store.retry_dead(route=None, since=100.0, now=50.0) == 0
    assert await store.retry_dead(route=None, since=None, now=60.0) == 2
    rows = await store.outbox_list()
    assert [(r.status, r.attempts, r.next_attempt_at) for r in rows] == [
        ("pending", 0, 60.0),
        ("pending", 0, 50.0),
        ("pending", 0, 60.0),
    ]


# --- state, webhooks, meta, cache -------------------------------------------------------------
async def test_site_and_head_state(store: Store) -> None:
    assert await store.site_state("melon") == SiteState("melon")
    await store.save_site_state(SiteState("yes24", failure_streak=2, last_error="boom", locked_until=5.0))
    await store.save_site_state(SiteState("melon", initialized=True))
    got = await store.site_state("yes24")
    assert (got.failure_streak, got.last_error, got.locked_until) == (2, "boom", 5.0)
    got.failure_streak = 99  # a copy: the store does not change until saved
    assert (await store.site_state("yes24")).failure_streak == 2
    assert [s.site for s in await store.all_site_states()] == ["melon", "yes24"]
    assert await store.head_state("melon") == HeadState("melon")
    await store.save_head_state(HeadState("melon", last_new=3, paused_until=9.0, sweeps_only="no order"))
    assert await store.head_state("melon") == HeadState(
        "melon", last_new=3, paused_until=9.0, sweeps_only="no order"
    )


async def test_webhook_state(store: Store) -> None:
    await store.mark_webhook_broken("a", "401 Unauthorized", 1.0, fingerprint="fp1")
    await store.mark_webhook_broken("b", "404", 2.0)
    assert await store.broken_webhooks() == {"a": "401 Unauthorized", "b": "404"}
    assert await store.broken_webhook_fingerprints() == {"a": "fp1"}
    await store.clear_webhook_broken("a")
    assert await store.broken_webhooks() == {"b": "404"}
    assert await store.broken_webhook_fingerprints() == {}


async def test_meta_and_heartbeat(store: Store) -> None:
    assert await store.get_meta("storm:melon") is None
    await store.set_meta("storm:melon", '{"n": 1}')
    await store.set_meta("storm:melon", '{"n": 2}')
    assert await store.get_meta("storm:melon") == '{"n": 2}'
    assert await store.last_heartbeat() is None
    await store.heartbeat(1234.5)
    assert await store.last_heartbeat() == 1234.5


async def test_http_cache(store: Store) -> None:
    assert await store.cached_response("k") is None
    await store.remember_response("k", '"e1"', None, b"\x00body", 1.0)
    await store.remember_response("k", '"e2"', "Mon", b"new", 2.0)
    got = await store.cached_response("k")
    assert got is not None and (got.etag, got.last_modified, got.body) == ('"e2"', "Mon", b"new")


async def test_notice_reads_are_kept_per_site_and_replaced(store: Store) -> None:
    assert await store.notice_reads("interpark", ["7"]) == {}
    first = NoticeRead("7", "fp1", '{"presales": []}')
    await store.save_notice_reads("interpark", [first, NoticeRead("8", "fp8", None, "http:404", 1, 50.0)], 1)
    failed = NoticeRead("7", "fp2", None, "shape", 2, 99.5)
    await store.save_notice_reads("interpark", [failed], 2.0)
    many = [str(n) for n in range(1200)]  # more ids than one statement's parameters
    assert await store.notice_reads("interpark", [*many, "7", "8", "7"]) == {
        "7": failed,
        "8": NoticeRead("8", "fp8", None, "http:404", 1, 50.0),
    }
    assert await store.notice_reads("melon", ["7"]) == {}


async def test_prune_takes_notice_reads_with_their_notice(store: Store) -> None:
    now = 1000 * DAY
    old, recent = now - 91 * DAY, now - 10 * DAY
    listed = HistoryRow(identity_key("interpark", "1"), "d", "interpark", "1", "공연", {})
    await store.commit_cycle(cycle(recent, site="interpark", history=[listed]))
    reads = [NoticeRead(i, "fp", "{}") for i in ("1", "2")]
    await store.save_notice_reads("interpark", reads, old)
    await store.save_notice_reads("interpark", [NoticeRead("3", "fp", "{}")], recent)
    result = await store.prune(now, 90)
    assert result.notice_reads == 1 and result.total == 1  # "2": stored long ago, no longer listed
    assert set(await store.notice_reads("interpark", ["1", "2", "3"])) == {"1", "3"}


# --- maintenance -------------------------------------------------------------------------------
async def test_prune_keeps_what_matters(store: Store) -> None:
    now = 1000 * DAY
    old, recent = now - 91 * DAY, now - 10 * DAY
    await store.commit_cycle(
        cycle(
            old,
            history=[hist(1), hist(2)],
            events=[DigestEvent("melon:1", "first", "d1", {}), DigestEvent("melon:2", "first", "d1", {})],
            reminders=[reminder("melon:1", 10, old + 100_000, old)],
        )
    )
    await store.commit_cycle(cycle(old + 1, pending=[PendingChange("melon:2", "d2", {}, 1)]))
    sent_old, sent_new, dead_old, pending_old = await store.enqueue([msg(), msg(), msg(), msg()], old)
    await store.settle([sent_old], Sent(None), old)
    await store.settle([sent_new], Sent(None), recent)
    await store.settle([dead_old], Dead("x"), old)
    (due,) = await store.due_reminders(old + 100_000)
    await store.settle_reminders(old + 5, queued=[due.id], skipped=[], outbox=[])
    await store.remember_response("old", None, None, b"x", old)
    await store.remember_response("new", None, None, b"y", recent)
    result = await store.prune(now, 90)
    assert (result.outbox_sent, result.digest_log, result.http_cache, result.reminders) == (1, 1, 1, 1)
    assert result.total == 4
    assert {r.id for r in await store.outbox_list()} == {sent_new, dead_old, pending_old}
    assert await store.history_count() == 2  # history is never pruned
    assert await store.notice_events("melon:1") == []
    assert [e.event for e in await store.notice_events("melon:2")] == ["first"]  # its change is held
    assert await store.cached_response("old") is None and await store.cached_response("new") is not None
    assert await store.reminders(["melon:1"]) == []
    assert (await store.prune(now, 90)).total == 0


async def test_backup_and_restore(store: Store, tmp_path: Path) -> None:
    await store.commit_cycle(cycle(1.0, history=[hist(1)], outbox=[msg()]))
    dest = tmp_path / "copy"
    await store.backup(dest)
    await store.commit_cycle(cycle(2.0, history=[hist(2)]))
    await store.restore(dest)
    assert set(await store.seen(["melon:1", "melon:2"])) == {"melon:1"}
    assert (await store.outbox_stats()).pending == 1
    assert await store.check() is True
    assert await store.migrate() == await store.schema_version() >= 1


async def test_lease_is_exclusive(store: Store, second: Store) -> None:
    lease = store.lease()
    lease.acquire()
    try:
        with pytest.raises(StoreLockedError):
            second.lease().acquire()
    finally:
        lease.release()
    again = second.lease()
    again.acquire()  # free once released
    again.release()
