"""Scenario 4: hostile text from the sites reaches the strict stand-in Discord harmlessly.

Titles, venues, ids and poster URLs carry ``@everyone``/``@here``, role and user pings, markdown,
10,000-character titles, control characters, bidi overrides, emoji, lone surrogates, ``javascript:``
and relative links and invalid poster URLs — through the teststand plugin and through the four real
crawlers (their first list page rewritten on the fly). With ``notify_on_first_run`` every notice is
sent: the strict stand-in must accept every payload (no 400, no dead letter) and no mention may fire.
"""

from __future__ import annotations

import html
import json
import re
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import DaemonProcess, run_cli, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    db_file,
    query,
    token_of,
    wait_until,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.real_sites import SITES as REAL
from tests.support.real_sites import RealSites
from tests.support.server import Request, Response
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e

HOSTILE = [
    "@everyone 티켓 오픈",
    "@here 지금 예매",
    "<@&123456789012345678> 역할 호출",
    "<@123456789012345678> <@!223456789012345678> 사용자 호출",
    "**굵게** __밑줄__ ~~취소~~ `코드` ||스포|| # 제목 > 인용",
    "[피싱](https://evil.example/login) [x](javascript:alert(1))",
    "가" * 10_000,
    "제어\x00\x01\x07\x1b[31m문자\x7f\u0085",
    "\u202e\u2066역방향\u202c\u2069 RTL \u200f\u200e",
    "🎫🎤🔥 이모지 👨‍👩‍👧‍👦 🇰🇷",
    "\ud83c 잘린 이모지",
    "javascript:alert(document.cookie)",
    "@\u200beveryone @ev\u200ceryone ＠everyone",
    "<script>alert(1)</script> &amp; &lt;b&gt;",
    "\n\n\t  공백만  \n",
]
BAD_IMAGES = [
    "javascript:alert(1)",
    "/relative/poster.jpg",
    "//cdn.example.com/poster.jpg",
    "data:image/png;base64,iVBORw0KGgo=",
    "ftp://files.example.com/p.jpg",
    "https://exa mple.com/a b.jpg",
    "https://" + "a" * 3000 + ".example.com/p.jpg",
    "http://",
    "not a url",
]
MASS = re.compile(r"@(everyone|here)")


def add_hostile_notices(notices: TestStandNotices) -> None:
    ids = ["../../etc/passwd", "id with spaces", "<@&1>", "x" * 300, "javascript:alert(1)"]
    for n, title in enumerate(HOSTILE):
        notices.notices.append(
            {
                "id": ids[n] if n < len(ids) else f"h{n}",
                "title": title,
                "open_at": "2027-12-01T20:00:00",
                "venue": HOSTILE[(n + 3) % len(HOSTILE)],
                "image": BAD_IMAGES[n % len(BAD_IMAGES)],
            }
        )


class Mutator:
    """Rewrites the first list page of each real site: hostile titles, venues and poster URLs."""

    def __init__(self, real: RealSites) -> None:
        self.real = real
        self.mutated: Counter[str] = Counter()

    def hook(self, req: Request) -> Response | None:
        if req.path == "/api/notices":
            return None  # the teststand list: hostile already
        resp = self.real.answer(req)
        if resp.status != 200:
            return resp
        body = resp.body
        if req.path == "/contents/api/open-notice/notice-list" and req.q("offset") == "0":
            items = json.loads(body)
            for n, item in enumerate(items[:12]):
                item["title"] = HOSTILE[n % len(HOSTILE)]
                item["venueName"] = HOSTILE[(n + 5) % len(HOSTILE)]
                item["posterImageUrl"] = BAD_IMAGES[n % len(BAD_IMAGES)]
            self.mutated["interpark"] = 12
            body = json.dumps(items).encode()  # \ud83c stays escaped
        elif req.path == "/help/getNoticeList" and req.q("page") == "1":
            data = json.loads(body)
            for n, item in enumerate(data["result"]["result"][:12]):
                item["title"] = HOSTILE[n % len(HOSTILE)]
                item["placeName"] = HOSTILE[(n + 5) % len(HOSTILE)]
                item["reserveWebUrl"] = "javascript:alert(1)" if n % 2 else "/reserve/../../../evil"
            self.mutated["ticketlink"] = 12
            body = json.dumps(data).encode()
        elif req.path == "/New/Notice/Ajax/axList.aspx" and b"page=1&" in req.body:
            body = self._titles(body, rb'(<a href="#id=\d+">)(?:<em>[^<]*</em>)*([^<]*)(</a>)', "yes24")
        elif req.path == "/csoon/ajax/listTicketOpen.htm" and req.q("pageIndex") == "1":
            body = self._titles(
                body, rb'(<a href="\./detail\.htm\?csoonId=\d+" class="tit">)([^<]*)(</a>)', "melon"
            )
            images = iter(BAD_IMAGES)
            body = re.sub(rb'<img src="[^"]*"', lambda m: f'<img src="{next(images, "x")}"'.encode(), body)
        return Response(resp.status, body, resp.headers)

    def _titles(self, body: bytes, pattern: bytes, site: str) -> bytes:
        count = iter(range(10_000))

        def swap(m: re.Match[bytes]) -> bytes:
            n = next(count)
            if n >= 12:
                return m[0]
            self.mutated[site] += 1
            text = html.escape(HOSTILE[n % len(HOSTILE)].replace("\ud83c", "")).encode()
            return m[1] + text + m[3]

        return re.sub(pattern, swap, body)


