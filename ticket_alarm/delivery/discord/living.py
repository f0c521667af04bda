"""The living alert: a posted message edited in place (issue 23).

An edit re-renders the whole message, each alert it carries as it is now. A ``Changed`` alert shows
the notice's own embed at its current state, each changed field's replaced value struck through
(``~~20:00~~ → 21:00``) and when it changed; any other alert renders as it was posted. Once every sale
of a notice has passed, its embed says so (``오픈됨 · 12/24 20:00``).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from ticket_alarm.core.model import SEOUL, Ticket
from ticket_alarm.delivery.digest import CHANGE_LABELS
from ticket_alarm.delivery.discord.render import describe_field, fit_embed, render_alert, render_notice
from ticket_alarm.delivery.notify import Alert, Changed, NewNotice

EDITED_LABEL = "수정됨"


def sale_times(ticket: Ticket) -> list[datetime]:
    """Every sale's time the notice gives (presales and the open), in order."""
    times = [p.at for p in ticket.presales if p.at is not None]
    return sorted([*times, *([ticket.open_at] if ticket.open_at else [])])


def opened(ticket: Ticket, now: float) -> bool:
    """Whether every sale of the notice has passed (a notice without a sale time never has)."""
    times = sale_times(ticket)
    return bool(times) and all(at.timestamp() <= now for at in times)


def _opened_text(ticket: Ticket) -> str:
    last = sale_times(ticket)[-1].astimezone(SEOUL)
    return f"오픈됨 · {last:%m/%d %H:%M}"


def render_living(
    alert: Alert, changed_at: float | None = None, *, now: float | None = None
) -> dict[str, Any]:
    """The embed an edited message shows for ``alert`` (``now``: say the open once every sale passed)."""
    ticket: Ticket | None = getattr(alert, "ticket", None)
    if not isinstance(alert, Changed | NewNotice) or ticket is None:
        return render_alert(alert)
    embed = render_notice(ticket, alert.site_name, alert.color)
    lines = []
    if isinstance(alert, Changed):
        for name in alert.changes:
            old, new = describe_field(alert.before, name), describe_field(ticket, name)
            lines.append(f"{CHANGE_LABELS[name]}: ~~{old}~~ → {new}")
        if lines and changed_at is not None:
            lines.append(f"변경 <t:{int(changed_at)}:f>")
    if now is not None and opened(ticket, now):
        lines.insert(0, f"**{_opened_text(ticket)}**")
    if lines:
        embed["description"] = "\n".join(lines)
        embed["footer"] = {"text": f"{embed['footer']['text']} · {EDITED_LABEL}"}
    return fit_embed(embed)


def living_embeds(
    alerts: Sequence[Alert], changed_at: Sequence[float | None], *, now: float | None = None
) -> list[dict[str, Any]]:
    """The embeds of a message edited in place, in its order."""
    times = [*changed_at, *[None] * (len(alerts) - len(changed_at))]
    return [render_living(a, at, now=now) for a, at in zip(alerts, times, strict=True)]
