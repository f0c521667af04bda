"""Custom sites: a crawler defined in the config only (``custom_sites``), no code.

A definition (``ticket_alarm.config.settings.CustomSiteSettings``) says where the list is
(``url``, ``method``,
``form``, ``headers``, ``pages``), what it is (``format``: ``json`` or ``html``), where the items are
(``items``) and where each field of an item is (``fields``). ``build_crawler`` turns a definition into
a ``Crawler`` subclass that joins the registry like any built-in crawler; ``parse_json_items`` and
``parse_html_items`` are the pure parse functions (bytes in, tickets out, no I/O).

Path syntax (json): a dotted path from the document root (``items``) or from the item (``fields``):
``data.list``, ``$.data.list[*]``, ``result.groups[0].notices``, ``performers[*].name``,
``["notice-list"]`` for keys with dots or spaces. ``[N]`` picks one element (``[-1]`` the last),
``[*]`` every element of a list (or every value of an object). A leading ``$`` (items) or ``@``
(fields) is optional. No filters, no recursion, no functions: nothing is evaluated.

Field syntax (html): a CSS selector relative to the item, its first match's text; ``selector@attr``
takes an attribute instead (``a.subject@href``); ``@attr`` alone, or ``.``, is the item itself.

A field given as ``{"path": ..., "regex": ...}`` keeps only the first group (or the named group
``value``, or the whole match) of the regular expression; no match is an empty value.

"Not what I expect" raises ``ParseError``: the items path missing from the JSON, no element matching
the items selector on the first page (unless the page says it is empty, ``empty_text``), items of
which none has an id or a title. An empty list means the board really lists nothing.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, ClassVar
from urllib.parse import quote, urljoin

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawlers.base import (
    Crawl,
    Crawler,
    Numbered,
    html_instead,
    is_challenge,
    load_json,
    paginate,
    parse_count,
)
from crawlers.custom.dates import auto_datetime, strptime_any
from crawlers.custom.definition import (
    PAGE,
    CustomSiteSettings,
    FieldRule,
    SiteDefinition,
    squash,
)
from crawlers.custom.jsonpath import kind_of
from ticket_alarm.core.model import Category, Ticket, clean_text
from ticket_alarm.errors import ApiChangedError, ParseError
from ticket_alarm.fetch.decode import decode_text
from ticket_alarm.fetch.http import SiteFetcher
from ticket_alarm.i18n import t


@dataclass
class GenericPage:
    """One list response: its notices, how many items it held, and what was left out or odd."""

    tickets: list[Ticket] = field(default_factory=list)
    items: int = 0
    skipped: int = 0  # items with neither id nor title (header rows, "no posts" rows)
    warnings: list[str] = field(default_factory=list)


def _definition(definition: CustomSiteSettings | SiteDefinition) -> SiteDefinition:
    if isinstance(definition, SiteDefinition):
        return definition
    try:
        return definition.compiled()
    except ValueError as exc:
        raise ParseError(definition.name, t("custom.invalid", error=exc)) from None


def parse_json_items(
    body: bytes | str, definition: CustomSiteSettings | SiteDefinition, url: str = ""
) -> list[Ticket]:
    """The notices of one JSON response, in its order."""
    return parse_json_page(body, definition, url).tickets


def parse_html_items(
    body: bytes | str, definition: CustomSiteSettings | SiteDefinition, url: str = ""
) -> list[Ticket]:
    """The notices of one HTML page, in its order."""
    return parse_html_page(body, definition, url).tickets


def parse_page(
    body: bytes | str, definition: CustomSiteSettings | SiteDefinition, url: str = "", *, first: bool = True
) -> GenericPage:
    site = _definition(definition)
    if site.settings.format == "json":
        return parse_json_page(body, site, url)
    return parse_html_page(body, site, url, first=first)


def parse_json_page(
    body: bytes | str, definition: CustomSiteSettings | SiteDefinition, url: str = ""
) -> GenericPage:
    """Read one JSON response. ``ParseError`` when the items path is not there."""
    site = _definition(definition)
    raw = body.encode("utf-8") if isinstance(body, str) else bytes(body)
    where = url or site.settings.url
    try:
        data = load_json(site.name, raw, where)
    except ApiChangedError as exc:  # the site's own HTML page: the definition, not a crawler, is at fault
        hint = t("crawl.hint.custom_moved", name=site.name)
        raise ApiChangedError(site.name, exc.reason, hint=hint) from None
    assert site.items_path is not None
    try:
        found = site.items_path.find_strict(data)
    except LookupError as exc:
        raise ParseError(
            site.name,
            t("custom.items_missing", path=site.items_path.text, where=where, error=exc),
            hint=site.hint,
        ) from None
    except RecursionError:
        raise ParseError(site.name, t("custom.too_deep", where=where)) from None
    if site.items_path.multi:
        items = found
    else:
        value = found[0]
        if value is None:
            items = []
        elif isinstance(value, list):
            items = value
        else:
            raise ParseError(
                site.name,
                t("custom.items_not_list", path=site.items_path.text, kind=kind_of(value), where=where),
                hint=site.hint,
            )
    page = GenericPage(items=len(items))
    for n, item in enumerate(items):
        values = {name: _json_value(site, rule, item, n, where) for name, rule in site.fields.items()}
        _add(page, site, values, where)
    _check_some(page, site, where)
    return page


def _json_value(site: SiteDefinition, rule: FieldRule, item: Any, n: int, where: str) -> str | None:
    assert rule.json_path is not None
    values = [v for v in rule.json_path.find(item) if v is not None]
    if not values:
        return None
    parts: list[str] = []
    for value in values:
        if isinstance(value, list) and all(not isinstance(v, list | dict) for v in value):
            parts += [_scalar_text(v) for v in value if v is not None]
        elif isinstance(value, list | dict):
            raise ParseError(
                site.name,
                t(
                    "custom.field_not_scalar",
                    name=rule.name,
                    path=rule.path,
                    kind=kind_of(value),
                    n=n,
                    where=where,
                ),
                hint=site.hint,
            )
        else:
            parts.append(_scalar_text(value))
    return _apply_regex(rule, ", ".join(p for p in parts if p))


def _scalar_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def _apply_regex(rule: FieldRule, text: str) -> str | None:
    if rule.regex is None:
        return text
    match = rule.regex.search(text)
    if match is None:
        return None
    if "value" in rule.regex.groupindex:
        return match["value"]
    if rule.regex.groups:
        return next((g for g in match.groups() if g is not None), "")
    return match[0]


def parse_html_page(
    body: bytes | str, definition: CustomSiteSettings | SiteDefinition, url: str = "", *, first: bool = True
) -> GenericPage:
    """Read one HTML page. ``first=False`` (a later page): no items at all is the list's end."""
    site = _definition(definition)
    text = decode_text(body)
    where = url or site.settings.url
    tree = LexborHTMLParser(text)
    assert site.items_selector is not None
    nodes = tree.css(site.items_selector)
    page = GenericPage(items=len(nodes))
    for node in nodes:
        values = {name: _html_value(rule, node) for name, rule in site.fields.items()}
        _add(page, site, values, where)
    if not page.tickets and first and not _says_empty(tree, site):
        # A later page without notices is the list's end; the first page proves the layout.
        if not nodes:
            if not text.strip() or is_challenge(text):
                raise html_instead(
                    site.name, text, where, t("custom.the_items", selector=site.items_selector)
                )
            raise ParseError(
                site.name,
                t("custom.no_items", selector=site.items_selector, where=where),
                hint=site.hint,
            )
        _check_some(page, site, where)
    return page