@pytest.fixture
def sites() -> Iterator[tuple[RealSites, TestStandNotices]]:
    real = RealSites()
    notices = TestStandNotices()
    real.site.routes["/api/notices"] = notices.route
    real.start()
    yield real, notices
    real.stop()


def test_hostile_titles_venues_and_links_are_accepted_and_ping_nobody(
    tmp_path: Path, sites: tuple[RealSites, TestStandNotices], discord: FakeDiscord, report: Report
) -> None:
    real, notices = sites
    started = time.monotonic()
    add_hostile_notices(notices)
    mutator = Mutator(real)
    real.site.hook = mutator.hook
    discord.bucket_limit = 50
    webhook = discord.add_webhook()
    config = {
        "interval": 30,
        "data_dir": str(tmp_path / "data"),
        "notify_on_first_run": True,
        "discord_webhook_url": webhook,
        "sites": {name: {"base_url": real.base_url} for name in ("teststand", *REAL)},
        "http": {"min_request_interval": 0, "retries": 0, "timeout": 5},
    }
    config["sites"]["interpark"]["source"] = "interpark"  # hostile rows of the old API, no move to NOL
    d = DaemonProcess(write_config(tmp_path, config), tmp_path)
    db = db_file(tmp_path / "data")
    try:
        d.wait_for(lambda: d.out().count("크롤링 완료") >= 5, 60, "a crawl of every site")
        listed = {m[1]: int(m[2]) for m in re.finditer(r"크롤링 완료: (\S+) 공지 (\d+)건", d.out())}
        produced = sum(listed.values())
        wait_until(
            lambda: (
                query(db, "SELECT count(*) FROM outbox WHERE status='pending'")[0][0] == 0
                and len(discord.shown_embeds()) + len(discord.rejections) >= produced
            ),
            60,
            "every alert delivered",
        )
        code, seconds = d.terminate()
    finally:
        d.cleanup()
    embeds = discord.shown_embeds()  # a later vendor's notice of a show joins its message (an edit)
    dead = query(db, "SELECT count(*) FROM outbox WHERE status='dead'")[0][0]
    per_site = Counter(e["author"]["name"] for e in embeds)  # the site's name is the author line only
    everyone = sum(1 for e in embeds if MASS.search(json.dumps(e, ensure_ascii=False)))
    report.add(
        "4 hostile data: 5 sites, notify_on_first_run",
        produced=produced,
        delivered=len(embeds),
        lost=produced - len(embeds),
        duplicates=len(embeds) - len({(e["author"]["name"], e["title"], e.get("url")) for e in embeds}),
        seconds=time.monotonic() - started,
        figures=(
            f"{sum(mutator.mutated.values()) + len(HOSTILE)} hostile notices; "
            f"400s {len(discord.rejections)}, "
            f"dead letters {dead}; {everyone} embeds show @everyone/@here as text; mention_violations "
            f"{len(discord.mention_violations)}, fired_mentions {len(discord.fired_mentions)}"
        ),
    )
    assert code == 0 and seconds <= 10
    assert set(mutator.mutated) == set(REAL) and all(n >= 10 for n in mutator.mutated.values()), (
        mutator.mutated
    )
    assert discord.rejections == [] and dead == 0, discord.rejections[:3]
    assert discord.mention_violations == [] and discord.fired_mentions == []
    assert len(embeds) == produced, (len(embeds), listed, per_site)
    assert everyone > 0, "the hostile text reached Discord as text (escaped), it was not silently dropped"
    for payload in [m.payload for m in discord.messages] + [p for _, p in discord.patches()]:
        assert payload["allowed_mentions"] == {"parse": []} and "content" not in payload
    for e in embeds:
        text = json.dumps(e, ensure_ascii=False)
        assert not re.search("[\u202a-\u202e\u2066-\u2069\x00-\x08\x0b-\x1f\x7f]", text), text[:300]
        for key in ("url", "thumbnail"):
            url = e.get("url") if key == "url" else e.get(key, {}).get("url")
            if url:
                assert url.startswith(("https://", "http://")) and " " not in url, url
    skipped = d.err().count("teststand: invalid notice skipped")
    assert per_site["테스트 티켓"] + skipped == len(HOSTILE), "a hostile notice vanished without a log line"
    outputs = {"stdout": d.out(), "stderr": d.err()}
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])


def test_only_the_configured_role_is_pinged(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    """A route with mention_role_ids pings exactly that role, whatever the scraped text says."""
    started = time.monotonic()
    add_hostile_notices(notices)
    webhook = discord.add_webhook()
    role = "555555555555555555"
    routes = [{"name": "pings", "webhook_url": webhook, "mention_role_ids": [role]}]
    config = stand_config(tmp_path, site, None, routes=routes, notify_on_first_run=True)
    result = run_cli("once", "--config", str(write_config(tmp_path, config)), cwd=tmp_path, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]
    skipped = result.stderr.count("teststand: invalid notice skipped")
    produced = len(notices.notices) - skipped
    report.add(
        "4 hostile data: route with a role ping",
        produced=produced,
        delivered=len(discord.embeds()),
        lost=produced - len(discord.embeds()),
        duplicates=0,
        seconds=time.monotonic() - started,
        figures=f"fired {sorted(set(discord.fired_mentions))} in {len(discord.messages)} messages",
    )
    assert len(discord.embeds()) == produced and not discord.rejections, result.stderr[-2000:]
    assert discord.mention_violations == []
    assert discord.fired_mentions == [f"role:{role}"] * len(discord.messages)
    outputs = {"once stdout": result.stdout, "once stderr": result.stderr}
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])
