"""Scenario 3: site faults. One daemon crawls five sites — the teststand plugin and the four real
crawlers against RealSites — while each site in turn answers its list requests with a fault:

timeouts (the request hangs), 500, 403, 423, 429 with Retry-After, garbage HTML, a truncated body
(JSON cut short; for the HTML sites the fragment cut short), a challenge page, an empty list and a
10 MB response; Melon also gets its notice pages failing for three cycles.

Each site runs its own sequence (rotated, so the sites are out of phase and at most one hangs at a
time); a controller arms a fault, waits for the daemon to name it (``크롤링 실패: <site> <reason>``)
and record it (site_state.failure_streak/last_error), then clears it and waits for a full crawl.
Checked throughout: the daemon keeps running, every site keeps its schedule (largest gap between two
crawls of a healthy site), history only grows, and no alert appears — a notice that really is new
(three added to teststand at the end) is the only thing Discord receives.
"""

from __future__ import annotations

import itertools
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    db_file,
    delivered,
    history_keys,
    site_state,
    token_of,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.real_sites import SITES as REAL
from tests.support.real_sites import RealSites, load_samples
from tests.support.server import Request, Response
from tests.support.site_standin import TestStandNotices

pytestmark = pytest.mark.e2e

SITES = ("teststand", *REAL)
PATHS = {
    "/api/notices": "teststand",
    "/contents/api/open-notice/notice-list": "interpark",
    "/New/Notice/Ajax/axList.aspx": "yes24",
    "/csoon/ajax/listTicketOpen.htm": "melon",
    "/help/getNoticeList": "ticketlink",
}
MELON_DETAIL = "/csoon/detail.htm"
KINDS = ("timeout", "500", "403", "423", "429", "garbage", "truncated", "challenge", "empty", "10mb")
INTERVAL = 2
TIMEOUT = 2.0  # http.timeout; retries 1: a hanging site fails after ~4 s
LOCK_COOLDOWN = 3.0
GAP_BOUND = 2 * INTERVAL + 2.5  # interval + jitter (≤ 1 s) + a crawl, with room for a busy machine
SLOW = ("timeout", "423", "429")  # faults that stretch the faulted site's own gap
PHASE_LIMIT = 40.0
RUN_LIMIT = 240.0

# what the 크롤링 실패 line must say for each fault
REASONS = {
    "timeout": r"timeout after",
    "500": r"HTTP 500",
    "403": r"HTTP 403",
    "423": r"(HTTP 423|423 Locked)",
    "429": r"HTTP 429",
    "garbage": r"(JSON|notice table|ul\.list_ticket_cont|UTF-8)",
    "truncated": r"(JSON|truncated|cut short|notice table|list_ticket_cont)",
    "challenge": r"(challenge|HTML where|notice table)",
    "10mb": r"exceeds the [\d,]+-byte limit",
}
EMPTY = {
    "teststand": b'{"page": 1, "items": [], "total": 0}',
    "interpark": b"[]",
    "ticketlink": b'{"result":{"result":[],"paging":{"currentPage":1,"pageCount":0,"totalCount":0}}}',
}
CHALLENGE = (
    b"<!DOCTYPE html><html lang='en-US'><head><title>Just a moment...</title></head><body>"
    b"<div id='challenge-platform'><noscript>Enable JavaScript and cookies to continue</noscript>"
    b"</div><script src='/cdn-cgi/challenge-platform/h/b/orchestrate/chl_page/v1'></script></body></html>"
)
TEN_MB = b"x" * 10_000_000
_DONE = re.compile(r"크롤링 완료: (\S+) 공지 (\d+)건")
_FAIL = re.compile(r"크롤링 실패: (\S+) (.*)")


def _garbage(rng: random.Random) -> bytes:
    junk = "".join(rng.choice("<>/=\"' abcdefxyz0123456789가나다\n") for _ in range(3000))
    return f"<html><body><div class='maintenance'>{junk}</div></body></html>".encode()


