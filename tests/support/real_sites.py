"""A stand-in for the four real ticket sites, serving the committed fixtures on the real paths.

Each ``tests/fixtures/<site>/INDEX.json`` names the exact request a sample answers (method, URL,
form, headers). A request is answered only when its path and parameters (query and form merged, so
GET and POST both work where the site accepts both; a JSON body for NOL) equal a sample's and it
carries the headers the site needs (Referer, X-Requested-With); anything else gets 404/400, so a
crawler sending the wrong request fails loudly.

Interpark's notice pages (``/contents/notice/detail/{id}``) are built from the list rows (their
``ticketDates`` hold the row's own general sale), and ``RealSites.interpark_api`` switches the old
Interpark API to ``"404"``, ``"410"`` or ``"html"`` (its notice page where the JSON was) so a crawl
must move to NOL. ``InterparkStandin`` serves one set of notices through both sources.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from tests.support.server import Request, Response
from tests.support.site_standin import FakeSite

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SITES = ("interpark", "yes24", "melon", "ticketlink")
REQUIRED_HEADERS = ("referer", "x-requested-with")
SOURCES = ("nol",)  # second sources: served beside the sites, not sites of their own
INTERPARK_LIST = "/contents/api/open-notice/notice-list"
INTERPARK_NOTICE = "/contents/notice/detail/"
NOL_UPCOMING = "/ticket/display/api/upcoming"
JSON_TYPE = {"Content-Type": "application/json; charset=utf-8"}


@dataclass(frozen=True)
class Sample:
    site: str
    path: str
    params: frozenset[tuple[str, str]]
    json_body: str | None  # a POST's JSON body, canonical (sorted keys)
    status: int
    content_type: str
    headers: dict[str, str]
    body: bytes


def load_samples(site: str) -> list[Sample]:
    """The site's open-order samples (``INDEX.json``) and its registration-order ones (``HEAD_INDEX.json``:
    the newest page a head poll reads, rebuilt from the same notices)."""
    folder = FIXTURES / site
    entries = json.loads((folder / "INDEX.json").read_text(encoding="utf-8"))
    head = folder / "HEAD_INDEX.json"
    if head.is_file():
        entries += json.loads(head.read_text(encoding="utf-8"))
    out = []
    for entry in entries:
        url = urlsplit(entry["url"])
        params = parse_qsl(url.query, keep_blank_values=True) + parse_qsl(
            entry.get("form") or "", keep_blank_values=True
        )
        headers = {k.lower(): v for k, v in (entry.get("request_headers") or {}).items()}
        out.append(
            Sample(
                site,
                url.path,
                frozenset(params),
                json.dumps(entry["json"], sort_keys=True) if "json" in entry else None,
                entry.get("status", 200),
                entry.get(
                    "content_type", "application/json" if "json" in entry else "text/html; charset=utf-8"
                ),
                headers,
                (folder / entry["file"]).read_bytes(),
            )
        )
    return out


class RealSites:
    """One loopback server answering all four sites' list (and detail) requests."""

    def __init__(self) -> None:
        self.samples = [s for site in SITES + SOURCES for s in load_samples(site)]
        self.site = FakeSite()
        for path in {s.path for s in self.samples}:
            self.site.routes[path] = self.answer
        self.site.hook = self._hook
        self.unmatched: list[str] = []
        self.interpark_api = "ok"  # "404", "410", "html": the old API is gone, NOL must be read
        self.notice_pages = {
            str(row["noticeId"]): notice_page(row) for row in interpark_rows() if "noticeId" in row
        }

    def _hook(self, req: Request) -> Response | None:
        if req.path.startswith(INTERPARK_NOTICE):
            page = self.notice_pages.get(req.path.removeprefix(INTERPARK_NOTICE))
            return Response(200, page, {"Content-Type": "text/html; charset=utf-8"}) if page else None
        if req.path == INTERPARK_LIST and self.interpark_api != "ok":
            return old_api_gone(self.interpark_api)
        return None

    @property
    def base_url(self) -> str:
        return self.site.base_url

    def start(self) -> RealSites:
        self.site.start()
        return self

    def stop(self) -> None:
        self.site.stop()

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.site.log if r.path == path]

    def answer(self, req: Request) -> Response:
        params = [(k, v) for k, values in req.query.items() for v in values]
        if "form-urlencoded" in req.headers.get("content-type", ""):
            params += parse_qsl(req.body.decode(), keep_blank_values=True)
        wanted = frozenset(params)
        sent_json = _canonical_json(req.body) if "json" in req.headers.get("content-type", "") else None
        for sample in self.samples:
            if sample.path == req.path and sample.params == wanted and sample.json_body == sent_json:
                missing = [h for h in REQUIRED_HEADERS if h in sample.headers and h not in req.headers]
                if missing:
                    return Response(400, f"missing headers {missing}".encode())
                return Response(sample.status, sample.body, {"Content-Type": sample.content_type})
        self.unmatched.append(f"{req.method} {req.path} {sorted(wanted)}")
        return Response(404, b"no sample for this request")


