"""A second stand-in vendor for the tests of one show across vendors (issue 23): the teststand crawler
under another site name and address, registered through its own entry point. It lives in its own
folder so only the tests that put it on ``PYTHONPATH`` crawl it."""

from __future__ import annotations

from teststand_plugin import TestStandCrawler


class SecondStandCrawler(TestStandCrawler):
    __test__ = False
    name = "secondstand"
    display_name = "둘째 티켓"
    color = 0xAA0088
    public = "https://tickets.secondstand.example"
