"""Custom sites: a crawler defined in the config only (``custom_sites``), no code.

A definition (``ticket_alarm.config.CustomSiteSettings``) says where the list is (``url``, ``method``,
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

import re
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any, ClassVar, Final
from urllib.parse import quote, urljoin, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from crawlers.base import Crawl, Crawler
from ticket_alarm.config import CustomSiteSettings
from ticket_alarm.errors import ParseError
from ticket_alarm.http import SiteFetcher, decode_text, parse_json_body
from ticket_alarm.model import SEOUL, Category, Ticket, clean_text

FIELD_NAMES: Final = (
    "id",
    "title",
    "url",
    "open_at",
    "venue",
    "genre",
    "category",
    "image_url",
    "booking_url",
    "views",
)
REQUIRED_FIELDS: Final = ("id", "title")
EPOCH_FORMATS: Final = ("epoch", "epoch_ms")
PAGE: Final = "{page}"
LAYOUT_HINT = "the page is not what custom_sites[{name}] describes; check its items/fields against the page"
CHALLENGE_HINT = "challenge or error page: the site may be blocking this IP; try `proxy`"

# --- JSON paths --------------------------------------------------------------------------------------


class _Wild:
    """The ``[*]`` step."""

    def __repr__(self) -> str:
        return "[*]"


WILD: Final = _Wild()
Step = str | int | _Wild

_SEGMENT = re.compile(
    r"""(?P<dot>\.)?(?:
        (?P<key>[^.\[\]\s"'*]+)
      | (?P<star>\*)
    )
    | \[\s*(?:
        (?P<index>-?\d{1,9})
      | (?P<wild>\*)
      | (?P<q>["'])(?P<qkey>(?:(?!(?P=q)).)*)(?P=q)
    )\s*\]""",
    re.X,
)


@dataclass(frozen=True, slots=True)
class JsonPath:
    """A compiled dotted path; ``steps`` are keys, indexes and ``WILD``."""

    text: str
    steps: tuple[Step, ...]

    @property
    def multi(self) -> bool:
        return any(step is WILD for step in self.steps)

    def describe(self, upto: int) -> str:
        out = ""
        for step in self.steps[:upto]:
            if step is WILD:
                out += "[*]"
            elif isinstance(step, int):
                out += f"[{step}]"
            else:
                out += f".{step}" if out else str(step)
        return out or "$"

    def find(self, data: Any) -> list[Any]:
        """Every value the path reaches; missing keys and indexes reach nothing."""
        current = [data]
        for step in self.steps:
            current = [value for item in current for value in _step(item, step)]
        return current

    def find_strict(self, data: Any) -> list[Any]:
        """Like ``find``, but a missing key, index or list is a ``LookupError`` saying where."""
        current = [data]
        for n, step in enumerate(self.steps):
            following: list[Any] = []
            for item in current:
                values = _step(item, step)
                if not values and not (step is WILD and isinstance(item, list | dict)):
                    raise LookupError(f"{self.describe(n + 1)}: {_why_missing(item, step)}")
                following += values
            current = following
        return current


def _step(value: Any, step: Step) -> list[Any]:
    if step is WILD:
        if isinstance(value, list):
            return list(value)
        if isinstance(value, dict):
            return list(value.values())
        return []
    if isinstance(step, int):
        if isinstance(value, list) and -len(value) <= step < len(value):
            return [value[step]]
        return []
    if isinstance(value, dict) and step in value:
        return [value[step]]
    return []


def _why_missing(value: Any, step: Step) -> str:
    kind = _kind(value)
    if isinstance(step, str):
        if isinstance(value, dict):
            keys = ", ".join(sorted(str(k) for k in value)[:12]) or "none"
            return f"no key {step!r} (keys there: {keys})"
        return f"expected an object with key {step!r}, found {kind}"
    if isinstance(step, int):
        if isinstance(value, list):
            return f"no element [{step}] (the list has {len(value)})"
        return f"expected a list, found {kind}"
    return f"expected a list or object, found {kind}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean"}.get(
        type(value), "a number" if isinstance(value, int | float) else type(value).__name__
    )


def compile_json_path(text: str, *, relative: bool = False) -> JsonPath:
    """Parse ``data.list[*]``; ``ValueError`` says what is wrong and where."""
    source = text.strip()
    rest = source
    if relative and rest.startswith("$"):
        raise ValueError(
            f"{text!r}: field paths are relative to the item; write {rest.lstrip('$.') or 'the key'!r}"
        )
    for prefix in ("$", "@"):
        if rest.startswith(prefix):
            rest = rest[1:]
            break
    steps: list[Step] = []
    pos = 0
    while pos < len(rest):
        match = _SEGMENT.match(rest, pos)
        if match is None:
            raise ValueError(f"{text!r}: cannot read the path at {rest[pos : pos + 10]!r}; {_PATH_SYNTAX}")
        if match["key"] is not None or match["star"] is not None:
            if not match["dot"] and steps:
                raise ValueError(f"{text!r}: a '.' must separate {rest[:pos]!r} and {match[0]!r}")
            if match["dot"] and not steps and not source.startswith(("$", "@")):
                raise ValueError(f"{text!r}: the path starts with '.'; {_PATH_SYNTAX}")
            steps.append(WILD if match["star"] is not None else match["key"])
        elif match["index"] is not None:
            steps.append(int(match["index"]))
        elif match["wild"] is not None:
            steps.append(WILD)
        else:
            steps.append(match["qkey"])
        pos = match.end()
    return JsonPath(source, tuple(steps))


_PATH_SYNTAX = 'expected keys separated by dots with [N], [*] or ["key"] steps, like data.list[*].title'

# --- HTML fields ------------------------------------------------------------------------------------

_ATTR_NAME = re.compile(r"^[A-Za-z_:][-A-Za-z0-9_:.]*$")
_SELF = ("", ".", ":scope")
_PROBE = LexborHTMLParser("<html><body><div><a href='#'>probe</a></div></body></html>")


def split_selector(text: str) -> tuple[str | None, str | None]:
    """``a.title@href`` → ("a.title", "href"); ``@data-id`` → (None, "data-id"); ``.`` → (None, None)."""
    source = text.strip()
    selector, attr = source, None
    if "@" in source:
        head, _, tail = source.rpartition("@")
        if _ATTR_NAME.match(tail.strip()):
            selector, attr = head.strip(), tail.strip().lower()
    return (None if selector in _SELF else selector), attr


def check_selector(selector: str) -> None:
    """``ValueError`` when lexbor cannot parse the CSS selector."""
    try:
        _PROBE.css(selector)
    except Exception as exc:  # selectolax raises its own SelectolaxError (a plain Exception subclass)
        raise ValueError(f"{selector!r} is not a CSS selector lexbor can read ({exc})") from None


# --- dates -------------------------------------------------------------------------------------------

_KO_DATETIME = re.compile(
    r"(?P<y>\d{4})\s*(?:년|[.\-/])\s*(?P<m>\d{1,2})\s*(?:월|[.\-/])\s*(?P<d>\d{1,2})(?!\d)\s*일?\.?"
    r"(?:\s*[(（]\s*[^()（）\d]{1,3}\s*[)）])?"
    r"(?:(?:\s*|T)(?P<ampm>오전|오후|AM|PM|am|pm)?\s*(?P<H>\d{1,2})\s*(?::|시)\s*(?:(?P<M>\d{1,2})\s*분?)?"
    r"(?::(?P<S>\d{1,2})(?:[.,]\d+)?)?\s*(?P<tz>Z|[+-]\d{2}:?\d{2})?)?"
)
_DIGITS = re.compile(r"^\s*\d{9,14}\s*$")
_TIME_DIRECTIVES = ("%H", "%I", "%M", "%X", "%c", "%T", "%R")
_SAMPLE = datetime(2027, 11, 23, 19, 45, 30)


def check_time_format(fmt: str) -> None:
    """``ValueError`` unless ``fmt`` is ``epoch``/``epoch_ms`` or a strptime format with a year."""
    if fmt in EPOCH_FORMATS:
        return
    if not any(d in fmt for d in ("%Y", "%y", "%G", "%c", "%x")):
        raise ValueError(f"{fmt!r} has no year (%Y); add it, or cut the date out with a field regex")
    try:
        datetime.strptime(_SAMPLE.strftime(fmt), fmt)
    except ValueError as exc:
        raise ValueError(f"{fmt!r} is not a strptime format Python can read back ({exc})") from None


def _seoul(moment: datetime) -> datetime:
    return moment.replace(tzinfo=SEOUL) if moment.tzinfo is None else moment.astimezone(SEOUL)


def _from_epoch(number: float, *, millis: bool | None = None) -> datetime | None:
    if millis is None:
        millis = abs(number) >= 10**11
    try:
        return datetime.fromtimestamp(number / 1000 if millis else number, UTC).astimezone(SEOUL)
    except (OverflowError, OSError, ValueError):
        return None


def auto_datetime(text: str) -> tuple[datetime | None, date | None] | None:
    """Common Korean and ISO spellings → (open_at, None), a day alone → (None, day); None: no date."""
    if _DIGITS.match(text):
        moment = _from_epoch(int(text))
        return (moment, None) if moment else None
    match = _KO_DATETIME.search(text)
    if match is None:
        return None
    try:
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
        if match["H"] is None:
            return None, day
        hour = int(match["H"])
        ampm = (match["ampm"] or "").lower()
        if ampm in ("오후", "pm") and hour < 12:
            hour += 12
        elif ampm in ("오전", "am") and hour == 12:
            hour = 0
        moment = datetime(day.year, day.month, day.day, hour, int(match["M"] or 0), int(match["S"] or 0))
    except ValueError:  # 2027.13.45, 25:00
        return None
    tz = match["tz"]
    if tz:
        if tz == "Z":
            return moment.replace(tzinfo=UTC).astimezone(SEOUL), None
        sign = 1 if tz[0] == "+" else -1
        digits = tz[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
        try:
            return moment.replace(tzinfo=timezone(sign * offset)).astimezone(SEOUL), None
        except ValueError:
            return None
    return _seoul(moment), None


def _strptime(text: str, formats: Sequence[str]) -> tuple[datetime | None, date | None] | None:
    for fmt in formats:
        if fmt in EPOCH_FORMATS:
            try:
                number = float(text.strip())
            except ValueError:
                continue
            moment = _from_epoch(number, millis=fmt == "epoch_ms")
            if moment is not None:
                return moment, None
            continue
        try:
            parsed = datetime.strptime(text.strip(), fmt)
        except ValueError:
            continue
        if not any(d in fmt for d in _TIME_DIRECTIVES):
            return None, parsed.date()
        return _seoul(parsed), None
    return None


# --- the compiled definition ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FieldRule:
    name: str
    path: str
    json_path: JsonPath | None = None  # json
    selector: str | None = None  # html; None: the item itself
    attr: str | None = None  # html; None: the text
    regex: re.Pattern[str] | None = None


@dataclass(frozen=True, slots=True)
class SiteDefinition:
    """A ``CustomSiteSettings`` checked and compiled once."""

    settings: CustomSiteSettings
    items_path: JsonPath | None
    items_selector: str | None
    fields: Mapping[str, FieldRule]
    template_fields: tuple[str, ...]
    exclusive: re.Pattern[str] | None
    tba: tuple[str, ...]
    empty_texts: tuple[str, ...]

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def hint(self) -> str:
        return LAYOUT_HINT.format(name=self.settings.name)


def compile_site(definition: CustomSiteSettings) -> SiteDefinition:
    """Check and compile a definition. ``ValueError`` names the key at fault (``fields.id.regex: …``)."""
    d = definition
    _check_url(d.url, "url")
    if d.method == "GET" and d.form:
        raise ValueError("form: a form is only sent with method POST; set method to POST or drop form")
    paged = PAGE in d.url or any(PAGE in v for v in d.form.values())
    if d.pages.max > 1 and not paged:
        raise ValueError(
            f"pages.max is {d.pages.max} but neither url nor form holds {PAGE}; put {PAGE} where the page "
            "number goes, or set pages.max to 1"
        )
    for name, value in d.headers.items():
        if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ValueError(f"headers.{name}: not a valid HTTP header name")
        if any(ch in value for ch in "\r\n\0"):
            raise ValueError(f"headers.{name}: the value holds a line break")
    items_path: JsonPath | None = None
    items_selector: str | None = None
    if d.format == "json":
        try:
            items_path = compile_json_path(d.items)
        except ValueError as exc:
            raise ValueError(f"items: {exc}") from None
    else:
        if not d.items.strip():
            raise ValueError("items: empty; give the CSS selector of one notice (e.g. table.board tbody tr)")
        try:
            check_selector(d.items)
        except ValueError as exc:
            raise ValueError(f"items: {exc}") from None
        items_selector = d.items.strip()
    unknown = sorted(set(d.fields) - set(FIELD_NAMES))
    if unknown:
        raise ValueError(f"fields.{unknown[0]}: unknown field; the fields are {', '.join(FIELD_NAMES)}")
    for name in REQUIRED_FIELDS:
        if name not in d.fields:
            raise ValueError(f"fields.{name}: missing; every custom site needs fields.id and fields.title")
    if d.url_template and "url" in d.fields:
        raise ValueError("url_template: give fields.url or url_template, not both")
    if not d.url_template and "url" not in d.fields:
        raise ValueError(
            "fields.url: missing; the alert needs a link: give fields.url (a link in the item) or "
            "url_template (e.g. https://example.com/notice/{id})"
        )
    fields: dict[str, FieldRule] = {}
    for name, spec in d.fields.items():
        fields[name] = _compile_field(d.format, name, spec.path, spec.regex)
    template_fields: tuple[str, ...] = ()
    if d.url_template:
        template_fields = _template_names(d.url_template, d.fields)
        _check_url(d.url_template, "url_template")  # placeholders in the path or query, never the host
    for n, fmt in enumerate(d.open_at_format):
        try:
            check_time_format(fmt)
        except ValueError as exc:
            raise ValueError(f"open_at_format[{n}]: {exc}") from None
    exclusive = None
    if d.exclusive_keyword:
        word = re.escape(d.exclusive_keyword.strip())
        exclusive = re.compile(rf"[\[［【(（<]?\s*{word}\s*[\]］】)）>]?")
    return SiteDefinition(
        settings=d,
        items_path=items_path,
        items_selector=items_selector,
        fields=fields,
        template_fields=template_fields,
        exclusive=exclusive,
        tba=tuple(_squash(w) for w in d.tba_words if w.strip()),
        empty_texts=tuple(_squash(w) for w in d.empty_text if w.strip()),
    )


def _compile_field(fmt: str, name: str, path: str, regex: str | None) -> FieldRule:
    where = f"fields.{name}"
    pattern = None
    if regex is not None:
        try:
            pattern = re.compile(regex)
        except re.error as exc:
            raise ValueError(f"{where}.regex: bad regular expression {regex!r}: {exc}") from None
    if fmt == "json":
        try:
            json_path = compile_json_path(path, relative=True)
        except ValueError as exc:
            raise ValueError(f"{where}.path: {exc}") from None
        return FieldRule(name, path, json_path=json_path, regex=pattern)
    selector, attr = split_selector(path)
    if selector is not None:
        try:
            check_selector(selector)
        except ValueError as exc:
            raise ValueError(f"{where}.path: {exc}") from None
    return FieldRule(name, path, selector=selector, attr=attr, regex=pattern)


def _template_names(template: str, fields: Mapping[str, object]) -> tuple[str, ...]:
    names: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as exc:
        raise ValueError(f"url_template: {exc}; write placeholders as {{id}}") from None
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if spec or conversion or name not in FIELD_NAMES:
            raise ValueError(
                f"url_template: placeholder {{{name}}} is not a field name; use {{id}} or another of "
                f"{', '.join(FIELD_NAMES)}"
            )
        if name not in fields:
            raise ValueError(f"url_template: placeholder {{{name}}} needs fields.{name}")
        names.append(name)
    return tuple(names)


def _check_url(url: str, key: str) -> None:
    parts = urlsplit(url.replace(PAGE, "1"))
    if parts.scheme not in ("http", "https") or not parts.netloc or "{" in parts.netloc:
        raise ValueError(f"{key}: expected an absolute http(s) URL like https://www.example.com/notice")


def _squash(text: str) -> str:
    return "".join(text.split()).lower()


# --- parsing (pure) ----------------------------------------------------------------------------------


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
        return compile_site(definition)
    except ValueError as exc:
        raise ParseError(definition.name, f"the definition is invalid: {exc}") from None


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
    data = parse_json_body(raw, site.name, where)
    assert site.items_path is not None
    try:
        found = site.items_path.find_strict(data)
    except LookupError as exc:
        raise ParseError(
            site.name,
            f"items path {site.items_path.text!r} not in the JSON from {where}: {exc}",
            hint=site.hint,
        ) from None
    except RecursionError:
        raise ParseError(site.name, f"the JSON from {where} is nested too deeply") from None
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
                f"items path {site.items_path.text!r} leads to {_kind(value)}, not a list, in the JSON "
                f"from {where}",
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
                f"fields.{rule.name} ({rule.path!r}) is {_kind(value)} in item {n} of the JSON from {where}; "
                "point the path at a text or number inside it",
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
            if not text.strip():
                raise ParseError(site.name, f"empty page from {where}", hint=CHALLENGE_HINT)
            raise ParseError(
                site.name,
                f"no element matches items {site.items_selector!r} in the page from {where} (a changed "
                "layout or a challenge page?); if the board is just empty, add its wording to empty_text",
                hint=site.hint,
            )
        _check_some(page, site, where)
    return page


def _says_empty(tree: LexborHTMLParser, site: SiteDefinition) -> bool:
    body = tree.body
    text = _squash(body.text(deep=True) if body is not None else "")
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
            f"none of the {page.items} items from {where} has an id or a title "
            f"(fields.id {site.fields['id'].path!r}, fields.title {site.fields['title'].path!r})",
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
        page.warnings.append(
            f"notice {notice_id or title[:40]!r}: open time {open_text[:60]!r} is not a date "
            f"{'matching open_at_format' if d.open_at_format else 'this crawler can read'}; "
            "sent as 추후 공지 (set open_at_format or a fields.open_at regex)"
        )
    views_text = re.sub(r"[,\s]", "", values.get("views") or "")
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
            views=int(views_text) if views_text.isascii() and views_text.isdigit() else None,
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
    parsed = _strptime(text, formats) if formats else auto_datetime(text)
    if parsed is not None:
        return parsed[0], parsed[1], ""
    squashed = _squash(text)
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
        limit = min(d.pages.max, self.page_cap)
        page = d.pages.start
        skipped = 0
        for n in range(limit):
            url, form = page_request(d, page)
            if d.method == "POST":
                response = await fetch.post(url, data=form, headers=d.headers)
            else:
                response = await fetch.get(url, headers=d.headers)
            crawl.pages += 1
            result = parse_page(response.content, self.compiled, response.url, first=n == 0)
            crawl.warnings += result.warnings
            skipped += result.skipped
            if not result.tickets:
                break
            if crawl.add(result.tickets) == 0:
                crawl.notes.append(f"page {page} repeats notices already seen; the list ends there")
                break
            page += d.pages.step
        else:
            crawl.capped = limit < d.pages.max
        if skipped:
            crawl.notes.append(f"{skipped} items without id and title left out (header or 'no posts' rows)")
        return crawl


def build_crawler(definition: CustomSiteSettings) -> type[GenericCrawler]:
    """A ``Crawler`` subclass for one ``custom_sites`` entry (``ValueError`` if the definition is bad)."""
    compiled = compile_site(definition)
    parts = urlsplit(definition.url.replace(PAGE, "1"))
    attrs: dict[str, Any] = {
        "__module__": __name__,
        "__doc__": f"Custom site {definition.name!r} (custom_sites in the config): {definition.url}",
        "name": definition.name,
        "display_name": definition.display_name,
        "color": definition.color,
        "default_base_url": f"{parts.scheme}://{parts.netloc}",
        "usual_minimum": definition.usual_minimum,
        "definition": definition,
        "compiled": compiled,
    }
    class_name = "Custom_" + re.sub(r"\W", "_", definition.name)
    return type(class_name, (GenericCrawler,), attrs)
