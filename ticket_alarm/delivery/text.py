"""An alert as plain text, for notifiers without embeds (ntfy, Telegram): a title, lines, a link.

It is the Discord embed read aloud (``render_alert``, then ``plain_text``): the same presale names,
open times (as KST with how far off), change arrows and footer, written once in
``delivery/discord/render.py``. A digest is its own plain lines (``delivery/digest.py``). No markup
of any kind: a notifier that wants HTML escapes these.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from ticket_alarm.delivery.digest import digest_lines
from ticket_alarm.delivery.discord.render import BOOKING, FOOTER, clean, plain_text, render_alert, valid_url
from ticket_alarm.delivery.notify import Alert, Changed, Digest, NewNotice, Reminder

__all__ = ["EmbedText", "alert_lines", "alert_link", "alert_title", "embed_text"]


@dataclass(frozen=True)
class EmbedText:
    """A non-digest alert's embed read back as plain text, for a notifier to mark up its own way:
    the title as the embed has it, the site, the description, the fields as (name, value) without the
    booking field (the link goes apart), the footer without the product's name."""

    title: str
    site: str
    description: str
    fields: list[tuple[str, str]]
    footer: str


def embed_text(alert: Alert, now: datetime) -> EmbedText:
    embed = render_alert(alert)
    fields = [
        (plain_text(str(f.get("name", "")), now), plain_text(str(f.get("value", "")), now))
        for f in embed.get("fields", [])
        if f.get("name") != BOOKING
    ]
    return EmbedText(
        title=str(embed.get("title") or ""),
        site=clean(embed.get("author", {}).get("name", "")),
        description=plain_text(str(embed["description"]), now) if embed.get("description") else "",
        fields=fields,
        footer=str(embed.get("footer", {}).get("text", "")).removeprefix(FOOTER).removeprefix(" · "),
    )


def alert_title(alert: Alert) -> str:
    """``인터파크 티켓 · [단독판매] 아이유 콘서트``: the site, then the embed's title (a digest: its own)."""
    if isinstance(alert, Digest):
        return alert.title
    embed = render_alert(alert)
    title = clean(str(embed.get("title", "")))  # an embed title is plain text already (no markup)
    site = clean(embed.get("author", {}).get("name", ""))
    return f"{site} · {title}" if site else title


def alert_lines(alert: Alert, now: datetime) -> list[str]:
    """The embed's description and fields as ``name: value`` lines, then its footer (no booking
    field: ``alert_link`` carries the link); a digest's lines without its heading (the title says it)."""
    if isinstance(alert, Digest):
        return digest_lines(alert, now, heading=False)
    read = embed_text(alert, now)
    lines = [read.description] if read.description else []
    lines += [f"{name}: {value.replace(chr(10), ' / ')}" for name, value in read.fields]
    if read.footer:
        lines.append(f"({read.footer})")
    return lines


def alert_link(alert: Alert) -> str | None:
    """Where a tap should go: the booking page, else the notice's page (an ops alert: its embed's link)."""
    match alert:
        case NewNotice(ticket=ticket) | Changed(ticket=ticket) | Reminder(ticket=ticket):
            return valid_url(ticket.booking_url) or valid_url(ticket.url)
        case Digest():
            return None  # many notices: each line names its own
    return valid_url(render_alert(alert).get("url"))