def _says_empty(tree: LexborHTMLParser, site: SiteDefinition) -> bool:
    body = tree.body
    text = squash(body.text(deep=True) if body is not None else "")
    return any(phrase in text for phrase in site.empty_texts)


def _html_value(rule: FieldRule, item: LexborNode) -> str | None:
    node = item if rule.selector is None else item.css_first(rule.selector)
    if node is None:
        return None
    if rule.attr is not None:
        value = node.attributes.get(rule.attr)
        if value is None:
            return None
        text = value.strip()
    else:
        text = clean_text(node.text(deep=True, separator=" "))
    return _apply_regex(rule, text)


def _check_some(page: GenericPage, site: SiteDefinition, where: str) -> None:
    if page.items and not page.tickets:
        raise ParseError(
            site.name,
            t(
                "custom.no_id_title",
                count=page.items,
                where=where,
                id_path=site.fields["id"].path,
                title_path=site.fields["title"].path,
            ),
            hint=site.hint,
        )


def _add(page: GenericPage, site: SiteDefinition, values: Mapping[str, str | None], where: str) -> None:
    notice_id = clean_text(values.get("id"))
    title = clean_text(values.get("title"))
    if not notice_id and not title:
        page.skipped += 1
        return
    d = site.settings
    category_text = _text(values.get("category"))
    exclusive = False
    if site.exclusive is not None:
        for text in (title, category_text):
            if site.exclusive.search(text):
                exclusive = True
        title = clean_text(site.exclusive.sub(" ", title)) or title
    category: Category = "open"
    basis = category_text if "category" in site.fields else title
    if any(word and word in basis for word in d.change_keywords):
        category = "change"
    open_at, open_date, open_text = _open_time(site, values.get("open_at"))
    if open_text:
        which = t("custom.open_not_date.format" if d.open_at_format else "custom.open_not_date.auto")
        page.warnings.append(
            t("custom.open_not_date", notice=notice_id or title[:40], text=open_text[:60], which=which)
        )
    page.tickets.append(
        Ticket(
            site=site.name,
            id=notice_id,
            title=title,
            url=_link(site, values, where),
            open_at=open_at,
            open_date=open_date,
            category=category,
            exclusive=exclusive,
            venue=_text(values.get("venue")),
            genre=_text(values.get("genre")),
            image_url=_absolute(values.get("image_url"), where),
            booking_url=_absolute(values.get("booking_url"), where),
            views=parse_count(values.get("views")),
            extra={"open_at_text": open_text} if open_text else {},
        )
    )


