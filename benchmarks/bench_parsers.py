"""Parse time per site: the crawler's pure ``parse`` vs the same extraction with BeautifulSoup.

For each of the four sites a synthetic list page of N notices (``benchmarks/parsers/<site>_synth``)
is parsed by the crawler module's ``parse`` (selectolax/Lexbor for the HTML sites; ``json`` plus
the crawler's regexes for the JSON sites) and by its twin ``benchmarks/parsers/<site>_bs4.parse_bs4``
(BeautifulSoup "html.parser" for every piece of HTML). Both must find the same number of notices
on the page before anything is timed. Time = best of ``runs`` runs, the two parsers alternating.
Melon: only the list page (the crawler's detail fetches are I/O, not parsing).
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from typing import Any

from benchmarks.bench_common import ERROR, SKIPPED, Row, ms, say, verdict

SITES = ("interpark", "yes24", "melon", "ticketlink")
JSON_SITES = ("interpark", "ticketlink")
TARGET = 10.0
INSTALL_HINT = "BeautifulSoup is not installed: pip install -e .[bench]  (benchmark-only dependency)"


def timed(call: Callable[[bytes], Any], page: bytes) -> float:
    started = time.perf_counter()
    call(page)
    return time.perf_counter() - started


def bs4_available() -> bool:
    try:
        importlib.import_module("bs4")
    except ImportError:
        return False
    return True


def run(quick: bool) -> list[Row]:
    notices = 200 if quick else 1000
    runs = 5
    if not bs4_available():
        say(f"  parsers: {INSTALL_HINT}")
        return [
            Row(
                benchmark=f"parsers/{site}: {notices} notices, bs4 vs selectolax",
                measured="—",
                target=f"≥ {TARGET:g}×",
                status=SKIPPED,
                notes=[f"parsers: {INSTALL_HINT}"] if site == SITES[0] else [],
            )
            for site in SITES
        ]
    rows = []
    for site in SITES:
        say(f"  parsers: {site}, {notices} notices, best of {runs} …")
        crawler = importlib.import_module(
            "crawlers.interpark.site" if site == "interpark" else f"crawlers.{site}"
        )
        twin = importlib.import_module(f"benchmarks.parsers.{site}_bs4")
        synth = importlib.import_module(f"benchmarks.parsers.{site}_synth")
        page: bytes = synth.make_page(notices)
        name = f"parsers/{site}: {notices} notices, bs4 vs selectolax"
        ours, theirs = len(crawler.parse(page)), len(twin.parse_bs4(page))
        if ours != theirs or ours != notices:
            rows.append(
                Row(
                    benchmark=name,
                    measured=f"crawler found {ours}, bs4 twin found {theirs} of {notices}",
                    target=f"≥ {TARGET:g}×",
                    status=ERROR,
                    notes=[f"parsers/{site}: the two parsers disagree on the page; nothing was timed"],
                )
            )
            continue
        fast = slow = float("inf")
        for _ in range(runs):  # alternate so drift hits both alike
            fast = min(fast, timed(crawler.parse, page))
            slow = min(slow, timed(twin.parse_bs4, page))
        ratio = slow / fast
        notes = []
        if site in JSON_SITES:
            notes.append(
                f"parsers/{site}: a JSON API; the crawler uses json + regexes (no selectolax), bs4 only "
                "sees the small HTML bits (title markup"
                + (", notice body" if site == "ticketlink" else "")
                + "), so the ratio says little about HTML parsers"
            )
        rows.append(
            Row(
                benchmark=name,
                measured=f"selectolax/json {ms(fast)} | bs4 {ms(slow)} ({len(page) // 1024} KiB page)",
                ratio=f"{ratio:.1f}×",
                target=f"≥ {TARGET:g}×",
                status=verdict(ratio >= TARGET),
                notes=notes,
                values={
                    "notices": notices,
                    "fast_s": fast,
                    "bs4_s": slow,
                    "ratio": ratio,
                    "bytes": len(page),
                },
            )
        )
    return rows
