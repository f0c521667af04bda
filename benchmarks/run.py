"""Run ticket-alarm's benchmarks and print one table of side-by-side ratios.

    python -m benchmarks.run                 # everything, full sizes (a few minutes)
    python -m benchmarks.run --quick         # small sizes: a smoke run, well under a minute
    python -m benchmarks.run --only parsers  # one benchmark (repeat --only for several)
    python benchmarks/run.py ...             # the same, as a script

A missed target prints FAIL and the run still exits 0 (it reports; it is not a test) unless
``--strict``. A benchmark that breaks prints an ERROR row with the reason and makes the exit 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/run.py`: make the repo root importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_common import ERROR, FAIL, Row, quiet_logging, safe_environment, say

Bench = Callable[[bool], list[Row]]


def _load(name: str) -> Bench:
    """Import a benchmark module only when it runs (so --only parsers does not import the rest)."""
    import importlib

    module = importlib.import_module(f"benchmarks.bench_{name}")
    run: Bench = module.run
    return run


BENCHMARKS: dict[str, str] = {
    "history": "history check + enqueue, 100-notice cycle, 1k vs 1M rows stored (≤ 2× apart)",
    "delivery": "500 notices to the stand-in Discord, 5 req / 2 s bucket, vs the bucket's bound (≤ 1.1×)",
    "memory": "RSS after 2,000 in-process cycles vs after 10 (≤ 5 MB growth)",
    "parsers": "list-page parse, selectolax/json vs BeautifulSoup, 1,000 notices a site (≥ 10×)",
    "cycle": "one once-cycle of the four real crawlers against loopback fixtures (info)",
    "gzip": "peak RSS fetching a 200 MB gzip bomb, refused at the 5 MB cap (≤ 20 MB growth)",
    "head": "alert latency + requests/site/hour: sweeps every 300 s vs head polls every 30 s (virtual time)",
    "web": "status page server time with 10,000 notices in the history (≤ 100 ms)",
    "retention": "store size over 10,000 cycles: unchanged site, and one alert a cycle pruned (≤ 1.1×)",
    "notices": "no-news once, Interpark notice pages: CPU per notice vs requests + BeautifulSoup (≤ 0.25×)",
    "postgres": "PostgreSQL store: 100-notice cycle at 1k vs 1M rows (≤ 2×), outbox claims by two replicas",
}


def render_table(rows: list[Row]) -> str:
    header = ("benchmark", "measured", "ratio", "target", "status")
    cells = [header] + [(r.benchmark, r.measured, r.ratio, r.target, r.status) for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(header))]
    lines = []
    for index, row in enumerate(cells):
        lines.append("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    notes = [note for r in rows for note in r.notes]
    if notes:
        lines.append("")
        lines.append("notes:")
        lines += [f"  - {note}" for note in notes]
    return "\n".join(lines)


def run_one(name: str, quick: bool) -> list[Row]:
    started = time.perf_counter()
    say(f"[{name}] {BENCHMARKS[name]}")
    try:
        rows = _load(name)(quick)
    except Exception as exc:  # a broken benchmark is reported as a row, never hides the others
        detail = traceback.format_exception_only(type(exc), exc)[-1].strip()
        say(traceback.format_exc())
        rows = [Row(benchmark=name, measured=detail[:160], status=ERROR, notes=[f"{name}: {detail}"])]
    say(f"[{name}] done in {time.perf_counter() - started:.1f} s")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run",
        description="ticket-alarm benchmarks: side-by-side ratios against their targets.",
        epilog="benchmarks: " + "; ".join(f"{k} — {v}" for k, v in BENCHMARKS.items()),
    )
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run (< 60 s)")
    parser.add_argument(
        "--only",
        action="append",
        metavar="NAME",
        help=f"run only this benchmark (repeatable): {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    parser.add_argument("--json", metavar="PATH", help="also write the rows as JSON to PATH")
    args = parser.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r}; known: {', '.join(BENCHMARKS)}")

    removed = safe_environment()
    if removed:
        say(f"ignoring {', '.join(sorted(removed))} from the environment: benchmarks post only to 127.0.0.1")
    quiet_logging()
    started = time.perf_counter()
    rows: list[Row] = []
    for name in dict.fromkeys(names):
        rows += run_one(name, args.quick)
    total = time.perf_counter() - started

    mode = "quick" if args.quick else "full"
    print(f"ticket-alarm benchmarks ({mode} run, {total:.1f} s, python {sys.version.split()[0]})")
    print()
    print(render_table(rows))
    if args.json:
        document = {"mode": mode, "seconds": total, "rows": [r.to_json() for r in rows]}
        Path(args.json).write_text(json.dumps(document, ensure_ascii=False, indent=1), encoding="utf-8")
    if any(r.status == ERROR for r in rows):
        return 1
    if args.strict and any(r.status == FAIL for r in rows):
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
