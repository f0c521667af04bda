"""A custom site's definition: the ``custom_sites`` config section and its compiled, checked form.

``CustomSiteSettings`` is the section (keys, defaults, bounds); validating one also compiles it
(``compile_site``: paths, selectors, regexes, formats), once, so what loads is exactly what crawls.
The compiled ``SiteDefinition`` is kept on the settings (``compiled()``); the crawler reuses it.
"""

from __future__ import annotations

import re
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal
from urllib.parse import quote, unquote_plus, urlsplit

from pydantic import (
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)
from selectolax.lexbor import LexborHTMLParser

from crawlers.custom.dates import check_time_format
from crawlers.custom.jsonpath import JsonPath, compile_json_path
from ticket_alarm.core.sections import Section, describe_error, no_control
from ticket_alarm.i18n import t

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
PAGE: Final = "{page}"

CUSTOM_TBA_WORDS = ["추후", "미정", "TBA", "TBD", "공지예정", "오픈예정"]
CUSTOM_EMPTY_TEXT = [
    "게시물이 없습니다",
    "게시글이 없습니다",
    "등록된 글이 없습니다",
    "검색 결과가 없습니다",
    "검색된 결과가 없습니다",
    "데이터가 없습니다",
    "자료가 없습니다",
    "공지사항이 없습니다",
]
# header, query and form names whose values are credentials (not "searchKeyword")
_SECRET_NAME = re.compile(
    r"auth|cookie|token|secret|passw|session|credential|signature|(?:api|service|access)[-_]?key"
    r"|^(?:key|sig|service)$",
    re.IGNORECASE,
)


class CustomFieldSettings(Section):
    path: str = Field(description="JSON path relative to the item (json) or CSS selector[@attr] (html)")
    regex: str | None = Field(None, description="keep the first group (or the whole match) of this regex")


class CustomPagesSettings(Section):
    start: int = Field(1, ge=0, description="the first page number put into {page}")
    step: int = Field(1, ge=1, description="added to {page} for the next page (e.g. 10 for offsets)")
    max: int = Field(1, ge=1, le=500, description="pages per crawl at most (sites.<name>.page_cap too)")


class CustomSiteSettings(Section):
    """One entry of ``custom_sites``: a notice board watched without code (docs/custom-sites.md)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{1,31}$", description="lowercase identifier, e.g. sejong")
    display_name: str = Field(min_length=1, max_length=100)
    color: int = Field(0x5865F2, ge=0, le=0xFFFFFF, description='embed colour, "#AA3366" or an integer')
    url: str = Field(description="the list's public URL; {page} is replaced by the page number")
    method: Literal["GET", "POST"] = "GET"
    form: dict[str, str] = Field(default_factory=dict, description="POST form; values may hold {page}")
    headers: dict[str, str] = Field(default_factory=dict)
    format: Literal["json", "html"]
    items: str = Field(description="JSON path to the item list (json) or CSS selector of one item (html)")
    fields: dict[str, CustomFieldSettings]
    url_template: str | None = Field(None, description="the notice link built from fields, e.g. …/{id}")
    open_at_format: list[str] = Field(default_factory=list, description="strptime formats, epoch, epoch_ms")
    tba_words: list[str] = Field(default_factory=lambda: list(CUSTOM_TBA_WORDS))
    empty_text: list[str] = Field(default_factory=lambda: list(CUSTOM_EMPTY_TEXT))
    pages: CustomPagesSettings = Field(default_factory=CustomPagesSettings)
    exclusive_keyword: str | None = Field(None, description="a title/category holding it is 단독판매")
    change_keywords: list[str] = Field(default_factory=list, description="category (or title) → change")
    usual_minimum: int = Field(1, ge=0, description="notices the board normally lists at least")
    _compiled: SiteDefinition | None = PrivateAttr(None)

    @model_validator(mode="wrap")
    @classmethod
    def _name_the_site(cls, data: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo) -> Any:
        """Every problem names the site and the key: ``custom site 'sejong': fields.id.regex: …``.

        After the fields, the crawler's own compiler checks paths, selectors, regexes and formats, so
        what loads is exactly what crawls; the compiled form is kept (``compiled()``), compiled once.
        """
        name = data.get("name") if isinstance(data, dict) else getattr(data, "name", None)
        label = name if isinstance(name, str) else "(no name)"
        try:
            site = handler(data)
        except ValidationError as exc:
            problems = "; ".join(describe_error(e, cls) for e in exc.errors())
            raise ValueError(f"custom site {label!r}: {problems}") from None
        assigned = info.field_name in cls.model_fields  # validate_assignment: one key of this site
        if site is data and site._compiled is not None and not assigned:
            return site  # an instance validated and compiled before (e.g. passed to Settings(...))
        try:
            site._compiled = compile_site(site)
        except ValueError as exc:
            raise ValueError(f"custom site {label!r}: {exc}") from None
        return site

    @field_validator("display_name")
    @classmethod
    def _printable_display_name(cls, value: str) -> str:
        return no_control(value, "display_name")

    @field_validator("color", mode="before")
    @classmethod
    def _color(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip().removeprefix("#").removeprefix("0x").removeprefix("0X")
            if not re.fullmatch(r"[0-9A-Fa-f]{6}", text):
                raise ValueError(f'colour {value!r}: expected "#RRGGBB" or an integer')
            return int(text, 16)
        return value

    @field_validator("method", mode="before")
    @classmethod
    def _method(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value

    @field_validator("fields", mode="before")
    @classmethod
    def _field_shorthand(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: {"path": v} if isinstance(v, str) else v for k, v in value.items()}
        return value

    @field_validator("open_at_format", mode="before")
    @classmethod
    def _one_format(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    def compiled(self) -> SiteDefinition:
        """The definition checked and compiled: kept from validation, compiled now if built without it
        (``model_construct``; ``ValueError`` names the key at fault)."""
        if self._compiled is None:
            self._compiled = compile_site(self)
        return self._compiled

    def secret_values(self) -> list[str]:
        """Header, query and form values whose names say they are credentials."""
        out: list[str] = []
        for name, value in self.headers.items():
            if _SECRET_NAME.search(name) and value:
                out.append(value)
                scheme, _, credential = value.partition(" ")
                if credential and scheme.isalpha():
                    out.append(credential.strip())
        pairs = list(self.form.items())
        for raw in urlsplit(self.url).query.split("&"):  # as written in the URL and as decoded
            name, _, value = raw.partition("=")
            pairs += [(unquote_plus(name), value), (unquote_plus(name), unquote_plus(value))]
        out += [value for name, value in pairs if _SECRET_NAME.search(name) and value and "{" not in value]
        return list(dict.fromkeys(out))

    def masked(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        secrets = sorted(self.secret_values(), key=len, reverse=True)
        for key in ("url", "url_template"):
            for secret in secrets:
                if data[key]:
                    data[key] = data[key].replace(quote(secret, safe=""), "****").replace(secret, "****")
        for group in ("headers", "form"):
            for name in data[group]:
                if _SECRET_NAME.search(name):
                    data[group][name] = "****"
        return data


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
        return t("crawl.hint.custom_layout", name=self.settings.name)  # read when raised


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
        tba=tuple(squash(w) for w in d.tba_words if w.strip()),
        empty_texts=tuple(squash(w) for w in d.empty_text if w.strip()),
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


def squash(text: str) -> str:
    return "".join(text.split()).lower()


# --- parsing (pure) ----------------------------------------------------------------------------------
