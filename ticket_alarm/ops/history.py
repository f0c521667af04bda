"""``history stats | search TEXT | import FILE``: look into the alert history, bring in the old one.

stats and search open the store read-only (no lock, nothing created; fine while the daemon runs).
import reads the old script's ``data/notification_history.json`` — a JSON list of hashes or of
records, or a map hash → record/timestamp — and stores every entry in ONE transaction (a corrupt
file writes nothing):

- a record that names its site and notice id is stored under the real identity key
  (``model.identity_key(site, id)``), so the daemon never announces that notice as new;
- anything else is an opaque legacy hash (the old script hashed something per notice); it is
  kept, and it suppresses an alert only if it equals a notice's identity key.

Both land in the store's ``legacy_keys`` table; a trigger drops "new" alerts for those keys, while
the history row is written from the live crawl as usual (so later changes are announced).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from crawlers.base import Crawler
from ticket_alarm.clock import Clock, SystemClock
from ticket_alarm.config.routes import normalise
from ticket_alarm.core.model import SEOUL, identity_key
from ticket_alarm.errors import TicketAlarmError
from ticket_alarm.i18n import t, table
from ticket_alarm.ops.explain import open_text
from ticket_alarm.store import LegacyKey
from ticket_alarm.store.api import Store as StoreProtocol

SITE_FIELDS = ("site", "source", "platform", "vendor")
ID_FIELDS = ("id", "notice_id", "noticeId", "notice_no", "no")
HASH_FIELDS = ("hash", "key", "digest", "id_hash")
TITLE_FIELDS = ("title", "name", "subject")
TIME_FIELDS = ("notified_at", "sent_at", "timestamp", "time", "first_seen", "created_at", "date")
MAX_KEY = 256


class HistoryImportError(TicketAlarmError):
    """The legacy history file cannot be imported; nothing was written."""


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).astimezone(SEOUL).strftime("%Y-%m-%d %H:%M KST")


# --- stats / search -------------------------------------------------------------------------


async def stats(store: StoreProtocol) -> dict[str, Any]:
    sites = [
        {
            "site": r.site,
            "rows": int(r.n),
            "first_seen": r.first_seen,
            "newest": r.newest,
            "last_seen": r.last_seen,
        }
        for r in await store.history_by_site()
    ]
    outbox = await store.outbox_stats()
    imported, matched = await store.legacy_counts()
    return {
        "sites": sites,
        "total": sum(s["rows"] for s in sites),
        "outbox": {"pending": outbox.pending, "sent": outbox.sent, "dead": outbox.dead},
        "legacy_keys": {"imported": imported, "matched": matched},
    }


def stats_text(doc: Mapping[str, Any]) -> str:
    rows = [
        (s["site"], str(s["rows"]), when(s["first_seen"]), when(s["newest"]), when(s["last_seen"]))
        for s in doc["sites"]
    ]
    rows.append((t("history.total"), str(doc["total"]), "", "", ""))
    lines = table.render(t("history.columns.stats").split("|"), rows, align="<><<<")
    o = doc["outbox"]
    lines.append(t("history.outbox", pending=o["pending"], sent=o["sent"], dead=o["dead"]))
    legacy = doc["legacy_keys"]
    if legacy["imported"]:
        lines.append(t("history.legacy", imported=legacy["imported"], matched=legacy["matched"]))
    return "\n".join(lines)


async def search(
    store: StoreProtocol, words: str | Sequence[str], limit: int = 50
) -> tuple[list[dict[str, Any]], bool]:
    """Notices whose title holds any of ``words`` as route keywords match (case, width and spaces
    folded: ``"아이유 콘서트"`` in one argument is one keyword; ``세븐틴 SEVENTEEN`` are two, either).

    Returns (the newest ``limit`` rows, whether more matched than ``limit``)."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for word in [words] if isinstance(words, str) else words:
        for r in await store.search_history(word, limit + 1, fold=normalise):
            found.setdefault(
                (r.site, r.notice_id),
                {
                    "site": r.site,
                    "id": r.notice_id,
                    "title": r.title,
                    "first_seen": r.first_seen,
                    "open_at": r.open_at,
                    "open_date": r.open_date,
                    "imported": r.origin == "imported",
                },
            )
    rows = list(found.values())
    if not isinstance(words, str) and len(words) > 1:  # one word keeps the store's order
        rows.sort(key=lambda r: (-(r["first_seen"] or 0), r["site"], r["id"]))
    return rows[:limit], len(rows) > limit


def search_text(rows: Iterable[Mapping[str, Any]], cut_at: int | None = None) -> str:
    cells = [
        (
            r["site"],
            r["id"],
            when(r["first_seen"]),
            "-" if r["imported"] else open_text(r),
            r["title"] + (t("history.imported_mark") if r["imported"] else ""),
        )
        for r in rows
    ]
    lines = table.render(t("history.columns.search").split("|"), cells)
    if cut_at is not None:
        lines.append(t("history.cut", limit=cut_at))
    return "\n".join(lines)


# --- import ---------------------------------------------------------------------------------


@dataclass
class ImportSummary:
    records: int
    hashes: int
    added: int
    known: int
    unknown_sites: dict[str, int]


