"""Outbox rows as versions before Alerts wrote them (a Discord embed as the payload), in a store file at
schema 4, the last one before the store rewrote such rows itself (schema step 5).

``legacy_payload`` is the reference the step's SQL is tested against: the Alert payload an old embed
row becomes, as the Python of the version that still converted rows at read time computed it (one
refinement: a non-string author name or a boolean colour, which that code passed through ``str`` or
kept, is "" or 0 here, as SQL cannot reproduce Python's ``str`` of an arbitrary value).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from ticket_alarm.delivery.notify import ALERT_VERSION

SCHEMA_BEFORE_ALERT_ROWS = 4


def is_legacy_payload(data: Any) -> bool:
    """Whether an outbox payload is a Discord embed written by a version before Alerts."""
    return (
        isinstance(data, dict)
        and "alert" not in data
        and isinstance(data.get("title"), str)
        and isinstance(data.get("fields", []), list)
    )


def legacy_payload(embed: dict[str, Any]) -> dict[str, Any]:
    """A Discord embed from an older outbox row → the payload of a ``legacy`` Alert carrying it as-is."""
    assert is_legacy_payload(embed), embed
    author = embed.get("author")
    name = author.get("name") if isinstance(author, dict) else None
    color = embed.get("color")
    return {
        "alert": ALERT_VERSION,
        "kind": "legacy",
        "title": embed["title"],
        "site_name": name if isinstance(name, str) else "",
        "color": color if isinstance(color, int) and not isinstance(color, bool) else 0,
        "ticket": None,
        "before": None,
        "offset_min": None,
        "embed": embed,
    }


def sqlite_steps(upto: int) -> list[str]:
    """The SQL of SQLite schema steps 1..``upto``, as the package ships them."""
    files = sorted(
        f
        for f in resources.files("ticket_alarm.store.sqlite").joinpath("migrations").iterdir()
        if f.name.endswith(".sql")
    )
    return [f.read_text(encoding="utf-8") for f in files[:upto]]


def old_store_file(
    path: Path, payloads: Sequence[Any | str], *, route: str = "default", now: float = 0.0
) -> list[int]:
    """A SQLite store at schema 4 holding one pending outbox row per payload (a JSON value, or a str
    written as it is), as the version before Alerts left it; the rows' ids in order."""
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        for number, sql in enumerate(sqlite_steps(SCHEMA_BEFORE_ALERT_ROWS), start=1):
            conn.executescript(f"BEGIN IMMEDIATE;{sql};PRAGMA user_version={number};COMMIT;")
        ids = []
        for n, payload in enumerate(payloads):
            text = payload if isinstance(payload, str) else json.dumps(payload, ensure_ascii=False)
            cur = conn.execute(
                "INSERT INTO outbox(route, kind, site, notice_key, payload, created_at, next_attempt_at) "
                "VALUES (?, 'new', 'melon', ?, ?, ?, ?)",
                (route, f"melon:{n}", text, now, now),
            )
            ids.append(int(cur.lastrowid or 0))
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_BEFORE_ALERT_ROWS
        return ids
    finally:
        conn.close()


def raw_payloads(path: Path) -> dict[int, str]:
    """Every outbox row's payload text as stored, by id."""
    conn = sqlite3.connect(path)
    try:
        return {int(i): str(p) for i, p in conn.execute("SELECT id, payload FROM outbox ORDER BY id")}
    finally:
        conn.close()
