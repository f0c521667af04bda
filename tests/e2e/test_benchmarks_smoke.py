"""Smoke test of the benchmark suite: every benchmark runs and reports a row (targets are not checked).

Speed and memory targets live in ``python -m benchmarks.run`` (a report); this only proves the
command works end to end on small sizes, so a broken benchmark is noticed in CI.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.bench_delivery import bucket_bound
from benchmarks.run import BENCHMARKS

ROOT = Path(__file__).resolve().parents[2]
EXPECTED_ROWS = {
    "history": ["history:"],
    "delivery": ["delivery:"],
    "memory": ["memory:"],
    "parsers": ["parsers/interpark:", "parsers/yes24:", "parsers/melon:", "parsers/ticketlink:"],
    "cycle": ["cycle:"],
    "gzip": ["gzip:"],
    "head": ["head: alert latency", "head: change latency", "head: requests per site", "head: a short list"],
    "web": ["web:", "web/feeds:", "web/worst:"],
    "retention": [
        "retention: store size over 1,000 hourly cycles, unchanged",
        "retention: store size over 1,000 hourly cycles, one",
    ],
    "postgres": ["postgres: 100-notice cycle", "postgres: outbox claims"],
    "notices": ["notices: no-news `once`"],
}


def bench_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK"))}
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_bench(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *args],
        cwd=str(ROOT),
        env=bench_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_the_smoke_test_knows_every_benchmark() -> None:
    assert set(EXPECTED_ROWS) == set(BENCHMARKS)


@pytest.mark.parametrize("benchmark", list(EXPECTED_ROWS))
def test_quick_run_reports_a_row_for_every_benchmark(tmp_path: Path, benchmark: str) -> None:
    """One benchmark per test (``--quick --only NAME``): the same rows and checks as one run of them all,
    but the eleven runs spread over the xdist workers instead of making one 3-minute test."""
    out = tmp_path / "rows.json"
    proc = run_bench("-m", "benchmarks.run", "--quick", "--only", benchmark, "--json", str(out))
    assert proc.returncode == 0, f"exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    rows = json.loads(out.read_text(encoding="utf-8"))["rows"]
    names = [row["benchmark"] for row in rows]
    for prefix in EXPECTED_ROWS[benchmark]:
        matching = [row for row in rows if row["benchmark"].startswith(prefix)]
        assert len(matching) == 1, f"{benchmark}: expected one row starting {prefix!r}, got {names}"
        row = matching[0]
        optional = benchmark in ("parsers", "notices")  # they need the bench extra
        allowed = {"PASS", "FAIL", "INFO"} | ({"SKIPPED"} if optional else set())
        assert row["status"] in allowed, row
        assert row["measured"].strip(), row
        assert row["benchmark"] in proc.stdout  # the printed table carries the row
    assert "benchmark" in proc.stdout and "status" in proc.stdout and "target" in proc.stdout


def test_script_form_and_only_select_one_benchmark() -> None:
    proc = run_bench("benchmarks/run.py", "--quick", "--only", "history")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "history:" in proc.stdout
    assert "delivery:" not in proc.stdout and "parsers/" not in proc.stdout


def test_unknown_benchmark_is_a_usage_error_naming_the_known_ones() -> None:
    proc = run_bench("-m", "benchmarks.run", "--only", "nosuch")
    assert proc.returncode == 2
    assert "nosuch" in proc.stderr and "history, delivery, memory, parsers, cycle" in proc.stderr


def test_bucket_bound_counts_whole_windows_after_the_first() -> None:
    assert bucket_bound(50) == 18.0  # 500 notices: 5 at t=0, … the last 5 at t=18
    assert bucket_bound(10) == 2.0
    assert bucket_bound(6) == 2.0
    assert bucket_bound(5) == 0.0
    assert bucket_bound(0) == 0.0
