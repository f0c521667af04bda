"""Alerts: what the outbox holds, one small typed value per kind of thing to tell people.

``NewNotice`` (a notice never seen before), ``Changed`` (a confirmed change; ``before`` as it read at
the last alert), ``Reminder`` (``offset_min`` before the open of ``sale``), ``OpsAlert`` (the daemon's
ops message, an embed) and ``LegacyAlert`` (the Discord embed an older version left in the outbox,
rewritten in place by the store's schema step 5); ``Digest`` (many alerts as one message: the ones
quiet hours held, or a route's day/week with the coming week's opens). Each carries the site's display
name and colour so a notifier renders it without knowing any site. ``Alert.from_json`` reads every
payload the outbox holds (``to_json``'s shape, one ``kind`` key naming the class); anything else is
``AlertFormatError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from ticket_alarm import i18n
from ticket_alarm.core.model import Ticket
from ticket_alarm.errors import TicketAlarmError

AlertKind = Literal["new", "change", "reminder", "legacy", "ops", "digest"]
ALERT_KINDS: tuple[AlertKind, ...] = ("new", "change", "reminder", "legacy", "ops", "digest")
DigestKind = Literal["quiet", "day", "week"]
EMBED_KINDS = ("legacy", "ops")  # Alerts that carry their embed: an older version's, an ops state change
ALERT_VERSION = 1  # the ``alert`` key of a payload: Alert-shaped (an old Discord-embed row had none)


class AlertFormatError(TicketAlarmError):
    """An outbox payload is not an Alert (delivery keeps its row as a dead letter)."""


@dataclass(frozen=True, slots=True)
class Alert:
    """What every alert has: the site's display name and colour. Build one of the subclasses."""

    kind: ClassVar[AlertKind]
    site_name: str
    color: int

    @property
    def title(self) -> str:
        ticket = getattr(self, "ticket", None)
        if ticket is not None:
            return str(ticket.title)
        return str((getattr(self, "embed", None) or {}).get("title", ""))

    @property
    def changes(self) -> list[str]:
        """A change alert's changed fields (``Ticket.changes_from``); empty for any other kind."""
        return []

    def to_json(self) -> dict[str, Any]:
        """The outbox payload (every kind has every key). ``title`` is kept at the top, as the outbox
        listing reads it."""
        ticket: Ticket | None = getattr(self, "ticket", None)
        before: Ticket | None = getattr(self, "before", None)
        sale: str = getattr(self, "sale", "")
        return {
            "alert": ALERT_VERSION,
            "kind": self.kind,
            "title": self.title,
            "site_name": self.site_name,
            "color": self.color,
            "ticket": ticket.to_json() if ticket else None,
            "before": before.to_json() if before else None,
            "offset_min": getattr(self, "offset_min", None),
            "embed": getattr(self, "embed", None),
            **({"sale": sale} if sale else {}),
        }

    @staticmethod
    def from_json(data: dict[str, Any]) -> AnyAlert:
        """An Alert from an outbox payload (``to_json``'s shape); ``AlertFormatError`` for anything else."""
        if not isinstance(data, dict):
            raise AlertFormatError(i18n.t("alert.not_object", kind=type(data).__name__))
        if "alert" not in data:
            raise AlertFormatError(i18n.t("alert.no_key"))
        if data.get("alert") != ALERT_VERSION:
            raise AlertFormatError(i18n.t("alert.version", version=data.get("alert"), expected=ALERT_VERSION))
        try:
            return _read(data)
        except (KeyError, TypeError, ValueError) as exc:
            raise AlertFormatError(i18n.t("alert.unreadable", error=f"{type(exc).__name__}: {exc}")) from exc


@dataclass(frozen=True, slots=True)
class NewNotice(Alert):
    """A notice never seen before."""

    kind: ClassVar[AlertKind] = "new"
    ticket: Ticket