def expected(site: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / site / "expected.json").read_text(encoding="utf-8"))
    return data


def _canonical_json(body: bytes) -> str | None:
    try:
        return json.dumps(json.loads(body), sort_keys=True)
    except ValueError:
        return None


def interpark_rows() -> list[dict[str, Any]]:
    """Every row (group members included) of the Interpark list fixtures."""
    rows: list[dict[str, Any]] = []
    for sample in load_samples("interpark"):
        if sample.path != INTERPARK_LIST or sample.status != 200:
            continue
        for row in json.loads(sample.body):
            rows.append(row)
            rows.extend(m for m in row.get("groupMembers") or () if isinstance(m, dict))
    return rows


def notice_page(row: dict[str, Any], presales: Sequence[tuple[str, str]] = ()) -> bytes:
    """An Interpark notice page in the reconstructed ``__NEXT_DATA__`` shape for one list row: its own
    general sale (unless TBA) and ``presales`` as (openName, openDateStr)."""
    dates = [{"openName": name, "openDateStr": when} for name, when in presales]
    if not row.get("isGeneralLater") and row.get("openDateStr"):
        dates.append({"openName": "일반예매", "openDateStr": row["openDateStr"]})
    notice = {
        "noticeId": row.get("noticeId"),
        "title": row.get("title"),
        "ticketDates": dates,
        "relatedNotices": [],
    }
    data = {"props": {"pageProps": {"fallback": {f"/open-notice/detail/{row.get('noticeId')}": notice}}}}
    script = json.dumps(data, ensure_ascii=False).replace("</", "<\\/")
    return (
        '<!DOCTYPE html><html lang="ko"><head><meta charSet="utf-8"/><title>NOL 티켓</title></head>'
        f'<body><div id="__next"></div><script id="__NEXT_DATA__" type="application/json">{script}</script>'
        "</body></html>"
    ).encode()


def old_api_gone(mode: str) -> Response:
    """How the old Interpark API answers once it is gone: 404, 410, or its notice page (HTML)."""
    if mode in ("404", "410"):
        return Response(int(mode), b"<html><body>Not Found</body></html>", {"Content-Type": "text/html"})
    if mode == "html":
        page = (FIXTURES / "interpark" / "notice-detail_10063.html").read_bytes()
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
    if mode == "no-id":
        return Response(200, b'[{"id": 1, "name": "x"}]', JSON_TYPE)
    raise ValueError(mode)


