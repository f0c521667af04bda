"""A no-news ``once`` cycle of Interpark with notice pages: ours vs the seed script's way, side by side.

The stand-in (``python -m benchmarks.bench_notices --serve N``, a child process, so its CPU is not
counted) serves N notices on the old API (``offset`` paging, 50 a page, ETags and 304s), every fourth
with ``hasMultipleOpenDates``: its presales are on its notice page (the reconstructed ``__NEXT_DATA__``
shape of ``tests/support/real_sites.notice_page`` inside about 40 KB of page, as the site's pages are).

- ours: ``app.build_app`` on a filled store, then what ``once`` does for the site (``run_site`` +
  ``Delivery.drain``): the list pages are conditional requests, no notice page is asked again (kept
  in the store), nothing is new;
- seed-style: what the original script did each run: ``requests`` for each list page and each notice
  page, ``BeautifulSoup`` (``html.parser``) for ``__NEXT_DATA__``, a JSON history file read, compared and
  written back.

Measured: ``time.process_time()`` of this process around one cycle (the store's worker thread included),
the two alternated, warm cycles only; the median per notice. Target: ours ≤ 0.25× the seed's.
"""

from __future__ import annotations

import asyncio
import hashlib
import importlib.util
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.bench_common import ROOT, SKIPPED, Row, median, say, verdict

LIST = "/contents/api/open-notice/notice-list"
NOTICE = "/contents/notice/detail/"
TARGET = 0.25
PAGE_FILLER = 40_000  # bytes of ordinary page markup around __NEXT_DATA__


# --- the stand-in (child process) -----------------------------------------------------------------


def _rows(count: int) -> list[dict[str, Any]]:
    from tests.support.real_sites import interpark_rows

    template = next(r for r in interpark_rows() if len(str(r.get("openDateStr") or "")) >= 16)
    rows = []
    for n in range(count):
        rows.append(
            {
                **template,
                "noticeId": 200_000 + n,
                "title": f"2027 공연 {n} 티켓 오픈 안내",
                "openDateStr": f"2027-{1 + n % 12:02d}-{1 + n % 28:02d} 20:00:00",
                "goodsCode": f"27{n:06d}",
                "groupMembers": [],
                "isGroup": False,
                "hasMultipleOpenDates": n % 4 == 0,
                "isToping": False,
            }
        )
    return rows


def serve(count: int) -> None:
    """Serve ``count`` notices until stdin closes; print the base URL first."""
    from tests.support.real_sites import notice_page
    from tests.support.server import LoopbackServer, Request, Response

    rows = _rows(count)
    block = '<div class="info-block"><p>공연 안내 {}: 예매 시 유의사항을 확인하세요.</p></div>'
    filler = "".join(block.format(i) for i in range(400))[:PAGE_FILLER]
    pages = {
        str(r["noticeId"]): notice_page(r, [("팬클럽 선예매", "2027-01-02 20:00:00")]).replace(
            b'<div id="__next"></div>', f'<div id="__next">{filler}</div>'.encode()
        )
        for r in rows
        if r["hasMultipleOpenDates"]
    }
    counts = {"list": 0, "notice": 0, "304": 0}
    lock = threading.Lock()

    def answer(req: Request, body: bytes, kind: str, ctype: str) -> Response:
        etag = '"' + hashlib.sha1(body).hexdigest()[:20] + '"'
        with lock:
            counts[kind] += 1
            if req.headers.get("if-none-match") == etag:
                counts["304"] += 1
                return Response(304, b"", {"ETag": etag})
        return Response(200, body, {"Content-Type": ctype, "ETag": etag})

    def handle(req: Request) -> Response:
        if req.path == LIST:
            offset, size = int(req.q("offset", "0")), int(req.q("pageSize", "50"))
            body = json.dumps(rows[offset : offset + size], ensure_ascii=False).encode()
            return answer(req, body, "list", "application/json; charset=utf-8")
        if req.path.startswith(NOTICE) and req.path[len(NOTICE) :] in pages:
            return answer(req, pages[req.path[len(NOTICE) :]], "notice", "text/html; charset=utf-8")
        if req.path == "/__counts":
            with lock:
                return Response(200, json.dumps(counts).encode())
        return Response(404, b"not found")

    server = LoopbackServer(handle).start()
    print(server.base_url, flush=True)
    sys.stdin.read()
    server.stop()


# --- the two cycles -------------------------------------------------------------------------------


def seed_cycle(base: str, history: Path) -> int:
    """One run of the seed script's way; the notices it read."""
    import requests
    from bs4 import BeautifulSoup

    session = requests.Session()
    notices: list[dict[str, Any]] = []
    offset = 0
    while True:
        params = {"goodsGenre": "ALL", "goodsRegion": "ALL", "offset": offset, "pageSize": 50}
        response = session.get(base + LIST, params={**params, "sorting": "OPEN_ASC"}, timeout=10)
        response.raise_for_status()
        rows = response.json()
        notices += rows
        if len(rows) < 50:
            break
        offset += 50
    known = json.loads(history.read_text(encoding="utf-8")) if history.exists() else {}
    for row in notices:
        item: dict[str, Any] = {"title": row["title"], "open": row["openDateStr"], "presales": []}
        if row.get("hasMultipleOpenDates") or row.get("isToping"):
            page = session.get(f"{base}{NOTICE}{row['noticeId']}", timeout=10)
            soup = BeautifulSoup(page.text, "html.parser")
            script = soup.find("script", id="__NEXT_DATA__")
            data = json.loads(script.string if script and script.string else "{}")
            item["presales"] = [[d["openName"], d["openDateStr"]] for d in _ticket_dates(data)]
        key = str(row["noticeId"])
        if known.get(key) != item:
            known[key] = item  # the seed alerted here
    history.write_text(json.dumps(known, ensure_ascii=False), encoding="utf-8")
    session.close()
    return len(notices)