def site_aliases(known: Mapping[str, type[Crawler]]) -> dict[str, str]:
    """Lower-cased names and display names (with and without spaces / ' 티켓') → crawler name."""
    out: dict[str, str] = {}
    for name, cls in known.items():
        display = str(getattr(cls, "display_name", name))
        for alias in (
            name,
            display,
            display.replace(" ", ""),
            display.removesuffix(" 티켓"),
            display + "티켓",
        ):
            out[alias.lower()] = name
    return out


def _pick(record: Mapping[str, Any], fields: tuple[str, ...]) -> Any:
    for name in fields:
        if record.get(name) not in (None, ""):
            return record[name]
    return None


def _timestamp(value: Any, where: str) -> float | None:
    if value is None or value is True:
        return None
    if isinstance(value, bool):
        raise HistoryImportError(t("import.not_a_time", where=where, value=value))
    if isinstance(value, int | float):
        seconds = float(value) / 1000 if value > 1e12 else float(value)  # milliseconds
        if not 0 < seconds < 4e9:
            raise HistoryImportError(t("import.out_of_range", where=where, value=value))
        return seconds
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            raise HistoryImportError(t("import.not_iso", where=where, value=value)) from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=SEOUL)  # the old script wrote Korean wall-clock time
        return parsed.timestamp()
    raise HistoryImportError(t("import.time_type", where=where, kind=type(value).__name__))


def _hash(value: Any, where: str) -> str:
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise HistoryImportError(t("import.key_type", where=where, kind=type(value).__name__))
    text = str(value).strip()
    if not text or len(text) > MAX_KEY or any(ch.isspace() for ch in text):
        raise HistoryImportError(t("import.not_hash", where=where, text=text[:40]))
    return text


def _record(
    record: Mapping[str, Any], where: str, aliases: Mapping[str, str], hash_key: str | None
) -> LegacyKey:
    site_raw = _pick(record, SITE_FIELDS)
    notice_id = _pick(record, ID_FIELDS)
    title = _pick(record, TITLE_FIELDS)
    seen_at = _timestamp(_pick(record, TIME_FIELDS), where)
    title_text = str(title).strip()[:500] if title is not None else None
    if site_raw is not None and notice_id is not None:
        if (
            not isinstance(site_raw, str)
            or not isinstance(notice_id, str | int)
            or isinstance(notice_id, bool)
        ):
            raise HistoryImportError(t("import.site_id_type", where=where))
        site = aliases.get(site_raw.strip().lower(), site_raw.strip())
        nid = str(notice_id).strip()
        return LegacyKey(identity_key(site, nid), "record", site, nid, title_text, seen_at)
    key = hash_key if hash_key is not None else _pick(record, HASH_FIELDS)
    if key is None:
        raise HistoryImportError(
            t(
                "import.no_key",
                where=where,
                site="/".join(SITE_FIELDS[:1]),
                ids="/".join(ID_FIELDS[:2]),
                hashes="/".join(HASH_FIELDS[:2]),
            )
        )
    return LegacyKey(_hash(key, where), "hash", None, None, title_text, seen_at)


def parse_legacy(data: Any, known: Mapping[str, type[Crawler]], source: str = "file") -> list[LegacyKey]:
    """Every entry of the old history, or HistoryImportError naming the first bad one."""
    aliases = site_aliases(known)
    out: list[LegacyKey] = []
    if isinstance(data, list):
        for index, item in enumerate(data):
            where = t("import.entry_index", source=source, index=index)
            if isinstance(item, dict):
                out.append(_record(item, where, aliases, None))
            else:
                out.append(LegacyKey(_hash(item, where), "hash"))
    elif isinstance(data, dict):
        for raw_key, value in data.items():
            where = t("import.entry_key", source=source, key=str(raw_key)[:40])
            key = _hash(raw_key, where)
            if isinstance(value, dict):
                out.append(_record(value, where, aliases, key))
            elif isinstance(value, list):
                raise HistoryImportError(t("import.list_value", where=where))
            else:
                out.append(LegacyKey(key, "hash", seen_at=_timestamp(value, where)))
    else:
        raise HistoryImportError(t("import.top_level", source=source, kind=type(data).__name__))
    return out


def read_legacy(path: Path, known: Mapping[str, type[Crawler]]) -> list[LegacyKey]:
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise HistoryImportError(t("history.import.missing", path=path)) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise HistoryImportError(t("history.import.unreadable", path=path, reason=exc)) from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryImportError(
            t("history.import.bad_json", path=path, line=exc.lineno, column=exc.colno, reason=exc.msg)
        ) from None
    try:
        return parse_legacy(data, known, str(path))
    except HistoryImportError as exc:
        raise HistoryImportError(t("history.import.bad_entry", problem=exc)) from None


async def import_keys(
    store: StoreProtocol,
    keys: Sequence[LegacyKey],
    known: Mapping[str, type[Crawler]],
    *,
    clock: Clock | None = None,
) -> ImportSummary:
    """The old history's entries (``read_legacy``) into ``store``, in ONE transaction."""
    clock = clock or SystemClock()
    unknown = Counter(k.site for k in keys if k.site is not None and k.site not in known)
    unique = list({k.key: k for k in keys}.values())
    added, already = await store.import_legacy(unique, clock.now().timestamp())
    return ImportSummary(
        records=sum(1 for k in unique if k.source == "record"),
        hashes=sum(1 for k in unique if k.source == "hash"),
        added=added,
        known=already,
        unknown_sites=dict(unknown),
    )
