"""A stand-in for the four real ticket sites, serving the committed fixtures on the real paths.

Each ``tests/fixtures/<site>/INDEX.json`` names the exact request a sample answers (method, URL,
form, headers). A request is answered only when its path and parameters (query and form merged, so
GET and POST both work where the site accepts both) equal a sample's and it carries the headers the
site needs (Referer, X-Requested-With); anything else gets 404/400, so a crawler sending the wrong
request fails loudly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

from tests.support.server import Request, Response
from tests.support.site_standin import FakeSite

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SITES = ("interpark", "yes24", "melon", "ticketlink")
REQUIRED_HEADERS = ("referer", "x-requested-with")


@dataclass(frozen=True)
class Sample:
    site: str
    path: str
    params: frozenset[tuple[str, str]]
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
                entry.get("status", 200),
                entry.get("content_type", "text/html; charset=utf-8"),
                headers,
                (folder / entry["file"]).read_bytes(),
            )
        )
    return out


class RealSites:
    """One loopback server answering all four sites' list (and detail) requests."""

    def __init__(self) -> None:
        self.samples = [s for site in SITES for s in load_samples(site)]
        self.site = FakeSite()
        for path in {s.path for s in self.samples}:
            self.site.routes[path] = self.answer
        self.unmatched: list[str] = []

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
        for sample in self.samples:
            if sample.path == req.path and sample.params == wanted:
                missing = [h for h in REQUIRED_HEADERS if h in sample.headers and h not in req.headers]
                if missing:
                    return Response(400, f"missing headers {missing}".encode())
                return Response(sample.status, sample.body, {"Content-Type": sample.content_type})
        self.unmatched.append(f"{req.method} {req.path} {sorted(wanted)}")
        return Response(404, b"no sample for this request")


def expected(site: str) -> dict[str, object]:
    data: dict[str, object] = json.loads((FIXTURES / site / "expected.json").read_text(encoding="utf-8"))
    return data
