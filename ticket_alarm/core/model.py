"""The ``Ticket`` every crawler produces, and the hashes the history is keyed on."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass, field, replace
from datetime import date, datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

SEOUL = ZoneInfo("Asia/Seoul")

Category = Literal["open", "change"]

# zero-width characters, and the bidi marks, embeddings, overrides and isolates (U+202E turns the rest of
# a title around on the status page, in Discord and in a terminal): every scraped string loses them here
_BIDI = "\u200e\u200f\u061c\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_ZERO_WIDTH = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad" + _BIDI), None)
# control characters (Cc) and line/paragraph separators become spaces; runs of space collapse
_BLANKS = re.compile("[\\s\x00-\x1f\x7f-\x9f\u2028\u2029]+")
# a lone UTF-16 surrogate (a site cut a title inside an emoji's pair and sent "\\ud83c"): no UTF-8
# encoding exists for it, so it would break the digest, the store and the Discord request
_SURROGATES = re.compile("[\ud800-\udfff]")


def clean_text(text: str | None) -> str:
    """Strip zero-width characters, bidi controls and control characters, collapse whitespace."""
    if not text:
        return ""
    return _BLANKS.sub(" ", _SURROGATES.sub("", text.translate(_ZERO_WIDTH))).strip()


def seoul(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    """An aware Asia/Seoul datetime (all four sites print Korean wall-clock time)."""
    return datetime(year, month, day, hour, minute, second, tzinfo=SEOUL)


@dataclass(frozen=True, slots=True)
class Presale:
    name: str
    at: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "at": self.at.isoformat() if self.at else None}


# what a second page adds to a list row (the open time and the presales): the parts an incomplete read
# lacks when its crawler does not say
ENRICHED: tuple[str, ...] = ("open_at", "presales")


@dataclass(frozen=True, slots=True)
class Incomplete:
    """A notice read in part this cycle (e.g. Melon's notice page failed, so the open schedule is
    missing): ``why`` (for the log) and the ``parts`` it lacks (``CHANGE_FIELDS`` names; empty: the
    open time and the presales). For a known notice the decision takes those parts from history and
    compares the rest: the gap is no change, what was read is."""

    why: str
    parts: tuple[str, ...] = ()

    @property
    def unread(self) -> tuple[str, ...]:
        return self.parts or ENRICHED


@dataclass(frozen=True, slots=True)
class Ticket:
    """One notice as a site lists it. Identity is ``(site, id)``."""

    site: str
    id: str
    title: str
    url: str
    open_at: datetime | None = None
    category: Category = "open"
    exclusive: bool = False
    presales: tuple[Presale, ...] = ()
    venue: str = ""
    genre: str = ""
    image_url: str = ""
    booking_url: str = ""
    views: int | None = None
    # The open *date* when the site gives a day but says the time is not announced yet.
    open_date: date | None = None
    extra: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    # set by the crawler for a notice it could read only in part this cycle; never stored (history
    # keeps a whole notice)
    incomplete: Incomplete | None = field(default=None, compare=False, hash=False)

    @property
    def key(self) -> str:
        return identity_key(self.site, self.id)

    @property
    def digest(self) -> str:
        return content_digest(self)

    def problems(self) -> list[str]:
        """Why this ticket must not be sent half-empty; empty when it is valid."""
        out: list[str] = []
        if not self.site:
            out.append("no site")
        if not self.id or not self.id.strip():
            out.append("no id")
        if not self.title:
            out.append("no title")
        if not self.url.startswith(("https://", "http://")):
            out.append(f"url is not http(s): {self.url[:80]!r}")
        if self.open_at is not None and self.open_at.utcoffset() is None:
            out.append("open_at has no timezone")
        if self.category not in ("open", "change"):
            out.append(f"unknown category {self.category!r}")
        texts: tuple[str, ...] = (
            self.id,
            self.title,
            self.url,
            self.venue,
            self.genre,
            self.image_url,
            self.booking_url,
        )
        texts += tuple(p.name for p in self.presales)
        if any(isinstance(t, str) and _SURROGATES.search(t) for t in texts):
            out.append("text with a broken character (lone UTF-16 surrogate); clean it with clean_text")
        return out

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        del data["incomplete"]
        data["open_at"] = self.open_at.isoformat() if self.open_at else None
        data["open_date"] = self.open_date.isoformat() if self.open_date else None
        data["presales"] = [p.to_json() for p in self.presales]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Ticket:
        data = dict(data)
        data["open_at"] = datetime.fromisoformat(data["open_at"]) if data.get("open_at") else None
        data["open_date"] = date.fromisoformat(data["open_date"]) if data.get("open_date") else None
        data["presales"] = tuple(
            Presale(p["name"], datetime.fromisoformat(p["at"]) if p.get("at") else None)
            for p in data.get("presales") or ()
        )
        data["extra"] = dict(data.get("extra") or {})
        return cls(**data)

    def with_(self, **changes: Any) -> Ticket:
        return replace(self, **changes)

    def changes_from(self, before: Ticket) -> list[str]:
        """The fields (names of ``CHANGE_FIELDS``, in its order) in which this notice differs from
        ``before``; empty when nothing worth an alert changed. The one definition of a change: the
        digest hashes the same content, so equal digests always mean no change."""
        old, new = _content(before), _content(self)
        return [name for name, parts in CHANGE_FIELDS.items() if any(old[p] != new[p] for p in parts)]


def identity_key(site: str, notice_id: str) -> str:
    return hashlib.sha256(f"{site}:{notice_id}".encode()).hexdigest()


# What counts as a change, field by field: the name a change alert shows → the parts of the notice's
# content it covers (a day-only open and a full open time are one "open" to a reader). Views, poster,
# booking link and list order are not content: their change is never worth telling anyone.
CHANGE_FIELDS: dict[str, tuple[str, ...]] = {
    "title": ("title",),
    "open_at": ("open_at", "open_date"),
    "presales": ("presales",),
    "venue": ("venue",),
    "category": ("category",),
}


def _content(ticket: Ticket) -> dict[str, Any]:
    """The notice's content as the digest hashes it and ``changes_from`` compares it."""
    return {
        "title": ticket.title,
        "open_at": ticket.open_at.isoformat() if ticket.open_at else None,
        "open_date": ticket.open_date.isoformat() if ticket.open_date else None,
        "presales": sorted(
            ((p.name, p.at.isoformat() if p.at else "") for p in ticket.presales),
        ),
        "venue": ticket.venue,
        "category": ticket.category,
    }


def content_digest(ticket: Ticket) -> str:
    payload = json.dumps(_content(ticket), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()


def seoul_text(at: datetime) -> str:
    """``2026-12-03 20:00 KST``: a time as logs and command output show it."""
    return at.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M KST")