def _ticket_dates(data: Any) -> list[dict[str, Any]]:
    if isinstance(data, dict):
        if isinstance(data.get("ticketDates"), list):
            return list(data["ticketDates"])
        data = list(data.values())
    if isinstance(data, list):
        for child in data:
            found = _ticket_dates(child)
            if found:
                return found
    return []


async def our_cycle(config: dict[str, Any]) -> int:
    from crawlers import registry
    from ticket_alarm.app import build_app
    from ticket_alarm.config.settings import Settings

    settings = Settings(**config)
    known = {name: cls for name, cls in registry.discover().items() if settings.site(name).enabled}
    async with build_app(settings, known) as app:
        result = await app.pipeline.run_site("interpark")
        await app.delivery.drain(30.0)
    if not result.ok or result.new or result.changed:
        raise AssertionError(f"not a no-news cycle: ok={result.ok} new={result.new} error={result.error}")
    return result.items


def _config(base: str, data_dir: Path) -> dict[str, Any]:
    from crawlers import registry

    return {
        "data_dir": str(data_dir),
        "sites": {
            name: {"base_url": base, "source": "interpark"} if name == "interpark" else {"enabled": False}
            for name in registry.discover()
        },
        "http": {"min_request_interval": 0, "retries": 1, "backoff": 0.05, "timeout": 10},
    }


def _counts(base: str) -> dict[str, int]:
    import urllib.request

    with urllib.request.urlopen(base + "/__counts", timeout=10) as answer:  # loopback only
        counts: dict[str, int] = json.loads(answer.read())
    return counts


def _cpu(run: Any) -> tuple[float, Any]:
    started = time.process_time()
    value = run()
    return time.process_time() - started, value


def run(quick: bool) -> list[Row]:
    count, cycles = (40, 1) if quick else (440, 3)
    missing = [name for name in ("bs4", "requests") if importlib.util.find_spec(name) is None]
    if missing:
        hint = f"{' and '.join(missing)} not installed: pip install -e .[bench]  (benchmark-only)"
        return [
            Row(
                benchmark=f"notices: no-news `once`, Interpark, {count} notices (no seed-style baseline)",
                measured="—",
                target=f"≤ {TARGET}×",
                status=SKIPPED,
                notes=[f"notices: {hint}"],
            )
        ]
    server = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.bench_notices", "--serve", str(count)],
        cwd=str(ROOT),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None
        base = server.stdout.readline().strip()
        with tempfile.TemporaryDirectory(prefix="ta-bench-notices-") as tmp:
            config = _config(base, Path(tmp) / "data")
            history = Path(tmp) / "notification_history.json"
            say(f"  notices: {count} notices, {cycles} no-news cycles each, alternated …")
            asyncio.run(_fill(config))
            seed_cycle(base, history)  # the seed's history filled too: from here on, no news for both
            ours: list[float] = []
            seed: list[float] = []
            asked = {"ours": 0, "seed": 0}
            for _ in range(cycles):
                before = _counts(base)
                seconds, items = _cpu(lambda: asyncio.run(our_cycle(config)))
                ours.append(seconds / items)
                middle = _counts(base)
                seconds, items = _cpu(lambda: seed_cycle(base, history))
                seed.append(seconds / items)
                after = _counts(base)
                asked["ours"] += sum(middle[k] - before[k] for k in ("list", "notice"))
                asked["seed"] += sum(after[k] - middle[k] for k in ("list", "notice"))
                notice_ours = middle["notice"] - before["notice"]
    finally:
        if server.stdin:
            server.stdin.close()
        server.wait(timeout=30)
    ratio = median(ours) / median(seed)
    return [
        Row(
            benchmark=f"notices: no-news `once`, Interpark, {count} notices, {count // 4} with notice pages",
            measured=f"ours {median(ours) * 1e6:.0f} µs | seed-style {median(seed) * 1e6:.0f} µs CPU/notice",
            ratio=f"{ratio:.3f}×",
            target=f"≤ {TARGET}×",
            status=verdict(ratio <= TARGET),
            notes=[
                f"notices: requests per cycle: ours {asked['ours'] / cycles:.0f} (list pages, conditional; "
                f"{notice_ours} notice pages), seed-style {asked['seed'] / cycles:.0f} (every page, parsed)"
            ],
            values={
                "ours_cpu_per_notice_s": median(ours),
                "seed_cpu_per_notice_s": median(seed),
                "ratio": ratio,
                "requests_ours": asked["ours"] / cycles,
                "requests_seed": asked["seed"] / cycles,
            },
        )
    ]


async def _fill(config: dict[str, Any]) -> None:
    """The first run: history and the kept notice pages filled silently."""
    from crawlers import registry
    from ticket_alarm.app import build_app
    from ticket_alarm.config.settings import Settings

    settings = Settings(**config)
    known = {name: cls for name, cls in registry.discover().items() if settings.site(name).enabled}
    async with build_app(settings, known) as app:
        await app.pipeline.run_site("interpark")


if __name__ == "__main__":
    if sys.argv[1:2] == ["--serve"]:
        serve(int(sys.argv[2]))