@dataclass(frozen=True, slots=True)
class Changed(Alert):
    """A confirmed change: ``ticket`` as it reads now, ``before`` as it read at the last alert."""

    kind: ClassVar[AlertKind] = "change"
    ticket: Ticket
    before: Ticket

    @property
    def changes(self) -> list[str]:
        return self.ticket.changes_from(self.before)


@dataclass(frozen=True, slots=True)
class Reminder(Alert):
    """``offset_min`` minutes before the open of ``sale`` ("" the general sale; ``sale_names``)."""

    kind: ClassVar[AlertKind] = "reminder"
    ticket: Ticket
    offset_min: int
    sale: str = ""

    def __post_init__(self) -> None:
        if self.offset_min < 0:
            raise AlertFormatError(i18n.t("alert.needs_offset"))


@dataclass(frozen=True, slots=True)
class OpsAlert(Alert):
    """The daemon's ops message (``daemon.watch``), as the embed it posts."""

    kind: ClassVar[AlertKind] = "ops"
    embed: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LegacyAlert(Alert):
    """The embed an older version rendered, posted as it is."""

    kind: ClassVar[AlertKind] = "legacy"
    embed: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Digest(Alert):
    """Many alerts as one message: ``period`` "quiet" (what a quiet window held), "day" or "week" (a
    route's digest); ``items`` the period's alerts, ``upcoming`` the notices opening in the next 7 days,
    ``at`` the digest's time (a timestamp)."""

    kind: ClassVar[AlertKind] = "digest"
    period: DigestKind
    at: float
    items: tuple[NewNotice | Changed | Reminder, ...] = ()
    upcoming: tuple[Ticket, ...] = ()

    @property
    def title(self) -> str:
        return {"quiet": "조용한 시간 동안 온 알림", "day": "오늘의 티켓 오픈", "week": "이번 주 티켓 오픈"}[
            self.period
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            **Alert.to_json(self),
            "period": self.period,
            "at": self.at,
            "items": [item.to_json() for item in self.items],
            "upcoming": [ticket.to_json() for ticket in self.upcoming],
        }


AnyAlert = NewNotice | Changed | Reminder | OpsAlert | LegacyAlert | Digest


def _read(data: dict[str, Any]) -> AnyAlert:
    kind = data["kind"]
    name, color = str(data.get("site_name") or ""), int(data.get("color") or 0)
    if kind not in ALERT_KINDS:
        raise AlertFormatError(i18n.t("alert.unknown_kind", kind=kind))
    if kind == "digest":
        items = tuple(_read(item) for item in data["items"])
        if any(not isinstance(item, NewNotice | Changed | Reminder) for item in items):
            raise AlertFormatError(i18n.t("alert.unknown_kind", kind="digest item"))
        upcoming = tuple(Ticket.from_json(t) for t in data["upcoming"])
        period = data["period"]
        if period not in ("quiet", "day", "week"):
            raise AlertFormatError(i18n.t("alert.unknown_kind", kind=f"digest {period}"))
        return Digest(name, color, period, float(data["at"]), items, upcoming)  # type: ignore[arg-type]
    if kind in EMBED_KINDS:
        embed = data.get("embed")
        if not isinstance(embed, dict):
            raise AlertFormatError(i18n.t("alert.legacy_embed"))
        return OpsAlert(name, color, embed) if kind == "ops" else LegacyAlert(name, color, embed)
    if not data.get("ticket"):
        raise AlertFormatError(i18n.t("alert.needs_ticket", kind=kind))
    ticket = Ticket.from_json(data["ticket"])
    if kind == "change":
        if not data.get("before"):
            raise AlertFormatError(i18n.t("alert.needs_before"))
        return Changed(name, color, ticket, Ticket.from_json(data["before"]))
    if kind == "reminder":
        offset = data.get("offset_min")
        if offset is None:
            raise AlertFormatError(i18n.t("alert.needs_offset"))
        return Reminder(name, color, ticket, int(offset), str(data.get("sale") or ""))
    return NewNotice(name, color, ticket)
