"""The lease of a batch in flight: renewed in the store every third of the lease while it is sent.

A post may legitimately take longer than the lease (rate-limit waits, the http timeout), so the lane
renews what it still holds; a problem is said once a batch, and the post goes on either way.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from loguru import logger

from ticket_alarm.clock import Clock
from ticket_alarm.errors import StoreError
from ticket_alarm.i18n import t
from ticket_alarm.store.api import Store


async def renew_lease(
    store: Store,
    clock: Clock,
    lane: str,
    owner: str,
    held: Callable[[], set[int]],
    timer: Callable[[float], Awaitable[None]],
    lease: float,
) -> None:
    """Every ``lease / 3`` seconds (``timer``), the lease of the rows ``held()`` still names."""
    said: set[str] = set()
    while True:
        await timer(lease / 3)
        ids = set(held())
        if not ids:
            continue
        try:
            renewed = await store.renew(
                sorted(ids), clock.now().timestamp(), owner=owner, lease_seconds=lease
            )
        except StoreError as exc:  # the post goes on; the claim lapses ``lease`` after the last renewal
            if "failed" not in said:
                said.add("failed")
                logger.warning("{}", t("log.claim_not_renewed", route=lane, count=len(ids), error=exc))
            continue
        if renewed < len(ids) and "lost" not in said:
            said.add("lost")
            logger.warning(
                "{}", t("delivery.claim_lost", route=lane, lost=len(ids) - renewed, count=len(ids))
            )