def nol_notice(row: dict[str, Any], presales: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    """The NOL object of an old-API row: the same notice as NOL serves it (snake_case, ticket_dates)."""
    opening = str(row.get("openDateStr") or "").replace(" ", "T")
    dates = [
        {
            "ticket_open_date": when.replace(" ", "T"),
            "ticket_open_type": 2,
            "general_later": False,
            "ticket_open_type_name": "선예매",
            "ticket_other_open_name": name,
        }
        for name, when in presales
    ]
    dates.append(
        {
            "ticket_open_date": opening
            if opening and not row.get("isGeneralLater")
            else "9999-12-31T00:00:00",
            "ticket_open_type": 1,
            "general_later": bool(row.get("isGeneralLater")),
            "ticket_open_type_name": "일반 예매일",
            "ticket_other_open_name": "",
        }
    )
    return {
        "id": row["noticeId"],
        "title": row.get("title", ""),
        "ticket_dates": dates,
        "open_type_name": row.get("openTypeStr", ""),
        "venue_name": row.get("venueName", ""),
        "goods_code": row.get("goodsCode", ""),
        "goods_genre_name": row.get("goodsGenreStr", ""),
        "goods_region_name": row.get("goodsRegionStr", ""),
        "goods_seat_type_name": row.get("goodsSeatTypeStr") or "없음",
        "goods_poster_image_url": row.get("posterImageUrl", ""),
        "view_count": row.get("viewCount", 0),
        "goods_info": "",
        "created_at": str(row.get("displayDateStr", "")).replace(" ", "T"),
    }


class InterparkStandin:
    """One set of Interpark notices served by both sources: the old API (``offset`` paging), NOL
    (cursor paging, both sorts) and the notice pages. ``mode`` switches the old API off."""

    def __init__(self, rows: list[dict[str, Any]]) -> None:
        self.rows = [dict(r) for r in rows]
        self.presales: dict[str, list[tuple[str, str]]] = {}  # notice id → (name, "YYYY-MM-DD HH:MM:SS")
        self.mode = "ok"
        self.lock = threading.Lock()
        self.site = FakeSite()
        self.site.routes[INTERPARK_LIST] = self._old
        self.site.routes[NOL_UPCOMING] = self._nol
        self.site.hook = self._notice_page

    @property
    def base_url(self) -> str:
        return self.site.base_url

    def start(self) -> InterparkStandin:
        self.site.start()
        return self

    def stop(self) -> None:
        self.site.stop()

    def add(self, row: dict[str, Any]) -> None:
        with self.lock:
            self.rows.append(dict(row))

    def requests_to(self, path: str) -> list[Request]:
        return [r for r in self.site.log if r.path.startswith(path)]

    def _old(self, req: Request) -> Response:
        if self.mode != "ok":
            return old_api_gone(self.mode)
        offset, size = int(req.q("offset", "0") or 0), int(req.q("pageSize", "50") or 50)
        with self.lock:
            rows = self.rows[offset : offset + size]
        return Response(200, json.dumps(rows, ensure_ascii=False).encode(), JSON_TYPE)

    def _nol(self, req: Request) -> Response:
        body = json.loads(req.body or b"{}")
        start = int(body.get("cursor") or 0)
        with self.lock:
            rows = list(self.rows)
        if body.get("sort") == "register":
            rows = rows[::-1]
        chunk = rows[start : start + 20]
        cursor = str(start + 20) if start + 20 < len(rows) else None
        notices = [nol_notice(r, self.presales.get(str(r["noticeId"]), [])) for r in chunk]
        doc = {"notices": notices, "summary": {"next_cursor": cursor}}
        return Response(200, json.dumps(doc, ensure_ascii=False).encode(), JSON_TYPE)

    def _notice_page(self, req: Request) -> Response | None:
        if not req.path.startswith(INTERPARK_NOTICE):
            return None
        wanted = req.path.removeprefix(INTERPARK_NOTICE)
        with self.lock:
            row = next((r for r in self.rows if str(r.get("noticeId")) == wanted), None)
        if row is None:
            return Response(404, b"not found")
        page = notice_page(row, self.presales.get(wanted, []))
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