def _text(raw: str | None) -> str:
    """Clean text; a value with no letter or digit (``-``, ``·``) means "none" on Korean boards."""
    text = clean_text(raw)
    return text if any(ch.isalnum() for ch in text) else ""


def _open_time(site: SiteDefinition, raw: str | None) -> tuple[datetime | None, date | None, str]:
    """(open_at, open_date, unreadable text); TBA words and empty values are (None, None, "")."""
    text = _text(raw)
    if not text:
        return None, None, ""
    formats = site.settings.open_at_format
    parsed = strptime_any(text, formats) if formats else auto_datetime(text)
    if parsed is not None:
        return parsed[0], parsed[1], ""
    squashed = squash(text)
    if any(word in squashed for word in site.tba):
        return None, None, ""
    return None, None, text


def _absolute(link: str | None, base: str) -> str:
    link = (link or "").strip()
    if not link:
        return ""
    try:
        return urljoin(base, link)
    except ValueError:  # a malformed link (e.g. an unclosed [IPv6 host)
        return link


def _link(site: SiteDefinition, values: Mapping[str, str | None], where: str) -> str:
    template = site.settings.url_template
    if not template:
        return _absolute(values.get("url"), where)
    fill: dict[str, str] = {}
    for name in site.template_fields:
        value = clean_text(values.get(name))
        if not value:
            return ""  # the ticket is then invalid ("url is not http(s)") and logged, never sent half-built
        fill[name] = quote(value, safe="")
    return template.format_map(fill)


# --- the crawler -------------------------------------------------------------------------------------


def page_request(definition: CustomSiteSettings, page: int) -> tuple[str, dict[str, str]]:
    """The public URL and form of list page ``page`` (``{page}`` filled in)."""
    number = str(page)
    return (
        definition.url.replace(PAGE, number),
        {key: value.replace(PAGE, number) for key, value in definition.form.items()},
    )


class GenericCrawler(Crawler):
    """A crawler driven by a ``custom_sites`` definition; ``build_crawler`` makes one class per site."""

    definition: ClassVar[CustomSiteSettings]
    compiled: ClassVar[SiteDefinition]

    @classmethod
    def parse_body(cls, body: bytes, url: str = "") -> list[Ticket]:
        """Parse a saved first page (``test-crawlers SITE --file page``); links resolve against ``url``."""
        if not url.startswith(("http://", "https://")):  # a file name: the list's public URL instead
            url = cls.definition.url.replace(PAGE, str(cls.definition.pages.start))
        return parse_page(body, cls.compiled, url).tickets

    async def crawl(self, fetch: SiteFetcher) -> Crawl:
        """Request pages start, start+step … until an empty page, a page with nothing new, or the caps."""
        d = self.definition
        crawl = Crawl()
        skipped = 0

        async def request(page: int) -> GenericPage:
            url, form = page_request(d, page)
            if d.method == "POST":
                response = await fetch.post(url, data=form, headers=d.headers)
            else:
                response = await fetch.get(url, headers=d.headers)
            return parse_page(response.content, self.compiled, response.url, first=page == d.pages.start)

        # pages start, start + step … until a page without notices
        paging: Numbered[GenericPage] = Numbered(
            d.name, lambda _, result: not result.tickets, d.pages.start, d.pages.step
        )
        limit = min(d.pages.max, self.page_cap)
        async with contextlib.aclosing(paginate(request, paging, limit, crawl)) as pages:
            async for page, result in pages:
                crawl.warnings += result.warnings
                skipped += result.skipped
                if result.tickets and crawl.add(result.tickets) == 0:
                    crawl.notes.append(t("crawl.note.repeats", page=page))
                    break
        crawl.capped = crawl.capped and limit < d.pages.max  # pages.max is the list's own end
        if skipped:
            crawl.notes.append(t("crawl.note.no_id_title", count=skipped))
        return crawl


def build_crawler(definition: CustomSiteSettings) -> type[GenericCrawler]:
    """A ``Crawler`` subclass for one ``custom_sites`` entry (``ValueError`` if the definition is bad)."""
    compiled = definition.compiled()  # compiled once, when the config was validated
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"Custom site {definition.name!r} (custom_sites in the config): {definition.url}",
        "name": definition.name,
        "display_name": definition.display_name,
        "color": definition.color,
        "usual_minimum": definition.usual_minimum,
        "definition": definition,
        "compiled": compiled,
    }
    class_name = "Custom_" + re.sub(r"\W", "_", definition.name)
    return type(class_name, (GenericCrawler,), attrs)
