"""The daemon as an operating-system process: stop signals, the wait for a store at start, the
descriptor limit and the memory it reads."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import resource
import signal
from collections.abc import Awaitable, Callable

import psutil
from loguru import logger

from ticket_alarm.errors import StoreUnavailable
from ticket_alarm.i18n import t

DUPLICATE_SIGNAL_WINDOW = 1.0  # a signal this soon after the first is the same stop, delivered twice
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
# the store cannot be reached (StoreUnavailable): nothing is crawled, and the store is tried again after
# STORE_RETRY_FIRST seconds, doubling up to STORE_RETRY_CAP, until it answers
STORE_RETRY_FIRST = 1.0
STORE_RETRY_CAP = 30.0


def stop_on_signals(loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """SIGTERM/SIGINT/SIGHUP set ``stop`` (said once; SIGHUP is the same clean stop). A second signal
    a while later is a request to hurry: exit 1 at once."""
    first_signal: float | None = None

    def on_signal(signum: int) -> None:
        nonlocal first_signal
        if first_signal is None:
            first_signal = loop.time()
            name = signal.Signals(signum).name
            sighup = t("log.signal.sighup") if signum == signal.SIGHUP else ""
            logger.info("{}", t("log.signal", signal=name, sighup=sighup))
            stop.set()
        elif loop.time() - first_signal >= DUPLICATE_SIGNAL_WINDOW:
            logger.warning("{}", t("log.second_signal"))
            os._exit(1)
        # else: the same stop delivered twice (to the process and to its group, as `timeout` and
        # `kill -TERM -PGID` do) — not a second request to hurry

    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, on_signal, sig)


async def open_waiting(open_store: Callable[[], Awaitable[None]]) -> None:
    """Start even while the store cannot be reached: ``open_store`` is tried again with back-off
    (said once) until it succeeds; any other store error (a wrong password, a newer schema) is raised
    at once. A signal during the wait is a clean stop (SystemExit 0): nothing was started."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = STOP_SIGNALS
    for sig in signals:
        loop.add_signal_handler(sig, stop.set)
    delay, since = STORE_RETRY_FIRST, loop.time()
    try:
        for attempt in itertools.count():
            try:
                await open_store()
            except StoreUnavailable as exc:
                if attempt == 0:
                    logger.warning("{}", t("daemon.store_unreachable", where="start:", error=exc))
            else:
                if attempt:
                    logger.info("{}", t("daemon.store_back", seconds=loop.time() - since))
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=delay)
            if stop.is_set():
                logger.info("{}", t("log.stopped_waiting"))
                raise SystemExit(0)
            delay = min(STORE_RETRY_CAP, 2 * delay)
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)


FD_TARGET = 65536  # the soft descriptor limit the daemon raises itself toward (never past the hard one)


def raise_fd_limit(target: int = FD_TARGET) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE toward the hard limit (1,024 is the usual soft default): a flood
    of page connections must not take the descriptors crawls and deliveries need. Returns the
    (before, after) soft limits; a refusal leaves the limit as it was."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = target if hard == resource.RLIM_INFINITY else min(target, hard)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
            logger.debug("{}", t("log.fd_raised", before=soft, after=wanted, hard=hard))
            return soft, wanted
    return soft, soft


def rss_mb() -> float:
    return psutil.Process(os.getpid()).memory_info().rss / (1024 * 1024)
