"""Memory: RSS after N in-process crawl cycles vs after 10.

Real objects, wired as ``app.build_app`` wires them: the async ``SqliteStore`` in a temp dir (also
the fetch layer's ETag cache), a ``Fetcher`` on ``httpx.MockTransport`` serving the four sites' fixture pages
(``bench_sites.FixtureSites``, with ETags and a fresh notice id on each site's first page every
cycle, plus a title that toggles on the JSON sites: history grows, new and change alerts flow),
the four real crawlers, ``Pipeline`` and a dry-run ``Delivery`` printing into an ``io.StringIO``
that is emptied after each cycle. Cycle ``i`` runs ``Pipeline.run_site`` for site ``i % 4`` and
then delivers what it queued, as the daemon's per-site jobs do.

RSS (psutil) is read after ``gc.collect()`` at cycle 10 and at the last cycle. The soak runs in a
child process (``python -m benchmarks.bench_memory --cycles N``) so memory freed by the other
benchmarks cannot hide growth here.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import io
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks.bench_common import ROOT, Row, quiet_logging, safe_environment, say, verdict
from benchmarks.bench_sites import SITES, FixtureSites

TARGET_MB = 5.0
BASELINE_CYCLE = 10


def rss_mb() -> float:
    gc.collect()
    return float(psutil.Process().memory_info().rss) / (1024 * 1024)


async def soak(cycles: int) -> dict[str, Any]:
    from crawlers import registry
    from ticket_alarm import app
    from ticket_alarm.clock import SystemClock
    from ticket_alarm.config.settings import HttpSettings, Settings
    from ticket_alarm.daemon.pipeline import Pipeline
    from ticket_alarm.delivery.discord.render import alert_text
    from ticket_alarm.delivery.notify import STDOUT_ROUTE, StdoutNotifier
    from ticket_alarm.delivery.outbox import Delivery
    from ticket_alarm.fetch.http import Fetcher
    from ticket_alarm.store.sqlite.backend import SqliteStore

    logs = quiet_logging()
    samples: list[tuple[int, float]] = []
    totals = {"new": 0, "changed": 0, "queued": 0, "delivered": 0, "failed": 0}
    with tempfile.TemporaryDirectory(prefix="ta-bench-memory-") as tmp:
        settings = Settings(data_dir=Path(tmp), http=HttpSettings(min_request_interval=0, retries=0))
        if settings.effective_routes():
            raise AssertionError("the memory benchmark must run in dry-run mode")
        clock = SystemClock()
        store = SqliteStore.open_dir(settings.data_dir)
        sites = FixtureSites(etags=True)
        fetcher = Fetcher(settings.http, cache=store, transport=sites.mock_transport(), clock=clock)
        known = registry.discover(include_plugins=False)
        crawlers = {name: known[name](settings.site(name)) for name in SITES}
        out = io.StringIO()
        delivery = Delivery(store, [StdoutNotifier(alert_text, clock, out=out)], clock)
        pipeline = Pipeline(
            settings, store, fetcher, crawlers, clock, router=app.router(settings), on_enqueue=delivery.notify
        )
        started = time.perf_counter()
        try:
            step = max(1, cycles // 10)
            for cycle in range(1, cycles + 1):
                sites.cycle = cycle
                result = await pipeline.run_site(SITES[cycle % len(SITES)])
                if not result.ok:
                    totals["failed"] += 1
                totals["new"] += result.new
                totals["changed"] += result.changed
                totals["queued"] += result.queued
                totals["delivered"] += await delivery.deliver_due(STDOUT_ROUTE)
                out.seek(0)
                out.truncate()
                if cycle in (BASELINE_CYCLE, cycles) or cycle % step == 0:
                    samples.append((cycle, rss_mb()))
            history = await store.history_count()
        finally:
            await fetcher.aclose()
            await store.close()
        seconds = time.perf_counter() - started
    readings = dict(samples)
    return {
        "cycles": cycles,
        "rss_baseline_mb": readings[BASELINE_CYCLE],
        "rss_end_mb": readings[cycles],
        "growth_mb": readings[cycles] - readings[BASELINE_CYCLE],
        "samples": samples,
        "seconds": seconds,
        "history_rows": history,
        "requests": sites.requests,
        "statuses": {str(k): v for k, v in sorted(sites.statuses.items())},
        "log_levels": dict(logs.levels),
        "log_samples": logs.samples,
        **totals,
    }


def run(quick: bool) -> list[Row]:
    cycles = 200 if quick else 2000
    say(f"  memory: {cycles} cycles in a child process …")
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_memory", "--cycles", str(cycles)],
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=900,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the memory soak failed (exit {proc.returncode}): {proc.stderr.strip()[-1500:]}")
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    growth = data["growth_mb"]
    trend = ", ".join(f"{c}: {mb:.1f}" for c, mb in data["samples"])
    ok = growth <= TARGET_MB and data["failed"] == 0
    notes = [
        f"memory: RSS MB by cycle — {trend}",
        f"memory: {data['cycles']} cycles in {data['seconds']:.1f} s, {data['requests']} requests "
        f"(statuses {data['statuses']}), {data['new']} new / {data['changed']} changed notices, "
        f"{data['delivered']} alerts delivered (dry run), {data['history_rows']} history rows at the end",
    ]
    if data["failed"]:
        notes.append(f"memory: {data['failed']} cycles FAILED: {data['log_samples']}")
    return [
        Row(
            benchmark=f"memory: RSS after {cycles:,} cycles vs after {BASELINE_CYCLE}",
            measured=f"{data['rss_baseline_mb']:.1f} MB → {data['rss_end_mb']:.1f} MB",
            ratio=f"{growth:+.2f} MB",
            target=f"≤ {TARGET_MB:g} MB growth",
            status=verdict(ok),
            notes=notes,
            values=data,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="memory soak (run by benchmarks.run)")
    parser.add_argument("--cycles", type=int, default=2000)
    args = parser.parse_args(argv)
    if args.cycles < BASELINE_CYCLE:
        parser.error(f"--cycles must be at least {BASELINE_CYCLE}")
    safe_environment()
    print(json.dumps(asyncio.run(soak(args.cycles))))
    return 0


if __name__ == "__main__":
    sys.exit(main())
