"""A live stand-in of YES24, Melon and Ticketlink: lists that change while the daemon watches them.

``tests/support/real_sites.py`` replays recorded pages; this one renders the three list endpoints in
the sites' own formats from a notice list a test (or a benchmark) edits, in both orders a crawler asks
for: by open date (the sweep: YES24 ``order=2``, Melon ``orderType=2``, Ticketlink
``sortCode=OPEN_DATE``) and by registration, newest first (the head poll: ``order=1``, ``orderType=0``,
``sortCode=REGISTE_DATE``). GET answers carry an ETag and a matching ``If-None-Match`` gets 304, as a
conditional GET expects; ``answers`` can queue a status (with headers) for one order of one site.
"""

from __future__ import annotations

import hashlib
import html
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import parse_qsl

from tests.support.server import Request, Response
from tests.support.site_standin import FakeSite

YES24_PATH = "/New/Notice/Ajax/axList.aspx"
MELON_PATH = "/csoon/ajax/listTicketOpen.htm"
TICKETLINK_PATH = "/help/getNoticeList"
PATHS = {"yes24": YES24_PATH, "melon": MELON_PATH, "ticketlink": TICKETLINK_PATH}
PAGE_SIZES = {"yes24": 20, "melon": 10, "ticketlink": 15}
FIRST_OPEN = datetime(2027, 12, 1, 20, 0)
WEEKDAYS = "월화수목금토일"


@dataclass
class LiveNotice:
    id: int
    title: str
    open_at: datetime
    venue: str = "공연장"


@dataclass
class LiveRequest:
    site: str
    order: str  # "head" (registration order) or "sweep" (open-date order)
    page: int
    status: int
    at: float  # the stand-in's clock when it answered