class FaultBoard:
    """The stand-in's hook: answers a site's list requests with the fault armed for it."""

    def __init__(self, real: RealSites, notices: TestStandNotices, rng: random.Random) -> None:
        self.real = real
        self.notices = notices
        self.garbage = _garbage(rng)
        self.lock = threading.Lock()
        self.active: dict[str, str] = {}
        self.empty = dict(EMPTY)
        for site, marker in (("yes24", b"<td"), ("melon", b"<li")):  # the page after the last one
            lists = [x for x in load_samples(site) if PATHS.get(x.path) == site and marker not in x.body]
            self.empty[site] = lists[0].body

    def arm(self, key: str, kind: str | None) -> None:
        with self.lock:
            if kind is None:
                self.active.pop(key, None)
            else:
                self.active[key] = kind

    def hook(self, req: Request) -> Response | None:
        with self.lock:
            if req.path == MELON_DETAIL and "melon-detail" in self.active:
                return Response(500, b"<html><body>Internal Server Error</body></html>")
            site = PATHS.get(req.path)
            kind = self.active.get(site) if site else None
        if kind is None or site is None:
            return None
        html = {"Content-Type": "text/html; charset=utf-8"}
        if kind == "timeout":
            return Response(hang=True)
        if kind in ("500", "403"):
            return Response(int(kind), f"<html><body>{kind}</body></html>".encode(), html)
        if kind == "423":
            return Response(423, b"Locked", html)
        if kind == "429":
            return Response(429, b"Too Many Requests", {"Retry-After": "1", **html})
        if kind == "garbage":
            return Response(200, self.garbage, html)
        if kind == "challenge":
            return Response(200, CHALLENGE, html)
        if kind == "10mb":
            return Response(200, TEN_MB, html)
        if kind == "empty":
            return Response(200, self.empty[site], {"Content-Type": "application/json; charset=utf-8"})
        # truncated: the real answer, cut at 55 %
        real = self.notices.route(req) if site == "teststand" else self.real.answer(req)
        return Response(real.status, real.body[: int(len(real.body) * 0.55)], real.headers)


@dataclass
class Event:
    at: float
    site: str
    ok: bool
    count: int
    text: str


class LogWatcher:
    """Reads the daemon's stdout as it grows; each crawl end becomes an Event stamped when seen."""

    def __init__(self, daemon: DaemonProcess) -> None:
        self.daemon = daemon
        self.offset = 0
        self.events: list[Event] = []

    def poll(self) -> None:
        with self.daemon.out_path.open("rb") as f:
            f.seek(self.offset)
            chunk = f.read()
        end = chunk.rfind(b"\n") + 1
        self.offset += end
        now = time.monotonic()
        for line in chunk[:end].decode("utf-8", errors="replace").splitlines():
            if m := _DONE.search(line):
                self.events.append(Event(now, m[1], True, int(m[2]), line))
            elif m := _FAIL.search(line):
                self.events.append(Event(now, m[1], False, -1, line))

    def of(self, site: str, since: int = 0) -> list[Event]:
        return [e for e in self.events[since:] if e.site == site]


@dataclass
class SiteRun:
    site: str
    kinds: list[str]
    full: int = 0  # notices in a healthy crawl
    index: int = 0
    phase: str = "arm"
    mark: int = 0  # events index when the phase began
    since: float = 0.0
    windows: list[tuple[str, float, float]] = field(default_factory=list)  # (kind, armed, cleared)
    results: list[str] = field(default_factory=list)

    @property
    def kind(self) -> str:
        return self.kinds[self.index]


@pytest.fixture
def stand() -> Iterator[tuple[RealSites, TestStandNotices, FakeDiscord]]:
    real = RealSites()
    notices = TestStandNotices()
    real.site.routes["/api/notices"] = notices.route
    real.start()
    discord = FakeDiscord().start()
    yield real, notices, discord
    discord.stop()
    real.stop()


