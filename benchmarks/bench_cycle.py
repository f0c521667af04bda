"""One full once-cycle of the four real crawlers against a loopback stand-in of the four sites.

The stand-in (``tests.support.server.LoopbackServer`` on 127.0.0.1 answering with the recorded
pages of ``tests/fixtures/<site>/``, with ETags) takes the place of the sites through each site's
``base_url``; ``http.min_request_interval`` is 0, so the time is our own work plus loopback HTTP.

Measured three ways:
- in process, cold: ``app.build_app`` on a fresh data dir, then what ``once`` does — every enabled
  site's ``Pipeline.run_site`` gathered, then ``Delivery.drain`` (first run: history filled silently);
- in process, warm: the same on the filled store (nothing new; 304s from the ETag cache);
- the real command, ``python -m ticket_alarm once --config …`` in a child process (cold), wall time
  including interpreter start-up and imports.
No target: the row is INFO.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_common import ROOT, Row, median, ms, say
from benchmarks.bench_sites import SITES, FixtureSites

ONCE_TIMEOUT = 120.0


def site_config(base_url: str, data_dir: Path) -> dict[str, Any]:
    """The four sites on the stand-in; any installed plugin crawler switched off."""
    from crawlers import registry

    others = [name for name in registry.discover() if name not in SITES]
    return {
        "data_dir": str(data_dir),
        "sites": {
            **{name: {"base_url": base_url} for name in SITES},
            **{name: {"enabled": False} for name in others},
        },
        "http": {"min_request_interval": 0, "retries": 1, "backoff": 0.05, "timeout": 10},
    }


async def once_in_process(config: dict[str, Any]) -> tuple[float, int, int]:
    """(seconds, tickets, failed sites) of one once-cycle, wired by ``app.build_app``."""
    from crawlers import registry
    from ticket_alarm.app import build_app
    from ticket_alarm.config.settings import Settings

    settings = Settings(**config)
    if settings.effective_routes():
        raise AssertionError("the cycle benchmark must run in dry-run mode")
    known = {name: cls for name, cls in registry.discover().items() if settings.site(name).enabled}
    started = time.perf_counter()
    async with build_app(settings, known) as app:
        results = await asyncio.gather(*(app.pipeline.run_site(name) for name in SITES))
        await app.delivery.drain(30.0)
    elapsed = time.perf_counter() - started
    return elapsed, sum(r.items for r in results), sum(not r.ok for r in results)


def run(quick: bool) -> list[Row]:
    from tests.support.server import LoopbackServer

    cold_runs, warm_runs = (2, 3) if quick else (5, 10)
    sites = FixtureSites(etags=True)
    server = LoopbackServer(sites.loopback_handler).start()
    try:
        with tempfile.TemporaryDirectory(prefix="ta-bench-cycle-") as tmp:
            cold: list[float] = []
            warm: list[float] = []
            items = failed = 0
            say(f"  cycle: {cold_runs} cold + {warm_runs} warm once-cycles in process …")
            for n in range(cold_runs):
                config = site_config(server.base_url, Path(tmp) / f"cold{n}")
                seconds, items, bad = asyncio.run(once_in_process(config))
                cold.append(seconds)
                failed += bad
            requests_before = sites.requests
            for _ in range(warm_runs):  # on the last cold run's store
                seconds, items, bad = asyncio.run(once_in_process(config))
                warm.append(seconds)
                failed += bad
            per_warm = (sites.requests - requests_before) / warm_runs
            say("  cycle: `python -m ticket_alarm once` in a child process …")
            data_dir = Path(tmp) / "child"
            config_path = Path(tmp) / "config.json"
            config_path.write_text(json.dumps(site_config(server.base_url, data_dir)), encoding="utf-8")
            started = time.perf_counter()
            proc = subprocess.run(
                [sys.executable, "-m", "ticket_alarm", "once", "--config", str(config_path)],
                cwd=str(ROOT),
                capture_output=True,
                text=True,
                timeout=ONCE_TIMEOUT,
            )
            child = time.perf_counter() - started
    finally:
        server.stop()
    notes = [
        f"cycle: {items} notices over the four sites per cycle, {per_warm:.0f} requests per warm cycle; "
        f"stand-in answered {dict(sorted(sites.statuses.items()))}",
    ]
    if proc.returncode != 0:
        notes.append(f"cycle: `once` exited {proc.returncode}: {(proc.stderr or proc.stdout).strip()[-400:]}")
    if failed:
        notes.append(f"cycle: {failed} site crawls failed in process")
    return [
        Row(
            benchmark="cycle: once, 4 real crawlers, loopback fixtures",
            measured=f"cold {ms(median(cold))} | warm {ms(median(warm))} | `once` process {child:.2f} s",
            status="INFO" if proc.returncode == 0 and not failed else "ERROR",
            notes=notes,
            values={
                "cold_median_s": median(cold),
                "warm_median_s": median(warm),
                "once_process_s": child,
                "once_exit": proc.returncode,
                "notices": items,
                "failed_sites": failed,
            },
        )
    ]
