"""The back-off of a failed notice page: 15 minutes, doubled per failure in a row, a day at most; a
changed list row is asked at once; a good read ends the streak."""

from __future__ import annotations

from ticket_alarm.core.notice_memo import BACKOFF_MAX, MemoryReads, NoticeMemo
from ticket_alarm.errors import FetchError


async def test_a_failed_page_waits_doubling_back_offs_unless_its_row_changes() -> None:
    reads, now = MemoryReads(), [1000.0]
    gone = FetchError("interpark", "HTTP 404", status=404)

    async def sweep() -> NoticeMemo:
        memo = NoticeMemo("interpark", reads, lambda: now[0])
        await memo.load(["7"])
        return memo

    waits = []
    for _ in range(9):
        memo = await sweep()
        assert memo.waiting("7", "row") is None  # due: asked again
        memo.failed("7", "row", gone)
        await memo.save()
        retry_at = (await reads.notice_reads("interpark", ["7"]))["7"].retry_at
        assert retry_at is not None
        waits.append(retry_at - now[0])
        memo = await sweep()
        now[0] = retry_at - 1
        assert memo.waiting("7", "row") == "http:404" and memo.waited == 1  # not yet
        assert memo.waiting("7", "another row") is None  # the row changed: asked at once
        now[0] = retry_at
    assert waits[:4] == [900.0, 1800.0, 3600.0, 7200.0] and waits[-1] == BACKOFF_MAX
    memo = await sweep()
    memo.read("7", "row", {"presales": []})
    await memo.save()
    memo = await sweep()
    assert memo.kept("7", "row") == {"presales": []} and memo.kept("7", "another row") is None
    memo.failed("7", "row", gone)
    assert memo.summary("kept") == "notice pages: 1 unreadable (HTTP 404), kept"
    await memo.save()
    assert (await reads.notice_reads("interpark", ["7"]))["7"].retry_at == now[0] + 900  # a new streak
