"""Discord rendering: turn ``Alert``s into embeds that respect every documented limit.

Discord knows no site: it renders the alerts it is given with the site's display name and colour
they carry.
Limits (https://discord.com/developers/docs/resources/message#embed-object-embed-limits): title 256,
description 4096, 25 fields, field name 256 / value 1024, footer 2048, author 256, 6000 characters
over all embeds of a message, 10 embeds a message, content 2000.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

from ticket_alarm.core.model import SEOUL, Ticket
from ticket_alarm.delivery.digest import CHANGE_LABELS, digest_lines
from ticket_alarm.delivery.notify import Alert, Changed, Digest, LegacyAlert, NewNotice, OpsAlert, Reminder

MAX_EMBEDS = 10
MAX_TOTAL = 6000
MAX_TITLE = 256
MAX_DESCRIPTION = 4096
MAX_FIELDS = 25
MAX_FIELD_NAME = 256
MAX_FIELD_VALUE = 1024
MAX_FOOTER = 2048
MAX_AUTHOR = 256
MAX_CONTENT = 2000
MAX_URL = 2048
ELLIPSIS = "…"
TBA = "추후 공지"

# control characters, bidi marks/overrides, and lone surrogates (a site cutting a title inside a UTF-16
# pair sends "\\ud83c"; such a string cannot be encoded as UTF-8 JSON at all)
_INVISIBLE = re.compile(
    "[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]"
)
_MARKDOWN = re.compile(r"([\\*_~`|>\[\]()#-])")


def clean(text: str | None) -> str:
    """Drop control characters and bidi overrides that would garble or spoof an embed."""
    return _INVISIBLE.sub("", text or "").strip()


def escape_markdown(text: str) -> str:
    return _MARKDOWN.sub(r"\\\1", text)


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + ELLIPSIS


def valid_url(url: str | None) -> str | None:
    """The URL when Discord will accept it in an embed (absolute http/https, ≤ 2048 chars)."""
    if not url or len(url) > MAX_URL or any(ch.isspace() for ch in url):
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc or "." not in (parts.hostname or ""):
        return None
    return url


def discord_time(at: datetime) -> str:
    unix = int(at.timestamp())
    return f"<t:{unix}:F> (<t:{unix}:R>)"


def open_time_text(ticket: Ticket) -> str:
    if ticket.open_at is not None:
        return discord_time(ticket.open_at)
    if ticket.open_date is not None:
        return f"{ticket.open_date.isoformat()} (시간 {TBA})"
    return TBA


def _presales_text(ticket: Ticket) -> str:
    """Every presale on its own line, by its own name (the change embed's before/after)."""
    lines = []
    for presale in ticket.presales:
        when = discord_time(presale.at) if presale.at else TBA
        lines.append(f"{escape_markdown(clean(presale.name)) or PRESALE}: {when}")
    return "\n".join(lines)


_EMPHASIS = re.compile(r"([\\*_~`|])")


def _presale_name(name: str) -> str:
    """A presale's own name as a field name: emphasis characters escaped, brackets kept as they read."""
    return _EMPHASIS.sub(r"\\\1", clean(name)) or PRESALE


PRESALE = "선예매"
GENERAL_SALE = "일반 예매"  # the open time's field when presales come before it
OPEN = "티켓 오픈"  # the open time's field otherwise
# every alert's footer, whatever the site: ticket-alarm · when the site posted it · what kind of alert
FOOTER = "ticket-alarm"
NEW_LABEL = "새 공지"
BOOKING = "예매"  # the booking link's field (plain text leaves it out: the link goes apart)
CHANGE_LABEL = "변경 알림"
JOINED_LABEL = "판매처 추가"  # a later vendor's notice of a show already posted
MAX_PRESALE_FIELDS = 6  # more presales than this share one last field, so the open time always fits


def _sale_fields(ticket: Ticket) -> list[dict[str, Any]]:
    """Presales first, each a field named by the presale itself, then the general open."""
    fields: list[dict[str, Any]] = []
    presales = list(ticket.presales)
    own = presales if len(presales) <= MAX_PRESALE_FIELDS else presales[: MAX_PRESALE_FIELDS - 1]
    for presale in own:
        when = discord_time(presale.at) if presale.at else TBA
        fields.append({"name": _presale_name(presale.name), "value": when, "inline": False})
    rest = presales[len(own) :]
    if rest:
        value = "\n".join(
            f"{escape_markdown(clean(p.name)) or PRESALE}: {discord_time(p.at) if p.at else TBA}"
            for p in rest
        )
        fields.append({"name": f"그 밖의 {PRESALE} {len(rest)}건", "value": value, "inline": False})
    fields.append({"name": _open_name(ticket), "value": open_time_text(ticket), "inline": False})
    return fields


def _open_name(ticket: Ticket) -> str:
    """The open time's field name: 일반 예매 beside presales, 티켓 오픈 alone (the same in every embed)."""
    return GENERAL_SALE if ticket.presales else OPEN


def _title(ticket: Ticket, prefix: str = "") -> str:
    badges = ""
    if ticket.category == "change":
        badges += "[변경/취소] "
    if ticket.exclusive:
        badges += "[단독판매] "
    return f"{prefix}{badges}{clean(ticket.title)}"


def render_notice(ticket: Ticket, site_name: str, color: int) -> dict[str, Any]:
    """The embed for a newly seen notice: presales, the open, venue, genre, booking link.

    단독판매 is the title's badge only; the site's name is the author line only; the footer holds
    when the site posted the notice (where the site says)."""
    fields = _sale_fields(ticket)
    if ticket.venue:
        fields.append({"name": "장소", "value": escape_markdown(clean(ticket.venue)), "inline": True})
    if ticket.genre:
        fields.append({"name": "장르", "value": escape_markdown(clean(ticket.genre)), "inline": True})
    fields += _booking_field(ticket)
    return _embed(ticket, _title(ticket), site_name, color, fields, footer_suffix=NEW_LABEL)


def render_joined(ticket: Ticket, site_name: str, color: int) -> dict[str, Any]:
    """The short reply a later vendor's notice posts in its show's forum thread (issue 23): the vendor,
    its own sales and its booking link (the show's message, edited, carries the whole notice)."""
    fields = [*_sale_fields(ticket), *_booking_field(ticket)]
    title = _title(ticket, f"[{JOINED_LABEL}] ")
    return _embed(ticket, title, site_name, color, fields, footer_suffix=JOINED_LABEL, thumbnail=False)


def _booking_field(ticket: Ticket) -> list[dict[str, Any]]:
    booking = valid_url(ticket.booking_url)
    return [{"name": BOOKING, "value": f"[예매 페이지]({booking})", "inline": True}] if booking else []


_POSTED = re.compile(r"(\d{4})[-./](\d{1,2})[-./](\d{1,2})(?:[ T]+(\d{1,2}):(\d{2}))?")


def posted_text(ticket: Ticket) -> str:
    """When the site posted the notice (``extra["posted"]``), as ``게시 2027-11-24 18:00``; '' if unknown."""
    raw = clean(ticket.extra.get("posted"))
    match = _POSTED.search(raw)
    if not match:
        return f"게시 {raw}"[:80] if raw else ""
    day = f"{match[1]}-{int(match[2]):02d}-{int(match[3]):02d}"
    return f"게시 {day} {int(match[4]):02d}:{match[5]}" if match[4] else f"게시 {day}"


def _embed(
    ticket: Ticket,
    title: str,
    site_name: str,
    color: int,
    fields: list[dict[str, Any]],
    *,
    description: str | None = None,
    footer_suffix: str = "",
    thumbnail: bool = True,
) -> dict[str, Any]:
    """The frame every alert shares: title linking to the notice, site name and colour, footer, poster."""
    embed: dict[str, Any] = {
        "title": title,
        "color": color,
        "author": {"name": site_name},
        "fields": fields,
    }
    embed["footer"] = {"text": " · ".join(p for p in (FOOTER, posted_text(ticket), footer_suffix) if p)}
    if description:
        embed["description"] = description
    url = valid_url(ticket.url)
    if url:
        embed["url"] = url
    image = valid_url(ticket.image_url) if thumbnail else None
    if image:
        embed["thumbnail"] = {"url": image}
    return fit_embed(embed)


def describe_field(ticket: Ticket, name: str) -> str:
    if name == "open_at":
        return open_time_text(ticket)
    if name == "presales":
        return _presales_text(ticket) or "없음"
    if name == "category":
        return "변경/취소" if ticket.category == "change" else "티켓 오픈"
    value = getattr(ticket, name)
    return escape_markdown(clean(str(value))) if value else "없음"


def render_change(before: Ticket, after: Ticket, site_name: str, color: int) -> dict[str, Any]:
    """The "[변경]" embed: before → after for each field that matters, each field under the name it
    has in the notice's own embed (일반 예매 beside presales, not "티켓 오픈 변경")."""
    fields = []
    changes = after.changes_from(before)
    for name in changes or ["title"]:
        fields.append(
            {
                "name": _open_name(after) if name == "open_at" else CHANGE_LABELS[name],
                "value": f"{describe_field(before, name)}\n→ {describe_field(after, name)}",
                "inline": False,
            }
        )
    if "open_at" not in changes:
        fields.append({"name": _open_name(after), "value": open_time_text(after), "inline": False})
    return _embed(
        after, _title(after, prefix="[변경] "), site_name, color, fields, footer_suffix=CHANGE_LABEL
    )


def render_reminder(
    ticket: Ticket, site_name: str, color: int, minutes: int, sale: str = ""
) -> dict[str, Any]:
    """The "곧 티켓 오픈" embed sent ``minutes`` before the open of ``sale`` (the general sale when
    ""; presales by name, sales sharing the time named together: "팬클럽 선예매 10분 전입니다")."""
    lead = f"{minutes // 60}시간" if minutes % 60 == 0 and minutes >= 60 else f"{minutes}분"
    names = sale.split(" · ") if sale else [""]
    what = truncate(" · ".join(clean(n) or "티켓 오픈" for n in names), 200)
    presale = next((p.at for p in ticket.presales if p.name == names[0]), None)
    at = ticket.open_at if names[0] == "" else presale
    unix = int(at.timestamp()) if at else None
    fields = _sale_fields(ticket) + _booking_field(ticket)
    return _embed(
        ticket,
        _title(ticket, prefix="[곧 티켓 오픈] "),
        site_name,
        color,
        fields,
        # the lead is said once; the stamp gives the clock time (<t:…:R> would say "10분 후" again)
        description=f"{escape_markdown(what)} {lead} 전입니다" + (f" (<t:{unix}:t>)." if unix else "."),
        footer_suffix=f"{what} {lead} 전 알림" if sale else f"{lead} 전 알림",
        thumbnail=False,
    )


def render_test(now: datetime) -> dict[str, Any]:
    return {
        "title": "ticket-alarm 테스트 알림",
        "description": "이 채널로 티켓 오픈 알림이 전송됩니다.",
        "color": 0x5865F2,
        "fields": [{"name": "보낸 시각", "value": discord_time(now), "inline": False}],
        "footer": {"text": "ticket-alarm send-test"},
    }


def embed_size(embed: dict[str, Any]) -> int:
    total = len(embed.get("title", "")) + len(embed.get("description", ""))
    total += len(embed.get("footer", {}).get("text", "")) + len(embed.get("author", {}).get("name", ""))
    for f in embed.get("fields", []):
        total += len(f.get("name", "")) + len(f.get("value", ""))
    return total


def fit_embed(embed: dict[str, Any]) -> dict[str, Any]:
    """Enforce every per-embed limit (truncating with …); the result is always ≤ 6000 characters."""
    out = dict(embed)
    out["title"] = truncate(clean(out.get("title", "")) or "(제목 없음)", MAX_TITLE)
    if "description" in out:
        out["description"] = truncate(out["description"], MAX_DESCRIPTION)
    if "author" in out:
        out["author"] = {"name": truncate(clean(out["author"].get("name", "")), MAX_AUTHOR)}
    if "footer" in out:
        out["footer"] = {"text": truncate(clean(out["footer"].get("text", "")), MAX_FOOTER)}
    fields = []
    for f in out.get("fields", [])[:MAX_FIELDS]:
        name = truncate(f.get("name") or "-", MAX_FIELD_NAME)
        value = truncate(f.get("value") or "-", MAX_FIELD_VALUE)
        fields.append({"name": name, "value": value, "inline": bool(f.get("inline", False))})
    out["fields"] = fields
    for key in ("url",):
        if key in out and not valid_url(out[key]):
            del out[key]
    for key in ("thumbnail", "image"):
        if key in out and not valid_url(out[key].get("url")):
            del out[key]
    while embed_size(out) > MAX_TOTAL and out["fields"]:
        out["fields"].pop()
    if embed_size(out) > MAX_TOTAL and "description" in out:
        out["description"] = truncate(
            out["description"], max(1, MAX_TOTAL - embed_size(out) + len(out["description"]))
        )
    return out


def batch_size(embeds: Sequence[dict[str, Any]]) -> int:
    """How many of ``embeds`` (from the front) fit in one message: ≤ 10 and ≤ 6000 characters."""
    total = 0
    count = 0
    for embed in embeds[:MAX_EMBEDS]:
        size = embed_size(embed)
        if count and total + size > MAX_TOTAL:
            break
        total += size
        count += 1
    return count


def message(embeds: Iterable[dict[str, Any]], *, role_ids: Sequence[str] = ()) -> dict[str, Any]:
    """A webhook payload. Only the given roles may be pinged; scraped text can never ping anyone."""
    payload: dict[str, Any] = {"embeds": list(embeds), "allowed_mentions": {"parse": []}}
    if role_ids:
        payload["content"] = truncate(" ".join(f"<@&{r}>" for r in role_ids), MAX_CONTENT)
        payload["allowed_mentions"]["roles"] = list(role_ids)
    return payload


# --- the same alert as plain text (dry run, send-test without a webhook) -------------------------

_WEEKDAYS = "월화수목금토일"
_STAMP_PAIR = re.compile(r"<t:(-?\d+):[tTdDfF]> \(<t:\1:R>\)")
_STAMP = re.compile(r"<t:(-?\d+):([tTdDfFR])>")
_LINK = re.compile(r"\[((?:\\.|[^\]\\])*)\]\((https?://[^)\s]+)\)")
_ESCAPED = re.compile(r"\\([\\*_~`|>\[\]()#-])")


def kst_text(at: datetime) -> str:
    """``2026-12-03 (목) 20:00 KST``: how every output but Discord's own markup shows a time."""
    local = at.astimezone(SEOUL)
    return f"{local:%Y-%m-%d} ({_WEEKDAYS[local.weekday()]}) {local:%H:%M} KST"


def relative_text(at: datetime, now: datetime) -> str:
    """``3일 후``, ``2시간 후``, ``5분 전``, ``지금`` — what Discord's ``<t:…:R>`` shows, in Korean."""
    seconds = (at - now).total_seconds()
    size = abs(seconds)
    if size < 60:
        return "지금"
    for unit, name in ((86400, "일"), (3600, "시간"), (60, "분")):
        if size >= unit:
            amount = int(size // unit)
            return f"{amount}{name} {'후' if seconds > 0 else '전'}"
    return "지금"  # pragma: no cover - the loop always returns for size ≥ 60


def plain_text(text: str, now: datetime) -> str:
    """Discord markup out: timestamps as KST times (with how far off), links as ``label url``, no escapes."""

    def at(unix: str) -> datetime:
        return datetime.fromtimestamp(int(unix), UTC)

    text = _STAMP_PAIR.sub(lambda m: f"{kst_text(at(m[1]))} ({relative_text(at(m[1]), now)})", text)
    text = _STAMP.sub(
        lambda m: relative_text(at(m[1]), now) if m[2] == "R" else kst_text(at(m[1])),
        text,
    )
    text = _LINK.sub(lambda m: f"{m[1]} {m[2]}", text)
    return _ESCAPED.sub(r"\1", text)


def embed_text(embed: dict[str, Any], now: datetime, *, tag: str = "[DRY RUN]") -> str:
    """One alert as readable lines: site | title, each field, the link, the footer."""
    author = clean(embed.get("author", {}).get("name", ""))
    title = plain_text(str(embed.get("title", "")), now)
    lines = [f"{tag} {author} | {title}" if author else f"{tag} {title}"]
    if embed.get("description"):
        lines.append(f"    {plain_text(str(embed['description']), now)}")
    for f in embed.get("fields", []):
        value = plain_text(str(f.get("value", "")), now).replace("\n", " / ")
        lines.append(f"    {plain_text(str(f.get('name', '')), now)}: {value}")
    if embed.get("url"):
        lines.append(f"    링크: {embed['url']}")
    # the footer's own name is for Discord, where alerts of other bots sit beside ours
    footer = embed.get("footer", {}).get("text", "").removeprefix(FOOTER).removeprefix(" · ")
    if footer:
        lines.append(f"    ({footer})")
    return "\n".join(lines) + "\n"


def render_digest(digest: Digest) -> dict[str, Any]:
    """A digest as one embed: its lines as the description (scraped text escaped, titles linked)."""
    now = datetime.fromtimestamp(digest.at, UTC)
    lines = digest_lines(digest, now, esc=lambda s: escape_markdown(clean(s)), link=_md_link, heading=False)
    embed = {"title": digest.title, "description": "\n".join(lines).strip() or "-", "color": digest.color}
    return fit_embed({**embed, "footer": {"text": FOOTER}})


def _md_link(text: str, url: str) -> str:
    """``[text](url)``; a parenthesis in the URL encoded, so a scraped address cannot end the link."""
    return f"[{text}]({url.replace('(', '%28').replace(')', '%29')})" if valid_url(url) else text


def render_alert(alert: Alert) -> dict[str, Any]:
    """The embed of one Alert (a legacy one's: the embed an older version rendered, as it is)."""
    match alert:
        case Digest():
            return render_digest(alert)
        case LegacyAlert(embed=embed) | OpsAlert(embed=embed):
            return dict(embed)
        case Changed():
            return render_change(alert.before, alert.ticket, alert.site_name, alert.color)
        case Reminder():
            return render_reminder(alert.ticket, alert.site_name, alert.color, alert.offset_min, alert.sale)
        case NewNotice():
            return render_notice(alert.ticket, alert.site_name, alert.color)
    raise TypeError(f"not an alert: {alert!r}")


def alert_text(alert: Alert, now: datetime) -> str:
    """One Alert as the readable lines the dry run prints (the embed Discord would show, as text)."""
    return embed_text(render_alert(alert), now)