@dataclass
class LiveSites:
    """One loopback server for the three sites; ``clock`` stamps requests and appearances."""

    clock: Callable[[], float]
    notices: dict[str, list[LiveNotice]] = field(default_factory=dict)
    appeared: dict[tuple[str, str], float] = field(default_factory=dict)  # (site, id) → clock()
    requests: list[LiveRequest] = field(default_factory=list)
    answers: dict[tuple[str, str], list[Response]] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.site = FakeSite()
        self.site.routes[YES24_PATH] = lambda r: self._answer("yes24", r)
        self.site.routes[MELON_PATH] = lambda r: self._answer("melon", r)
        self.site.routes[TICKETLINK_PATH] = lambda r: self._answer("ticketlink", r)
        self._next_id = {"yes24": 20000, "melon": 12000, "ticketlink": 70000}

    @property
    def base_url(self) -> str:
        return self.site.base_url

    def start(self) -> LiveSites:
        self.site.start()
        return self

    def stop(self) -> None:
        self.site.stop()

    # --- the lists ---------------------------------------------------------------------------------
    def fill(self, site: str, count: int) -> list[str]:
        """``count`` notices already listed (opening one a day, in registration order)."""
        return [self.post(site, opens_in_days=index % 60) for index in range(count)]

    def post(self, site: str, *, opens_in_days: int = 30, title: str | None = None) -> str:
        """A notice appears on the site (registered now): its id, as the crawler reads it."""
        with self.lock:
            self._next_id[site] += 1
            notice_id = self._next_id[site]
            notice = LiveNotice(
                notice_id,
                title or f"{site} 공연 {notice_id} 티켓오픈 안내",
                FIRST_OPEN + timedelta(days=opens_in_days, minutes=notice_id % 60),
            )
            self.notices.setdefault(site, []).append(notice)
            self.appeared[(site, str(notice_id))] = self.clock()
            return str(notice_id)

    def change(self, site: str, notice_id: str, **changes: object) -> None:
        with self.lock:
            for notice in self.notices.get(site, []):
                if str(notice.id) == notice_id:
                    for name, value in changes.items():
                        setattr(notice, name, value)

    def answer_once(self, site: str, order: str, *responses: Response) -> None:
        with self.lock:
            self.answers.setdefault((site, order), []).extend(responses)

    def count(self, site: str, order: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if r.site == site and (order is None or r.order == order))

    # --- answering ---------------------------------------------------------------------------------
    def _answer(self, site: str, req: Request) -> Response:
        params = {k: v[0] for k, v in req.query.items()}
        if "form-urlencoded" in req.headers.get("content-type", ""):
            params.update(parse_qsl(req.body.decode(), keep_blank_values=True))
        if site == "yes24":
            order = "head" if params.get("order") == "1" else "sweep"
            page = int(params.get("page") or 1)
        elif site == "melon":
            order = "head" if params.get("orderType") == "0" else "sweep"
            page = (int(params.get("pageIndex") or 1) - 1) // PAGE_SIZES[site] + 1
        else:
            order = "head" if params.get("sortCode") == "REGISTE_DATE" else "sweep"
            page = int(params.get("page") or 1)
        with self.lock:
            queued = self.answers.get((site, order))
            canned = queued.pop(0) if queued else None
            listed = list(self.notices.get(site, []))
        if canned is not None:
            self._log(site, order, page, canned.status)
            return canned
        if order == "head":
            listed.sort(key=lambda n: -n.id)
        else:
            listed.sort(key=lambda n: (n.open_at, n.id))
        size = PAGE_SIZES[site]
        rows = listed[(page - 1) * size : page * size]
        pages = max(1, -(-len(listed) // size))
        body, content_type = RENDER[site](rows, page, pages, len(listed))
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        if req.method == "GET" and req.headers.get("if-none-match") == etag:
            self._log(site, order, page, 304)
            return Response(304, b"", {"ETag": etag})
        self._log(site, order, page, 200)
        headers = {"Content-Type": content_type}
        if req.method == "GET":
            headers["ETag"] = etag
        return Response(200, body, headers)

    def _log(self, site: str, order: str, page: int, status: int) -> None:
        with self.lock:
            self.requests.append(LiveRequest(site, order, page, status, self.clock()))


def _day(at: datetime) -> str:
    return f"{at:%Y.%m.%d}({WEEKDAYS[at.weekday()]}) {at:%H:%M}"


def render_yes24(rows: list[LiveNotice], page: int, pages: int, total: int) -> tuple[bytes, str]:
    cells = "".join(
        f'<tr><td>티켓오픈</td><td><a href="#id={n.id}">{html.escape(n.title)}</a></td>'
        f"<td>{_day(n.open_at)}</td><td>{n.id % 997}</td></tr>\n"
        for n in rows
    )
    body = (
        '<div class="noti-tbl"><table><caption>공지사항 목록</caption><tbody>'
        "<tr><th>구분</th><th>제목</th><th>티켓오픈 일시</th><th>조회수</th></tr>\n"
        f"{cells}</tbody></table></div>"
    )
    return body.encode(), "text/html; charset=utf-8"


def render_melon(rows: list[LiveNotice], page: int, pages: int, total: int) -> tuple[bytes, str]:
    items = "".join(
        '<li><div class="ticket_data"><span class="ticket_state">티켓오픈</span>'
        f'<span class="date">{_day(n.open_at)}</span></div><div class="link_consert">'
        f'<a href="./detail.htm?csoonId={n.id}" class="tit">{html.escape(n.title)}</a>'
        '<dl class="register_info"><dt class="first tit_date">등록일</dt><dd class="txt_date">2027.11.26</dd>'
        f'<dt class="tit_review">조회</dt><dd class="txt_review">{n.id % 997}</dd></dl></div></li>\n'
        for n in rows
    )
    if not rows:
        items = '<li class="nodata">등록된 티켓오픈 소식이 없습니다.</li>'
    return f'<ul class="list_ticket_cont">\n{items}</ul>'.encode(), "text/html;charset=UTF-8"


def render_ticketlink(rows: list[LiveNotice], page: int, pages: int, total: int) -> tuple[bytes, str]:
    items = [
        {
            "noticeId": n.id,
            "noticeCategoryCode": "TICKET_OPEN",
            "noticeCategoryName": "티켓오픈",
            "title": n.title,
            "ticketOpenDatetime": n.open_at.isoformat(),
            "registerDatetime": "2027-11-26T15:25:00",
            "viewCount": n.id % 997,
            "placeName": n.venue,
            "productId": None,
            "content": "",
        }
        for n in rows
    ]
    doc = {
        "result": {"result": items, "paging": {"currentPage": page, "pageCount": pages, "totalCount": total}}
    }
    return json.dumps(doc, ensure_ascii=False).encode(), "application/json;charset=UTF-8"


RENDER = {"yes24": render_yes24, "melon": render_melon, "ticketlink": render_ticketlink}