def test_site_faults_are_named_recorded_and_forget_nothing(
    tmp_path: Path, stand: tuple[RealSites, TestStandNotices, FakeDiscord], report: Report
) -> None:
    real, notices, discord = stand
    started = time.monotonic()
    rng = random.Random(3)
    notices.add(12, prefix="기존")
    board = FaultBoard(real, notices, rng)
    real.site.hook = board.hook
    webhook = discord.add_webhook()
    config = {
        "interval": INTERVAL,
        "data_dir": str(tmp_path / "data"),
        "discord_webhook_url": webhook,
        "sites": {name: {"base_url": real.base_url} for name in SITES},
        "http": {"min_request_interval": 0, "retries": 1, "backoff": 0.05, "timeout": TIMEOUT},
    }
    config["sites"]["melon"]["lock_cooldown"] = LOCK_COOLDOWN
    config["sites"]["interpark"]["source"] = "interpark"  # these faults are the old API's, not a move to NOL
    d = DaemonProcess(write_config(tmp_path, config), tmp_path)
    db = db_file(tmp_path / "data")
    try:
        watcher = LogWatcher(d)
        runs = [SiteRun(s, _rotated(s, i)) for i, s in enumerate(SITES)]
        d.wait_for(lambda: (watcher.poll(), all(watcher.of(r.site) for r in runs))[1], 60, "first crawls")
        for run in runs:
            run.full = next(e.count for e in watcher.of(run.site) if e.ok)
        baseline = {s: history_keys(db, s) for s in SITES}
        assert all(baseline[s] for s in SITES), {s: len(k) for s, k in baseline.items()}
        deadline = time.monotonic() + RUN_LIMIT
        while any(r.phase != "done" for r in runs):
            assert time.monotonic() < deadline, [(r.site, r.kind, r.phase) for r in runs]
            assert d.proc.poll() is None, f"the daemon exited:\n{d.out()[-3000:]}\n{d.err()[-3000:]}"
            watcher.poll()
            for run in runs:
                _step(run, runs, board, watcher, db, baseline)
            time.sleep(0.05)

        # a notice that really is new still goes out, once
        new_ids = notices.add(3, prefix="신규")
        d.wait_for(lambda: set(delivered(discord)) >= set(new_ids), 30, "the 3 new teststand notices")
        seen = len(watcher.events)
        d.wait_for(
            lambda: (watcher.poll(), len({e.site for e in watcher.events[seen:]}) == 5)[1], 20, "a cycle"
        )
        gaps = _gaps(runs, watcher)
        code, seconds = d.terminate()
    finally:
        d.cleanup()
    counts = delivered(discord)
    spurious = sorted(i for i in counts if i not in new_ids)
    report.add(
        "3 site faults: 5 sites x 10 faults (+ melon notice pages)",
        produced=len(new_ids),
        delivered=sum(counts.values()),
        lost=len(set(new_ids) - set(counts)),
        duplicates=sum(counts.values()) - len(counts),
        seconds=time.monotonic() - started,
        figures=(
            f"{sum(len(r.results) for r in runs)} faults named and recorded; "
            f"spurious alerts {len(spurious)}; largest gap between two crawls of a site (its own slow faults "
            f"aside): " + ", ".join(f"{s} {g:.1f}s" for s, g in gaps.items()) + f" (bound {GAP_BOUND:.1f}s)"
        ),
    )
    assert code == 0 and seconds <= 10
    assert not spurious, f"alerts for notices that were not new: {spurious}"
    assert counts == {i: 1 for i in new_ids}
    assert not real.unmatched, real.unmatched[:5]
    for site, gap in gaps.items():
        assert gap <= GAP_BOUND, f"{site}: {gap:.1f}s between two crawls while other sites failed"
    for site in SITES:
        assert history_keys(db, site) >= baseline[site], f"{site}: history forgot notices"
    outputs = {"stdout": d.out(), "stderr": d.err()}
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])


def _rotated(site: str, index: int) -> list[str]:
    kinds = list(KINDS[2 * index :] + KINDS[: 2 * index])
    if site == "melon":
        kinds.append("detail")
    return kinds


