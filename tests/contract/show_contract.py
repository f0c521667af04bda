"""The store contract of shows (issue 23): links written with a crawl, looked up by folded title,
corrected by hand. Imported by ``test_store_contract.py``, so every backend passes it."""

from __future__ import annotations

from pathlib import Path

from tests.contract.store_contract import cycle, hist
from ticket_alarm.store.api import ShowLink, Store

DAY = 86400.0


def link(key: str, show: str, title: str = "공연", **kw: object) -> ShowLink:
    return ShowLink(key, show, title, **kw)  # type: ignore[arg-type]


async def test_a_crawl_links_its_new_notices(store: Store) -> None:
    await store.commit_cycle(
        cycle(
            10.0, history=[hist(1), hist(2)], shows=[link("melon:1", "melon:1"), link("melon:2", "melon:2")]
        )
    )
    await store.commit_cycle(
        cycle(20.0, site="yes24", history=[hist(7, site="yes24")], shows=[link("yes24:7", "melon:1")])
    )
    links = await store.show_links(["melon:1", "yes24:7", "melon:9"])
    assert links == {"melon:1": link("melon:1", "melon:1"), "yes24:7": link("yes24:7", "melon:1")}
    members = await store.show_notices("melon:1")
    assert [(m.notice.key, m.notice.first_seen, m.notice.ticket["title"]) for m in members] == [
        ("melon:1", 10.0, "공연 1"),
        ("yes24:7", 20.0, "공연 7"),
    ]
    assert [m.notice.key for m in await store.show_notices("melon:2")] == ["melon:2"]
    assert await store.show_notices("nothing") == []


async def test_a_notice_linked_before_keeps_its_show(store: Store) -> None:
    await store.commit_cycle(cycle(10.0, history=[hist(1)], shows=[link("melon:1", "melon:1")]))
    await store.save_show_links([link("melon:1", "x:1", manual=True, apart_from="melon:1")], 15.0)
    await store.commit_cycle(cycle(20.0, history=[hist(1, digest="d2")], shows=[link("melon:1", "melon:1")]))
    assert (await store.show_links(["melon:1"]))["melon:1"] == link(
        "melon:1", "x:1", manual=True, apart_from="melon:1"
    )


async def test_candidates_by_title_and_time(store: Store) -> None:
    await store.commit_cycle(
        cycle(
            10.0,
            history=[hist(1), hist(2), hist(3)],
            shows=[
                link("melon:1", "melon:1", "a"),
                link("melon:2", "melon:2", "b"),
                link("melon:3", "melon:3", "a"),
            ],
        )
    )
    await store.commit_cycle(cycle(5 * DAY, history=[hist(4)], shows=[link("melon:4", "melon:4", "a")]))
    assert [c.notice.key for c in await store.show_candidates("a", 0.0)] == ["melon:1", "melon:3", "melon:4"]
    found = await store.show_candidates("a", DAY)
    assert [(c.link, c.notice.site) for c in found] == [(link("melon:4", "melon:4", "a"), "melon")]
    assert await store.show_candidates("zzz", 0.0) == []


async def test_links_survive_backup_and_restore(store: Store, tmp_path: Path) -> None:
    await store.commit_cycle(cycle(10.0, history=[hist(1)], shows=[link("melon:1", "melon:1")]))
    await store.backup(tmp_path / "copy")
    await store.save_show_links([link("melon:1", "other")], 20.0)
    await store.restore(tmp_path / "copy")
    assert (await store.show_links(["melon:1"]))["melon:1"].show_key == "melon:1"


async def test_notices_without_a_link_are_found_and_linked_without_replacing(store: Store) -> None:
    await store.commit_cycle(cycle(10.0, history=[hist(1), hist(2)], shows=[link("melon:2", "melon:2")]))
    await store.commit_cycle(cycle(5 * DAY, history=[hist(3)]))  # recorded before shows existed
    assert [r.key for r in await store.unlinked_notices(0.0)] == ["melon:1", "melon:3"]
    assert [r.key for r in await store.unlinked_notices(DAY)] == ["melon:3"]
    await store.save_show_links(
        [link("melon:3", "melon:3"), link("melon:2", "melon:3")], 6 * DAY, replace=False
    )
    links = await store.show_links(["melon:2", "melon:3"])
    assert links == {"melon:2": link("melon:2", "melon:2"), "melon:3": link("melon:3", "melon:3")}  # kept
    assert [r.key for r in await store.unlinked_notices(0.0)] == ["melon:1"]
