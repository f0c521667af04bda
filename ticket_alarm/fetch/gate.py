"""Throttling: at most ``max_concurrency`` requests in flight, all sites together, and at least
``min_request_interval`` seconds between two request starts to one host."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from ticket_alarm.clock import Clock


class HostGate:
    """Host spacing, then a concurrency slot. Both queues are FIFO (asyncio's Lock and Semaphore
    wake waiters in arrival order), so requests of one host — a sweep's pages and a head poll
    alike — go in the order they asked: a head poll waits for one sweep request at most. The
    slot is taken after the spacing wait, so a request waiting out its host's spacing does not
    hold one of the ``max_concurrency`` slots other hosts could use."""

    def __init__(self, max_concurrency: int, interval: float, clock: Clock) -> None:
        self.interval = interval
        self.clock = clock
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._host_locks: dict[str, asyncio.Lock] = {}
        self._host_next: dict[str, float] = {}

    @contextlib.asynccontextmanager
    async def __call__(self, host: str) -> AsyncIterator[None]:
        if self.interval <= 0:
            async with self._semaphore:
                yield
            return
        lock = self._host_locks.setdefault(host, asyncio.Lock())
        async with lock:
            wait = self._host_next.get(host, 0.0) - self.clock.monotonic()
            if wait > 0:
                await self.clock.sleep(wait)
            await self._semaphore.acquire()
            self._host_next[host] = self.clock.monotonic() + self.interval
        try:
            yield
        finally:
            self._semaphore.release()
