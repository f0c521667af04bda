"""``test-crawlers [SITE…] [--json] [--file PAGE]``: diagnosis. Fetch and parse each site, print its
status, HTTP code, time, items and sample titles; sends nothing, writes no history. ``--file`` parses a
saved page instead (like ``scrapy parse``). 0 all ok, 1 any failed."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from crawlers import registry
from crawlers.base import Crawler, Schedule, parse_saved
from ticket_alarm import app, i18n
from ticket_alarm.cli.base import EXIT_FAIL, EXIT_OK, add_json, load
from ticket_alarm.core.model import Ticket, seoul_text
from ticket_alarm.daemon.results import SiteResult
from ticket_alarm.errors import ConfigError, CrawlError
from ticket_alarm.i18n.table import cut, pad
from ticket_alarm.logs import redact
from ticket_alarm.ops.health import enabled_sites
from ticket_alarm.store.sqlite.backend import SqliteStore

NAME = "test-crawlers"
HELP = "help.test_crawlers"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sites", nargs="*", metavar="SITE")
    add_json(parser)
    parser.add_argument("--file", help=i18n.t("help.test_crawlers.file"))


def run(args: argparse.Namespace) -> int:
    loaded = load(args)
    names = list(args.sites) or enabled_sites(loaded.settings, loaded.known)
    for name in names:
        registry.get(name, loaded.known)
    if args.file:
        if len(names) != 1:
            raise ConfigError(i18n.t("tc.file_one_site"))
        return _parse_file(loaded.known[names[0]], Path(args.file), args.json)
    return asyncio.run(diagnose(loaded, names, as_json=args.json))


async def diagnose(loaded: app.Loaded, names: list[str], *, as_json: bool) -> int:
    """Fetch and parse each site (every site at once), print a line per site as it finishes, or one
    JSON document; sends nothing, writes no history."""
    settings, known = loaded.settings, loaded.known
    results: dict[str, SiteResult] = {}
    heads: dict[str, SiteResult | None] = {}  # the head poll's page (registration order), per site
    # diagnosis writes no history: a throw-away store keeps the fetcher's cache away from the real one
    with tempfile.TemporaryDirectory(prefix="ticket-alarm-diag-") as tmp:
        store = SqliteStore.open_file(Path(tmp) / "diag.sqlite3")
        try:
            async with app.build_app(settings, known, store=store) as built:
                # every site at once (the fetcher keeps its per-host spacing and global cap); each
                # site's line is printed as it finishes
                progress = _Progress(names, enabled=not as_json and sys.stderr.isatty())
                if not as_json:
                    _print_header()

                async def check(name: str) -> tuple[SiteResult, SiteResult | None]:
                    result, _crawl = await built.pipeline.crawl_only(name)
                    return result, await built.pipeline.head_only(name)

                tasks = [asyncio.ensure_future(check(name)) for name in names]
                progress.show()
                for finished in asyncio.as_completed(tasks):
                    result, head = await finished
                    results[result.site] = result
                    heads[result.site] = head
                    progress.done(result.site)
                    if not as_json:
                        _print_row(result)
                    progress.show()
                progress.clear()
        finally:
            await store.close()
    ordered = [results[name] for name in names]
    if as_json:
        sites = [{**_result_json(r), "head": _head_json(heads.get(r.site))} for r in ordered]
        doc = {"ok": all(r.ok for r in ordered), "sites": sites}
        print(json.dumps(doc, ensure_ascii=False, indent=2))
    else:
        for name in names:
            print(i18n.t("tc.head", site=name, text=_head_text(heads.get(name))))
    return EXIT_OK if ordered and all(r.ok for r in ordered) else EXIT_FAIL


class _Progress:
    """``checking 2/4 done; waiting for melon, yes24`` on stderr, redrawn in place; on a terminal only."""

    def __init__(self, names: Sequence[str], *, enabled: bool) -> None:
        self.waiting = list(names)
        self.total = len(names)
        self.enabled = enabled

    def done(self, name: str) -> None:
        if name in self.waiting:
            self.waiting.remove(name)

    def show(self) -> None:
        if self.enabled and self.waiting:
            finished = self.total - len(self.waiting)
            progress = i18n.t(
                "tc.progress", finished=finished, total=self.total, waiting=", ".join(self.waiting)
            )
            sys.stderr.write(f"\r\x1b[K{progress}")
            sys.stderr.flush()

    def clear(self) -> None:
        if self.enabled:
            sys.stderr.write("\r\x1b[K")
            sys.stderr.flush()


def _head_json(head: SiteResult | None) -> dict[str, Any] | None:
    """The head poll's first page (registration order); None: the site is swept only."""
    if head is None:
        return None
    return {
        "status": "ok" if head.ok else "failed",
        "http_status": head.status,
        "seconds": round(head.seconds, 3),
        "notices": head.items,
        "error": redact(head.error) if head.error else None,
        "newest": [t.title for t in head.sample],
    }


def _head_text(head: SiteResult | None) -> str:
    if head is None:
        return i18n.t("tc.head.none")
    if not head.ok:
        return i18n.t("tc.head.failed", error=redact(head.error or i18n.t("tc.failed")))
    return i18n.t("tc.head.ok", count=head.items, seconds=head.seconds)


