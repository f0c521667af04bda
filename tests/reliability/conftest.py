"""Shared pieces of the reliability suite: the report table, the secret scan and store probes.

Every scenario adds one row or more to ``REPORT`` (scenario, notices produced, delivered, lost,
duplicates, seconds, plus the figures it measured); ``pytest_terminal_summary`` prints the table at
the end of the run. Set ``RELIABILITY_REPORT=path.md`` to also write it as a Markdown table (the one
in docs/reliability.md comes from there).
"""

from __future__ import annotations

import os
import sqlite3
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.support.discord_standin import FakeDiscord
from ticket_alarm.store import DB_NAME


@dataclass
class Row:
    scenario: str
    produced: int
    delivered: int
    lost: int
    duplicates: int
    seconds: float
    figures: str = ""


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    scanned_texts: int = 0
    scanned_lines: int = 0
    secret_hits: list[str] = field(default_factory=list)

    def add(
        self,
        scenario: str,
        *,
        produced: int,
        delivered: int,
        lost: int,
        duplicates: int,
        seconds: float,
        figures: str = "",
    ) -> None:
        self.rows.append(Row(scenario, produced, delivered, lost, duplicates, seconds, figures))

    def table(self) -> list[str]:
        head = ("scenario", "produced", "delivered", "lost", "duplicates", "seconds", "figures")
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for r in sorted(self.rows, key=lambda row: row.scenario):  # by scenario number
            cells = (r.scenario, r.produced, r.delivered, r.lost, r.duplicates, f"{r.seconds:.1f}", r.figures)
            lines.append("| " + " | ".join(str(c) for c in cells) + " |")
        return lines


REPORT = Report()


@pytest.fixture
def report() -> Report:
    return REPORT


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not REPORT.rows:
        return
    terminalreporter.section("reliability report")
    for line in REPORT.table():
        terminalreporter.write_line(line)
    terminalreporter.write_line(
        f"secrets: {REPORT.scanned_texts} outputs / {REPORT.scanned_lines} lines scanned for webhook tokens "
        f"and proxy passwords, {len(REPORT.secret_hits)} hits"
    )
    target = os.environ.get("RELIABILITY_REPORT")
    if target:
        Path(target).write_text("\n".join(REPORT.table()) + "\n", encoding="utf-8")


# --- secrets -------------------------------------------------------------------------------------------


def token_of(webhook: str) -> str:
    return webhook.rstrip("/").rsplit("/", 1)[1]


def assert_no_secrets(outputs: dict[str, str], secrets: Iterable[str]) -> None:
    """Grep every output for every secret; count what was scanned for the report."""
    secrets = [s for s in secrets if s]
    assert secrets, "nothing to look for: the scenario must name its secrets"
    hits = []
    for label, text in outputs.items():
        REPORT.scanned_texts += 1
        REPORT.scanned_lines += text.count("\n") + 1
        for secret in secrets:
            if secret in text:
                line = next(ln for ln in text.splitlines() if secret in ln)
                hits.append(f"{label}: {line[:300]}")
    REPORT.secret_hits += hits
    assert not hits, "secrets leaked:\n" + "\n".join(hits)


def assert_no_traceback(outputs: dict[str, str]) -> None:
    for label, text in outputs.items():
        assert "Traceback" not in text, f"{label} carries a traceback:\n{text[-3000:]}"


# --- the store, read from outside the daemon --------------------------------------------------------------


def db_file(data_dir: Path) -> Path:
    return data_dir / DB_NAME


def query(db: Path, sql: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """A short-lived connection (the daemon may be running: WAL lets us read beside it)."""
    conn = sqlite3.connect(db, timeout=10.0)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def integrity(db: Path) -> str:
    return str(query(db, "PRAGMA integrity_check")[0][0])


def site_state(db: Path, site: str) -> dict[str, Any]:
    conn = sqlite3.connect(db, timeout=10.0)
    conn.row_factory = sqlite3.Row
    try:
        row = conn.execute("SELECT * FROM site_state WHERE site=?", (site,)).fetchone()
        return dict(row) if row else {}
    finally:
        conn.close()


def history_keys(db: Path, site: str | None = None) -> set[str]:
    if site is None:
        return {r[0] for r in query(db, "SELECT key FROM history")}
    return {r[0] for r in query(db, "SELECT key FROM history WHERE site=?", (site,))}


# --- what Discord received ---------------------------------------------------------------------------------


def delivered(discord: FakeDiscord, webhook_id: str | None = None) -> Counter[str]:
    """Notice ids (the last segment of each embed's url) → how many times Discord accepted them."""
    return Counter(str(e.get("url", "")).rsplit("/", 1)[-1] for e in discord.embeds(webhook_id))


def duplicates(counts: Counter[str]) -> int:
    return sum(c - 1 for c in counts.values() if c > 1)


def wait_until(predicate: Any, timeout: float, what: str, poll: float = 0.05) -> float:
    """Poll ``predicate`` (bounded by ``timeout``); returns the seconds it took."""
    started = time.monotonic()
    deadline = started + timeout
    while time.monotonic() < deadline:
        if predicate():
            return time.monotonic() - started
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
