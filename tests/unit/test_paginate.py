"""crawlers.base.paginate: one paging loop, the stop rule declared by each site."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import pytest

from crawlers.base import Crawl, Cursors, Numbered, paginate
from ticket_alarm.errors import ApiChangedError


def _recorder(pages: dict[object, object]) -> tuple[list[object], Callable[[object], Awaitable[object]]]:
    asked: list[object] = []

    async def request(key: object) -> object:
        asked.append(key)
        return pages[key]

    return asked, request


async def _all(
    request: Callable[..., Awaitable[object]], paging: object, cap: int, crawl: Crawl | None
) -> list[object]:
    return [key async for key, _ in paginate(request, paging, cap, crawl)]  # type: ignore[arg-type]


def test_offsets_stop_at_the_short_page_and_the_cap_is_told_apart_from_the_end() -> None:
    rows = {0: [1] * 10, 10: [1] * 10, 20: [1] * 3}
    asked, request = _recorder(rows)
    paging: Numbered[list[int]] = Numbered("x", lambda _, page: len(page) < 10, first=0, step=10)
    crawl = Crawl()
    assert asyncio.run(_all(request, paging, 5, crawl)) == [0, 10, 20]
    assert asked == [0, 10, 20] and crawl.pages == 3 and not crawl.capped  # the list's end

    asked2, request2 = _recorder(rows)
    capped = Crawl()
    assert asyncio.run(_all(request2, paging, 2, capped)) == [0, 10]
    assert asked2 == [0, 10] and capped.pages == 2 and capped.capped  # more was due: the cap stopped it

    asked3, request3 = _recorder(rows)
    exact = Crawl()
    asyncio.run(_all(request3, paging, 3, exact))
    assert asked3 == [0, 10, 20] and not exact.capped  # the last page allowed was the list's end


def test_the_stop_rule_sees_the_key_it_was_asked_with() -> None:
    counts = {1: 3, 2: 3, 3: 3}  # page_count 2: page 2 is the last
    asked, request = _recorder(counts)
    paging: Numbered[int] = Numbered("x", lambda key, _: key >= 2)
    assert asyncio.run(_all(request, paging, 10, None)) == [1, 2] and asked == [1, 2]


def test_pages_are_requested_only_when_the_consumer_asks() -> None:
    asked, request = _recorder({1: "a", 2: "b", 3: "c"})
    paging: Numbered[str] = Numbered("x", lambda _, __: False)

    async def first_only() -> list[object]:
        crawl = Crawl()
        seen = []
        async with contextlib.aclosing(paginate(request, paging, 10, crawl)) as pages:
            async for key, _ in pages:
                seen.append(key)
                break
        assert not crawl.capped  # stopped by the consumer, not the cap
        return seen

    assert asyncio.run(first_only()) == [1] and asked == [1]


def test_cursors_end_on_none_and_a_repeated_cursor_is_an_api_change() -> None:
    pages = {None: ("a", 5), "a": ("b", 5), "b": (None, 5)}
    asked, request = _recorder(pages)
    paging: Cursors[tuple[str | None, int]] = Cursors(
        "site", "NOL", lambda page: page[0] if page[1] else None
    )
    assert asyncio.run(_all(request, paging, 10, None)) == [None, "a", "b"] and asked == [None, "a", "b"]

    looping = {None: ("a", 5), "a": ("b", 5), "b": ("a", 5)}
    asked, request = _recorder(looping)
    with pytest.raises(
        ApiChangedError, match=r"NOL repeated the cursor 'a': the API changed \(paging would loop\)"
    ):
        asyncio.run(_all(request, paging, 10, None))
    assert asked == [None, "a", "b"]  # the repeated cursor is never asked for

    empty = {None: ("a", 0)}  # an empty page ends the list even with a cursor
    asked, request = _recorder(empty)
    assert asyncio.run(_all(request, paging, 10, None)) == [None]


def test_a_paging_that_does_not_move_forward_is_refused() -> None:
    with pytest.raises(ValueError, match="pages must move forward"):
        Numbered("x", lambda _, __: False, step=0)