def _parse_file(cls: type[Crawler], path: Path, as_json: bool) -> int:
    try:
        body = path.read_bytes()
    except OSError as exc:
        raise ConfigError(i18n.t("tc.cannot_read", path=path, reason=exc.strerror)) from exc
    result = SiteResult(site=cls.name)
    try:
        tickets = parse_saved(cls, body, str(path))
    except CrawlError as exc:
        result.error, result.hint = exc.reason, exc.hint
    else:
        if isinstance(tickets, Schedule):  # a saved notice page: the schedule it reads
            return _print_schedule(cls.name, path, tickets, as_json)
        valid = [t for t in tickets if not t.problems()]
        result.ok, result.items, result.invalid, result.sample = (
            True,
            len(valid),
            len(tickets) - len(valid),
            valid[:3],
        )
        result.parsed = list(tickets)
    if as_json:
        print(json.dumps({"ok": result.ok, "sites": [_result_json(result)]}, ensure_ascii=False, indent=2))
    else:
        _print_header()
        _print_row(result)
    return EXIT_OK if result.ok else EXIT_FAIL


def _print_schedule(site: str, path: Path, schedule: Schedule, as_json: bool) -> int:
    """A saved notice page: the general open and the presales it reads."""
    if as_json:
        doc = {
            "ok": True,
            "sites": [
                {"site": site, "status": "ok", "file": str(path), "schedule": _schedule_json(schedule)}
            ],
        }
        print(json.dumps(doc, ensure_ascii=False, indent=2))
        return EXIT_OK
    print(i18n.t("tc.notice_page", site=site, name=path.name))
    if schedule.open_at is not None:
        opening = seoul_text(schedule.open_at)
    elif schedule.open_date is not None:
        opening = f"{schedule.open_date.isoformat()} (시간 추후 공지)"
    else:
        opening = "추후 공지"
    print(f"    티켓오픈: {opening}")
    for presale in schedule.presales:
        print(f"    {presale.name}: {seoul_text(presale.at) if presale.at else '추후 공지'}")
    if not schedule.presales:
        print(i18n.t("tc.no_presales"))
    return EXIT_OK


def _schedule_json(schedule: Schedule) -> dict[str, Any]:
    return {
        "open_at": schedule.open_at.isoformat() if schedule.open_at else None,
        "open_date": schedule.open_date.isoformat() if schedule.open_date else None,
        "presales": [p.to_json() for p in schedule.presales],
    }


def _ticket_json(t: Ticket) -> dict[str, Any]:
    return {
        "id": t.id,
        "title": t.title,
        "url": t.url,
        "open_at": t.open_at.isoformat() if t.open_at else None,
        "presales": [p.to_json() for p in t.presales],
        "exclusive": t.exclusive,
        "category": t.category,
        "venue": t.venue,
        "genre": t.genre,
        "booking_url": t.booking_url,
        "image_url": t.image_url,
    }


def _result_json(r: SiteResult) -> dict[str, Any]:
    return {
        "site": r.site,
        "status": "ok" if r.ok else "failed",
        "http_status": r.status,
        "seconds": round(r.seconds, 3),
        "pages": r.pages,
        "notices": r.items,
        "invalid": r.invalid,
        "capped": r.capped,
        "error": redact(r.error) if r.error else None,
        "hint": r.hint,
        "samples": [
            {"title": t.title, "open_at": t.open_at.isoformat() if t.open_at else None, "url": t.url}
            for t in r.sample
        ],
        "warnings": [redact(w) for w in r.warnings],
        "parsed": [_ticket_json(t) for t in r.parsed],
    }


def _print_header() -> None:
    site, status, http, sec, pages, notices, invalid = i18n.t("tc.columns").split("|")
    print(
        f"{pad(site, 12)} {pad(status, 7)} {pad(http, 4, '>')} {pad(sec, 6, '>')} {pad(pages, 5, '>')} "
        f"{pad(notices, 7, '>')} {pad(invalid, 7, '>')}"
    )


def _print_row(r: SiteResult) -> None:
    http = str(r.status) if r.status is not None else "-"
    status = i18n.t("tc.status.ok") if r.ok else i18n.t("tc.status.failed")
    print(
        f"{pad(r.site, 12)} {pad(status, 7)} {http:>4} {r.seconds:>6.2f} {r.pages:>5} {r.items:>7} "
        f"{r.invalid:>7}"
    )
    for t in r.sample:
        when = seoul_text(t.open_at) if t.open_at else "추후 공지"
        presales = "".join(f"; {p.name} {seoul_text(p.at) if p.at else '추후 공지'}" for p in t.presales)
        print(f"    - {cut(t.title, 70)} | {when}{presales}")
    if r.capped:
        print(i18n.t("tc.capped", pages=r.pages))
    for warning in r.warnings[:5]:
        print(f"    ! {redact(warning)}")
    if len(r.warnings) > 5:
        print(i18n.t("tc.more_warnings", count=len(r.warnings) - 5))
    if not r.ok:
        print(f"    ! {redact(r.error or i18n.t('tc.failed'))}")
        if r.hint:
            print(i18n.t("tc.hint", hint=r.hint))
    sys.stdout.flush()
