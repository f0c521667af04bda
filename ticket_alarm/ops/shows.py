"""Shows for the operator (issue 23): ``history show KEY``, ``show merge KEY KEY``, ``show split KEY``
and the show part of ``explain``. A KEY is ``SITE:ID`` (``interpark:12050``); a show is named by the
KEY of its first notice. Corrections are stored as manual links, which no later crawl redoes (only
a notice first seen is ever linked by a crawl)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ticket_alarm.core.model import Ticket, identity_key
from ticket_alarm.core.rows import ShowLink
from ticket_alarm.core.shows import same_show, show_title
from ticket_alarm.errors import ConfigError
from ticket_alarm.i18n import t
from ticket_alarm.i18n.table import pad
from ticket_alarm.ops.explain import open_text
from ticket_alarm.store.api import NoticeRow, Store


@dataclass(frozen=True, slots=True)
class Show:
    """A show as stored: its key and its notices, first seen first (a notice never linked: alone)."""

    key: str
    notices: list[NoticeRow]
    links: dict[str, ShowLink]


def parse_key(text: str) -> tuple[str, str]:
    """``SITE:ID`` → (site, id); anything else is a usage error (exit 2)."""
    site, sep, notice_id = text.partition(":")
    if not (sep and site and notice_id):
        raise ConfigError(t("show.bad_key", key=text))
    return site, notice_id


def name_of(row: NoticeRow) -> str:
    return f"{row.site}:{row.notice_id}"


async def show_of(store: Store, key: str) -> Show | None:
    """The show of the notice ``key`` (a history key), or None when the history never saw it."""
    row = await store.notice(key)
    if row is None:
        return None
    link = (await store.show_links([key])).get(key)
    show_key = link.show_key if link else key
    members = await store.show_notices(show_key) if link else []
    notices = [m.notice for m in members] or [row]
    return Show(show_key, notices, {m.link.notice_key: m.link for m in members})


async def show_doc(store: Store, site: str, notice_id: str) -> dict[str, Any] | None:
    """``history show``: the show of one notice and every notice in it."""
    show = await show_of(store, identity_key(site, notice_id))
    if show is None:
        return None
    first = await store.notice(show.key)
    return {
        "show": name_of(first) if first else name_of(show.notices[0]),
        "title": (first or show.notices[0]).title,
        "notices": [_notice(row) for row in show.notices],
    }


def _notice(row: NoticeRow) -> dict[str, Any]:
    ticket = row.ticket
    return {
        "site": row.site,
        "id": row.notice_id,
        "title": row.title,
        "open": open_text(ticket),
        "link": ticket.get("booking_url") or ticket.get("url") or "",
    }


def show_text(doc: dict[str, Any]) -> str:
    lines = [t("show.text.head", show=doc["show"], title=doc["title"], count=len(doc["notices"]))]
    for n in doc["notices"]:
        lines.append(f"  {pad(n['site'], 10)} {pad(n['id'], 10)} {pad(n['open'], 20)} {n['title']}")
        lines.append(f"  {'':10} {'':10} {n['link']}")
    return "\n".join(lines)


def _relink(row: NoticeRow, show: Show | None, show_key: str, apart_from: str | None = None) -> ShowLink:
    link = show.links.get(row.key) if show else None
    title = link.title_key if link else show_title(row.title)
    return ShowLink(row.key, show_key, title, manual=True, apart_from=apart_from)


async def merge(store: Store, into: str, other: str, now: float) -> int | None:
    """Put the notices of ``other``'s show into ``into``'s show (history keys); how many moved
    (0: already one show), None when either notice was never seen."""
    target, source = await show_of(store, into), await show_of(store, other)
    if target is None or source is None:
        return None
    if target.key == source.key:
        return 0
    links = [_relink(row, source, target.key) for row in source.notices]
    if into not in target.links:  # a notice never linked (older than shows): it heads its show now
        links.append(_relink(target.notices[0], target, target.key))
    await store.save_show_links(links, now)
    return len(source.notices)


async def split(store: Store, key: str, now: float) -> str | None:
    """Take the notice ``key`` out of its show, for good (``apart_from``); the key of the show it
    left ("" when it was alone already), None when it was never seen."""
    show = await show_of(store, key)
    if show is None:
        return None
    rest = [row for row in show.notices if row.key != key]
    if not rest:
        return ""
    row = next(r for r in show.notices if r.key == key)
    left = show.key if show.key != key else rest[0].key  # the first notice left: the next one heads it
    links = [_relink(row, show, key, apart_from=left)]
    if show.key == key:
        links += [_relink(r, show, left) for r in rest]
    await store.save_show_links(links, now)
    first = await store.notice(left)
    return name_of(first) if first else left


async def explain_show(store: Store, key: str) -> dict[str, Any] | None:
    """``explain``'s show part: the show, and for each notice of another site with the same folded
    title or in the same show, whether it is in this show and why (``same_show``'s reason)."""
    show = await show_of(store, key)
    if show is None:
        return None
    row = next(r for r in show.notices if r.key == key)
    ticket, own = Ticket.from_json(row.ticket), show.links.get(key)
    others = {r.key: (r, show.key) for r in show.notices if r.key != key}
    title = show_title(row.title)
    for candidate in await store.show_candidates(title, 0.0) if title else []:
        if candidate.notice.key != key:
            others.setdefault(candidate.notice.key, (candidate.notice, candidate.link.show_key))
    first = await store.notice(show.key)
    why = []
    for other, other_show in others.values():
        merged = other_show == show.key
        if merged:  # in one show by hand: a merge moved one of the two
            link = show.links.get(other.key)
            manual = any(x is not None and x.manual and not x.apart_from for x in (link, own))
        else:  # apart by hand: a split took this notice out of the other's show
            manual = own is not None and own.apart_from == other_show
        reason = same_show(ticket, Ticket.from_json(other.ticket))[1]
        why.append(
            {
                "notice": name_of(other),
                "title": other.title,
                "merged": merged,
                "reason": t("show.why.manual", reason=reason) if manual else reason,
            }
        )
    return {"show": name_of(first) if first else name_of(row), "notices": len(show.notices), "why": why}


def explain_lines(part: dict[str, Any]) -> list[str]:
    lines = [t("show.text.explain", show=part["show"], count=part["notices"])]
    for w in part["why"]:
        verdict = t("show.text.merged") if w["merged"] else t("show.text.apart")
        lines.append(f"  {pad(w['notice'], 20)} {pad(verdict, 8)} {w['reason']}")
    return lines
