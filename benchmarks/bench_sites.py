"""The four sites as recorded in ``tests/fixtures/<site>/``, answering the requests the real crawlers make.

One router, two faces: ``mock_transport()`` (``httpx.MockTransport``, in process) and
``loopback_handler`` (for ``tests.support.server.LoopbackServer``, real sockets on 127.0.0.1).
It can answer with ETags (so the fetch layer's conditional GET and the store's ``http_cache`` take
part) and can vary each site's first list page per ``cycle``: one notice gets a fresh id (a new
notice every cycle) and, on the JSON sites, one title toggles every ``toggle_every`` cycles (held
for ``change_confirm_cycles``, then a change alert).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

import httpx

from benchmarks.bench_common import ROOT

FIXTURES = ROOT / "tests" / "fixtures"
SITES = ("interpark", "yes24", "melon", "ticketlink")

INTERPARK_LIST = "/contents/api/open-notice/notice-list"
YES24_LIST = "/New/Notice/Ajax/axList.aspx"
MELON_LIST = "/csoon/ajax/listTicketOpen.htm"
MELON_DETAIL = "/csoon/detail.htm"
TICKETLINK_LIST = "/help/getNoticeList"

FIRST_PAGES = {
    "interpark": "notice-list_offset0_size50.json",
    "yes24": "axList_page1.html",
    "melon": "listTicketOpen_pageIndex1.html",
    "ticketlink": "getNoticeList_page1.json",
}
NEW_ID_BASE = 8_000_000
_YES24_FIRST_ID = re.compile(rb"id=(\d+)")
_MELON_FIRST_ID = re.compile(rb"csoonId=(\d+)")

Answer = tuple[int, bytes, dict[str, str]]


def _html(body: bytes) -> Answer:
    return 200, body, {"Content-Type": "text/html;charset=UTF-8"}


def _json(body: bytes) -> Answer:
    return 200, body, {"Content-Type": "application/json;charset=UTF-8"}


@dataclass
class FixtureSites:
    etags: bool = False
    cycle: int = 0  # > 0: vary the first list page of each site (see the module docstring)
    toggle_every: int = 16
    requests: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    _files: dict[tuple[str, str], bytes] = field(default_factory=dict)

    def file(self, site: str, name: str) -> bytes:
        key = (site, name)
        if key not in self._files:
            self._files[key] = (FIXTURES / site / name).read_bytes()
        return self._files[key]

    def exists(self, site: str, name: str) -> bool:
        return (site, name) in self._files or (FIXTURES / site / name).exists()

    # --- routing ----------------------------------------------------------------------------
    def answer(
        self,
        method: str,
        path: str,
        query: Mapping[str, str],
        form: Mapping[str, str],
        headers: Mapping[str, str],
    ) -> Answer:
        self.requests += 1
        status, body, out_headers = self._route(method, path, {**query, **form})
        if status == 200 and self.etags:
            etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
            out_headers = {**out_headers, "ETag": etag}
            if headers.get("if-none-match") == etag:
                status, body = 304, b""
        self.statuses[status] = self.statuses.get(status, 0) + 1
        return status, body, out_headers

    def _route(self, method: str, path: str, params: Mapping[str, str]) -> Answer:
        if path == INTERPARK_LIST and method == "GET":
            name = f"notice-list_offset{params.get('offset', '0')}_size50.json"
            if params.get("goodsRegion") is None:
                return 400, self.file("interpark", "notice-list_400_missing_goodsRegion.json"), {}
            body = self.file("interpark", name) if self.exists("interpark", name) else b"[]"
            return _json(self._vary("interpark", name, body))
        if path == YES24_LIST and method == "POST":
            name = f"axList_page{params.get('page', '1')}.html"
            if not self.exists("yes24", name):
                name = "axList_page8.html"  # the header-only page: the list's end
            return _html(self._vary("yes24", name, self.file("yes24", name)))
        if path == MELON_LIST:
            name = f"listTicketOpen_pageIndex{params.get('pageIndex', '1')}.html"
            if not self.exists("melon", name):
                name = "listTicketOpen_pageIndex51.html"  # the empty list
            return _html(self._vary("melon", name, self.file("melon", name)))
        if path == MELON_DETAIL:
            name = f"detail_csoonId{params.get('csoonId', '')}.html"
            if not self.exists("melon", name):
                return 404, b"<html><body>not found</body></html>", {"Content-Type": "text/html"}
            return _html(self.file("melon", name))
        if path == TICKETLINK_LIST and method == "GET":
            name = f"getNoticeList_page{params.get('page', '1')}.json"
            if not self.exists("ticketlink", name):
                name = "getNoticeList_page8.json"  # past the last page: an empty result
            return _json(self._vary("ticketlink", name, self.file("ticketlink", name)))
        return 404, b"not found", {"Content-Type": "text/plain"}

    # --- per-cycle variation -----------------------------------------------------------------
    def _vary(self, site: str, name: str, body: bytes) -> bytes:
        if self.cycle <= 0 or FIRST_PAGES[site] != name:
            return body
        new_id = NEW_ID_BASE + self.cycle
        toggled = (self.cycle // self.toggle_every) % 2 == 1
        if site == "interpark":
            items: list[dict[str, Any]] = json.loads(body)
            items[0]["noticeId"] = new_id
            if toggled:
                items[1]["title"] = f"{items[1]['title']} (회차 추가)"
            return json.dumps(items, ensure_ascii=False).encode()
        if site == "ticketlink":
            data = json.loads(body)
            notices = data["result"]["result"]
            notices[0]["noticeId"] = new_id
            if toggled:
                notices[1]["title"] = f"{notices[1]['title']} (회차 추가)"
            return json.dumps(data, ensure_ascii=False).encode()
        pattern = _YES24_FIRST_ID if site == "yes24" else _MELON_FIRST_ID
        match = pattern.search(body)
        if match is None:
            return body
        old = match[0]
        return body.replace(old, old[: -len(match[1])] + str(new_id).encode())

    # --- the two faces -----------------------------------------------------------------------
    def mock_transport(self) -> httpx.MockTransport:
        def handler(request: httpx.Request) -> httpx.Response:
            query = dict(request.url.params.multi_items())
            form = _form(request.headers.get("content-type", ""), request.content)
            status, body, headers = self.answer(
                request.method,
                request.url.path,
                query,
                form,
                {k.lower(): v for k, v in request.headers.items()},
            )
            return httpx.Response(status, content=body, headers=headers)

        return httpx.MockTransport(handler)

    def loopback_handler(self, req: Any) -> Any:
        """Handler for ``tests.support.server.LoopbackServer`` (Request → Response)."""
        from tests.support.server import Response

        query = {k: v[-1] for k, v in req.query.items()}
        form = _form(req.headers.get("content-type", ""), req.body)
        status, body, headers = self.answer(req.method, req.path, query, form, req.headers)
        return Response(status, body, headers)


def _form(content_type: str, content: bytes) -> dict[str, str]:
    if "application/x-www-form-urlencoded" not in content_type or not content:
        return {}
    return dict(parse_qsl(content.decode("utf-8", errors="replace"), keep_blank_values=True))
