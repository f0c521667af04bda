"""``/calendar.ics``: one RFC 5545 VEVENT per sale of every upcoming notice (icalendar).

UIDs come from the notice's identity and the sale's name (``upcoming.sale_uid``), so a calendar
app that re-fetches the feed updates an event whose time moved instead of adding a second one;
times carry ``TZID=Asia/Seoul`` with its VTIMEZONE; every event has an alarm ``alarm`` minutes before
(``?alarm=``, default 10; 0: none).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from icalendar import Alarm, Calendar, Event

from ticket_alarm import __version__
from ticket_alarm.core.model import SEOUL
from ticket_alarm.web.upcoming import UpcomingNotice

EVENT_LENGTH = timedelta(minutes=30)
ALARM_MINUTES = 10
REFRESH = timedelta(minutes=30)


def calendar(
    notices: Sequence[UpcomingNotice],
    now: datetime,
    *,
    name: str = "티켓 오픈 일정",
    alarm: int = ALARM_MINUTES,
) -> bytes:
    cal = Calendar()
    cal.add("prodid", f"-//ticket-alarm//{__version__}//KO")
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    cal.add("x-wr-timezone", "Asia/Seoul")
    cal.add("refresh-interval", REFRESH, parameters={"VALUE": "DURATION"})
    cal.add("x-published-ttl", "PT30M")
    stamp = now.astimezone(SEOUL).replace(microsecond=0)
    for notice in notices:
        t = notice.ticket
        for sale in notice.sales:
            event = Event()
            event.add("uid", sale.uid)
            event.add("dtstamp", stamp)
            start = sale.at.astimezone(SEOUL)
            event.add("dtstart", start)
            event.add("dtend", start + EVENT_LENGTH)
            badge = "[단독] " if t.exclusive else ""
            event.add("summary", f"{badge}[{sale.name}] {t.title}")
            lines = [f"{notice.look.name} · {sale.name}"]
            lines += [f"{s.name}: {s.at.astimezone(SEOUL):%Y-%m-%d %H:%M} KST" for s in notice.sales]
            lines.append(f"공지: {t.url}")
            if t.booking_url:
                lines.append(f"예매: {t.booking_url}")
            event.add("description", "\n".join(lines))
            event.add("url", t.url)
            if t.venue:
                event.add("location", t.venue)
            event.add("categories", [notice.look.name])
            event.add("transp", "TRANSPARENT")
            if alarm:
                valarm = Alarm()
                valarm.add("action", "DISPLAY")
                lead = f"{alarm // 60}시간" if alarm % 60 == 0 else f"{alarm}분"
                valarm.add("description", f"{sale.name} {lead} 전: {t.title}")
                valarm.add("trigger", -timedelta(minutes=alarm))
                event.add_component(valarm)
            cal.add_component(event)
    cal.add_missing_timezones()
    return cal.to_ical()
