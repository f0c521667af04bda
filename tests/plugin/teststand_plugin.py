"""A third-party crawler plugin used by the tests, registered through a real entry point.

``tests/plugin`` holds a ``.dist-info`` beside this module, so putting the folder on ``sys.path``
(or ``PYTHONPATH``) makes ``importlib.metadata`` see it exactly as it sees an installed package.
"""

from __future__ import annotations

from datetime import datetime

from crawlers.base import (
    SEOUL,
    Crawl,
    Crawler,
    ParseError,
    Presale,
    SiteFetcher,
    Ticket,
    clean_text,
    load_json,
)

SITE = "teststand"
PUBLIC = "https://tickets.teststand.example"


def parse(body: bytes | str, url: str = "", site: str = SITE, public: str = PUBLIC) -> list[Ticket]:
    data = load_json(site, body, url or f"the {site} list")
    if not isinstance(data, dict) or not isinstance(data.get("items"), list):
        raise ParseError(site, "expected an object with an 'items' list")
    out = []
    for item in data["items"]:
        if not isinstance(item, dict):
            raise ParseError(site, "an item is not an object")
        open_at = None
        if item.get("open_at"):
            open_at = datetime.fromisoformat(str(item["open_at"])).replace(tzinfo=SEOUL)
        presales = tuple(
            Presale(str(p["name"]), datetime.fromisoformat(str(p["at"])).replace(tzinfo=SEOUL))
            for p in item.get("presales") or ()
        )
        out.append(
            Ticket(
                site=site,
                id=str(item.get("id", "")),
                title=clean_text(str(item.get("title", ""))),
                url=f"{public}/notice/{item.get('id', '')}",
                open_at=open_at,
                venue=str(item.get("venue", "")),
                image_url=str(item.get("image", "")),
                presales=presales,
                exclusive=bool(item.get("exclusive", False)),
                genre=str(item.get("genre", "")),
                booking_url=str(item.get("booking_url", "")),
            )
        )
    return out


class TestStandCrawler(Crawler):
    __test__ = False
    name = SITE
    display_name = "테스트 티켓"
    color = 0x00AA88
    usual_minimum = 0
    public = PUBLIC

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        crawl = Crawl()
        page = 1
        while True:
            if crawl.pages >= self.page_cap:
                crawl.capped = True
                break
            resp = await fetch.get(f"{self.public}/api/notices", params={"page": page})
            crawl.pages += 1
            tickets = parse(resp.content, resp.url, self.name, self.public)
            if not tickets:
                break
            crawl.add(tickets)
            page += 1
        return crawl