def _step(
    run: SiteRun,
    runs: list[SiteRun],
    board: FaultBoard,
    watcher: LogWatcher,
    db: Path,
    baseline: dict[str, set[str]],
) -> None:
    now = time.monotonic()
    if run.phase == "done":
        return
    if run.phase != "arm":
        assert now - run.since < PHASE_LIMIT, f"{run.site} {run.kind}: stuck in {run.phase}"
    events = watcher.of(run.site, run.mark)
    if run.phase == "arm":
        if run.kind == "timeout" and any(r.phase == "fault" and r.kind == "timeout" for r in runs):
            return  # one hanging site at a time: the other sites must keep their schedule meanwhile
        board.arm("melon-detail" if run.kind == "detail" else run.site, run.kind)
        run.phase, run.mark, run.since = "fault", len(watcher.events), now
        return
    if run.phase == "fault":
        if not _fault_seen(run, events):
            assert sum(1 for e in events if e.ok) <= 4, f"{run.site} {run.kind}: not detected: {events}"
            return
        _check_recorded(run, events, db, baseline, watcher.daemon)
        board.arm("melon-detail" if run.kind == "detail" else run.site, None)
        run.windows.append((run.kind, run.since, now))
        run.phase, run.mark = "recover", len(watcher.events)
        return
    # recover: a full, healthy crawl
    if any(e.ok and e.count == run.full for e in events):
        state = site_state(db, "melon" if run.kind == "detail" else run.site)
        assert state["failure_streak"] == 0 and state["last_error"] is None, state
        run.index += 1
        run.phase = "arm" if run.index < len(run.kinds) else "done"


def _fault_seen(run: SiteRun, events: list[Event]) -> bool:
    if run.kind == "empty":
        return any(e.ok and e.count == 0 for e in events)
    if run.kind == "detail":  # three cycles with the notice pages failing
        return sum(1 for e in events if e.ok) >= 3
    fails = [e for e in events if not e.ok]
    if not fails:
        return False
    pattern = REASONS[run.kind]
    assert re.search(pattern, fails[0].text), f"{run.site} {run.kind}: {fails[0].text!r} !~ {pattern}"
    return True


def _check_recorded(
    run: SiteRun, events: list[Event], db: Path, baseline: dict[str, set[str]], daemon: DaemonProcess
) -> None:
    site = "melon" if run.kind == "detail" else run.site
    deadline = time.monotonic() + 5
    state: dict[str, Any] = {}
    while time.monotonic() < deadline:  # the line is logged just before the state is saved
        state = site_state(db, site)
        if run.kind in ("empty", "detail") or (state["failure_streak"] >= 1 and state["last_error"]):
            break
        time.sleep(0.05)
    if run.kind == "empty":
        assert state["last_count"] == 0 and state["failure_streak"] == 0, state
    elif run.kind == "detail":  # named (WARNING), and the known notices kept as they were
        # one line a sweep, not one a notice
        assert re.search(r"melon: notice pages: \d+ unreadable \(HTTP 500\)", daemon.err())
    elif run.kind != "detail":
        assert state["failure_streak"] >= 1 and state["last_error"], (run.site, run.kind, state)
        assert state["last_error"] in events[-1].text or state["last_error"] in events[0].text, state
    assert history_keys(db, site) >= baseline[site], f"{site} {run.kind}: history forgot notices"
    run.results.append(run.kind)


def _gaps(runs: list[SiteRun], watcher: LogWatcher) -> dict[str, float]:
    """Per site, the largest gap between two crawl ends that no slow fault of its own explains."""
    out = {}
    for run in runs:
        stamps = [e.at for e in watcher.of(run.site)]
        slow = [(a, b) for kind, a, b in run.windows if kind in SLOW]
        worst = 0.0
        for a, b in itertools.pairwise(stamps):
            if any(a < end + INTERVAL + 1 and b > start for start, end in slow):
                continue
            worst = max(worst, b - a)
        out[run.site] = worst
    return out
