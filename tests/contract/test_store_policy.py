"""One store-error policy in every loop: the error keeps its type up to Daemon.store_failed.

The reminders loop used to call ``next_reminder_due()`` outside its try: a store error there ended
the task, and the daemon (gathering its tasks with return_exceptions) never said so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from loguru import logger

from ticket_alarm.clock import FakeClock
from ticket_alarm.daemon.reminders import Reminders
from ticket_alarm.delivery.discord.webhook import DiscordNotifier, WebhookClient
from ticket_alarm.delivery.outbox import Delivery
from ticket_alarm.errors import StoreError
from ticket_alarm.store.api import Sent
from ticket_alarm.store.sqlite.backend import SqliteStore


@pytest.fixture
def logs() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda m: lines.append(str(m).rstrip("\n")), format="[{level}] {message}", level="INFO")
    yield lines
    logger.remove(sink)


WEBHOOK = "https://discord.com/api/webhooks/111111111111111111/tokenAAAAAAAAAAAAAAAAAAAAAAAA"


class FailingNextDue(SqliteStore):
    """A real store whose one read fails the way a full/unreadable disk makes it fail."""

    async def next_reminder_due(self) -> float | None:
        raise StoreError(f"{self.path}: read failed (disk I/O error).")


class FailingPending(SqliteStore):
    async def claim(self, route: str, now: float, **kwargs: object) -> list:  # type: ignore[override]
        raise StoreError(f"{self.path}: read failed (disk I/O error).")


async def test_reminders_store_error_in_next_due_reaches_the_policy(tmp_path: Path) -> None:
    store = FailingNextDue.open_file(tmp_path / "s.sqlite3")
    reminders = Reminders(store, {}, FakeClock())
    seen: list[tuple[str, StoreError]] = []
    stop = asyncio.Event()
    # the policy decides: the daemon's stops (sets stop) for this error; the loop then returns
    reminders.on_store_error = lambda where, exc: (seen.append((where, exc)), stop.set())
    await asyncio.wait_for(reminders.run(stop), timeout=5)
    assert len(seen) == 1 and isinstance(seen[0][1], StoreError) and "disk I/O" in str(seen[0][1])
    assert seen[0][0].startswith("리마인더 처리 실패")
    await store.close()


async def test_reminders_store_error_without_a_policy_is_raised_not_swallowed(tmp_path: Path) -> None:
    store = FailingNextDue.open_file(tmp_path / "s.sqlite3")
    with pytest.raises(StoreError):
        await asyncio.wait_for(Reminders(store, {}, FakeClock()).run(asyncio.Event()), timeout=5)
    await store.close()


async def test_delivery_lane_store_error_reaches_the_policy(tmp_path: Path) -> None:
    store = FailingPending.open_file(tmp_path / "s.sqlite3")
    clock = FakeClock()
    async with httpx.AsyncClient() as http:  # never used: the lane fails at its claim, before any post
        notifier = DiscordNotifier("a", WEBHOOK, WebhookClient(http, clock))
        delivery = Delivery(store, [notifier], clock)
        seen: list[str] = []
        stop = asyncio.Event()
        delivery.on_store_error = lambda where, exc: (seen.append(where), stop.set())
        await asyncio.wait_for(delivery.run_lane("a", stop), timeout=5)
    assert seen == ["알림 전송 실패: lane a"]
    await store.close()


async def test_daemon_store_failed_is_one_error_line_and_exit_4(tmp_path: Path, logs: list[str]) -> None:
    from types import SimpleNamespace

    from ticket_alarm.config.settings import Settings
    from ticket_alarm.daemon.scheduler import Daemon
    from ticket_alarm.daemon.upkeep import EXIT_STORE

    delivery, reminders = SimpleNamespace(), SimpleNamespace()
    daemon = Daemon(
        Settings(data_dir=tmp_path),
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        delivery,  # type: ignore[arg-type]
        FakeClock(),
        sites=[],
        reminders=reminders,  # type: ignore[arg-type]
    )
    assert delivery.on_store_error == daemon.store_failed == reminders.on_store_error
    daemon.store_failed("heartbeat not written:", StoreError("disk full"))
    daemon.store_failed("알림 전송 실패: lane a", StoreError("disk full again"))
    assert daemon.stop.is_set() and EXIT_STORE == 4 and str(daemon.fatal) == "disk full"
    errors = [line for line in logs if line.startswith("[ERROR]")]
    assert errors == ["[ERROR] heartbeat not written: store error: disk full; stopping the daemon (exit 4)"]


async def test_daemon_prunes_after_retention_days_and_says_so(tmp_path: Path, logs: list[str]) -> None:
    from types import SimpleNamespace

    from ticket_alarm.config.settings import Settings
    from ticket_alarm.daemon.scheduler import Daemon
    from ticket_alarm.store import NewOutboxRow

    clock = FakeClock()
    now = clock.now().timestamp()
    store = SqliteStore.open_file(tmp_path / "s.sqlite3")
    old, recent = await store.enqueue(
        [NewOutboxRow("a", "new", "melon", None, {"title": "t"})] * 2, now - 40 * 86400
    )
    await store.settle([old], Sent("m1"), now - 31 * 86400)
    await store.settle([recent], Sent("m2"), now - 29 * 86400)
    daemon = Daemon(
        Settings(data_dir=tmp_path, retention_days=30),
        store,
        None,  # type: ignore[arg-type]
        SimpleNamespace(),  # type: ignore[arg-type]
        clock,
        sites=[],
    )
    await daemon.prune()
    assert [r.id for r in await store.outbox_list()] == [recent]
    assert any("저장소 정리: 1 sent alerts" in line and "30 days" in line for line in logs), logs
    await store.close()  # the store is gone: every call is a StoreError now
    await daemon.prune()  # handled by the one policy
    assert daemon.stop.is_set() and isinstance(daemon.fatal, StoreError)
    await store.close()
