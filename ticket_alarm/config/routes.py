"""Route matching: which notices a route wants.

Filters, all of which must pass: ``sites``, ``categories`` (open/change), ``exclusive_only``,
``genres`` (keywords against the genre), ``include`` (any keyword or /regex/ against title, venue
and genre) and ``exclude`` (none may match). Keywords are case-, width- (full-width ＢＴＳ = BTS)
and space-insensitive ("아이유 콘서트" = "아이유콘서트").

The catch-all (``discord_webhook_url``, route ``default``, "the main channel") receives every notice
when ``main_receives`` is ``"all"`` (the default: routes add channels), or only what no route in
``routes`` takes when it is ``"unrouted"``. Without any destination (the dry run) the stdout notifier's
lane is the catch-all: ``router_for`` is the one place that decides it.

A route names one or more destinations (``webhook_url``, ``ntfy_url``, ``telegram``); each has its own
outbox lane (``destinations``), so the router answers in routes (``routes_for``) and in lanes
(``lanes_for``), and a lane's reminders are its route's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import time
from functools import lru_cache
from typing import TYPE_CHECKING, Literal, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from ticket_alarm.core.model import Ticket
from ticket_alarm.core.sections import Section, no_control
from ticket_alarm.core.urls import check_ntfy_token, check_ntfy_url, check_webhook
from ticket_alarm.i18n import t

if TYPE_CHECKING:
    from ticket_alarm.config.settings import Settings

# --- the config section this module owns (``routes``) ------------------------------------------

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
DestinationKind = Literal["discord", "ntfy", "telegram"]


class NtfyPriorities(Section):
    """ntfy priority (1 min … 5 max) by what an alert is; a route may override any of them."""

    reminder: int = Field(5, ge=1, le=5, description="a reminder before an open")
    urgent: int = Field(4, ge=1, le=5, description="a new presale, or an open within 24 hours")
    notice: int = Field(3, ge=1, le=5, description="a new notice or a change")
    digest: int = Field(2, ge=1, le=5, description="a digest")


class TelegramSettings(Section):
    """A Telegram chat reached through a bot: the token is a secret (it sits in the Bot API's URL path)."""

    bot_token: str
    chat_id: str
    api_base: str = Field("https://api.telegram.org", description="the Bot API server (tests: a stand-in)")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, value: str) -> str:
        if not re.fullmatch(r"\d{3,15}:[A-Za-z0-9_-]{30,64}", value.strip()):
            raise ValueError(t("config.telegram_token"))
        return value.strip()

    @field_validator("chat_id", mode="before")
    @classmethod
    def _chat_shape(cls, value: object) -> object:
        text = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else value
        if not isinstance(text, str) or not re.fullmatch(r"-?\d{1,20}|@[A-Za-z][A-Za-z0-9_]{3,31}", text):
            raise ValueError(t("config.telegram_chat"))
        return text


class Zoned(Section):
    """A section with times of day: in ``tz``, an IANA time zone (KST unless given)."""

    tz: str = "Asia/Seoul"

    @field_validator("tz")
    @classmethod
    def _tz(cls, value: str) -> str:
        return check_tz(value)


class QuietHours(Zoned):
    """A window (KST unless ``tz``; may cross midnight; ``days`` the days it starts on) in which the
    route's alerts wait in the outbox (``mode`` "hold") or arrive without a notification ("silent")."""

    model_config = Zoned.model_config | {"populate_by_name": True}

    start: str = Field(alias="from", description="HH:MM the window opens")
    end: str = Field(alias="to", description="HH:MM the window closes")
    days: list[Weekday] | None = None
    urgent_within: str = Field("12h", description="an open or presale this close passes at once")
    mode: Literal["hold", "silent"] = "hold"

    @field_validator("start", "end")
    @classmethod
    def _clock(cls, value: str) -> str:
        return check_hhmm(value, "quiet_hours")

    @field_validator("urgent_within")
    @classmethod
    def _span(cls, value: str) -> str:
        try:
            span_seconds(value)
        except ValueError:
            raise ValueError(t("config.quiet.span", value=value)) from None
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError(t("config.quiet.empty", value=self.start))
        return self


class DigestSettings(Zoned):
    """One message per period instead of one per alert."""

    every: Literal["day", "week"]
    at: str = "09:00"
    weekday: Weekday = "mon"

    @field_validator("at")
    @classmethod
    def _clock(cls, value: str) -> str:
        return check_hhmm(value, "digest")


class RouteSettings(Section):
    name: str = Field(min_length=1, max_length=64)
    webhook_url: str | None = Field(None, description="a Discord webhook (one destination of several)")
    sites: list[str] | None = Field(None, description="only these sites; default all")
    include: list[str] = Field(default_factory=list, description="keywords or /regex/; any must match")
    exclude: list[str] = Field(default_factory=list, description="keywords or /regex/; none may match")
    genres: list[str] | None = Field(
        None, description="only notices whose genre matches one of these keywords"
    )
    exclusive_only: bool = Field(False, description="only 단독판매 notices")
    categories: list[Literal["open", "change"]] | None = Field(None, description="open and/or change notices")
    mention_role_ids: list[str] = Field(default_factory=list, description="role ids pinged in each message")
    thread_id: str | None = Field(None, description="post into this forum/thread id")
    on_change: Literal["edit+post", "edit", "post"] = Field(
        "edit+post", description="a change edits the posted alert (and posts a short note), or only posts"
    )
    forum: bool = Field(False, description="the webhook's channel is a forum: one thread per notice")
    applied_tags: list[str] = Field(default_factory=list, description="forum tag ids for each new thread")
    reminders: list[int] = Field(default_factory=list, description="minutes before open_at to remind")
    ntfy_url: str | None = Field(None, description="publish to this ntfy topic URL")
    ntfy_token: str | None = Field(None, description="ntfy access token (sent as a Bearer header)")
    ntfy_priority: NtfyPriorities = Field(default_factory=NtfyPriorities)
    telegram: TelegramSettings | None = None
    quiet_hours: QuietHours | None = None
    digest: DigestSettings | None = None

    @field_validator("name")
    @classmethod
    def _printable_name(cls, value: str) -> str:
        return no_control(value, "route name")

    @field_validator("sites")
    @classmethod
    def _printable_sites(cls, values: list[str] | None) -> list[str] | None:
        for value in values or ():
            no_control(value, "site name")
        return values

    @field_validator("mention_role_ids")
    @classmethod
    def _role_ids(cls, values: list[str]) -> list[str]:
        return check_role_ids(values)

    @field_validator("thread_id")
    @classmethod
    def _thread_id(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"\d{5,25}", str(value)):
            raise ValueError(f"thread_id {value!r} is not a Discord snowflake (digits only)")
        return value

    @field_validator("reminders")
    @classmethod
    def _reminders(cls, values: list[int]) -> list[int]:
        return check_reminders(values)

    @field_validator("webhook_url")
    @classmethod
    def _webhook_shape(cls, value: str | None) -> str | None:
        return None if value is None or value.strip() == "" else check_webhook(value)

    @field_validator("ntfy_url")
    @classmethod
    def _ntfy_shape(cls, value: str | None) -> str | None:
        return check_ntfy_url(value)

    @field_validator("ntfy_token")
    @classmethod
    def _ntfy_token_shape(cls, value: str | None) -> str | None:
        return check_ntfy_token(value)

    @model_validator(mode="after")
    def _has_destination(self) -> RouteSettings:
        if not destinations(self):
            raise ValueError(t("config.route_no_destination", name=self.name))
        if self.ntfy_token and not self.ntfy_url:
            raise ValueError(t("config.ntfy_token_alone", name=self.name))
        return self

    @field_validator("include", "exclude")
    @classmethod
    def _patterns(cls, values: list[str]) -> list[str]:
        for pattern in values:
            if not pattern.strip():
                raise ValueError("empty keyword; remove it")
            if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
                try:
                    re.compile(pattern[1:-1])
                except re.error as exc:
                    raise ValueError(f"bad regular expression {pattern!r}: {exc}") from None
        return values


@dataclass(frozen=True, slots=True)
class Destination:
    """One destination of a route, and the outbox lane its alerts wait in: the Discord webhook keeps
    the route's name (rows written before other notifiers existed), the others ``NAME/ntfy`` and
    ``NAME/telegram``."""

    lane: str
    kind: DestinationKind
    route: RouteSettings


def destinations(route: RouteSettings) -> list[Destination]:
    """Every destination ``route`` names, Discord first."""
    out = [Destination(route.name, "discord", route)] if route.webhook_url else []
    if route.ntfy_url:
        out.append(Destination(f"{route.name}/ntfy", "ntfy", route))
    if route.telegram is not None:
        out.append(Destination(f"{route.name}/telegram", "telegram", route))
    return out


def hhmm(text: str) -> time:
    """``"23:00"`` as a time; ValueError unless HH:MM with HH < 24 and MM < 60."""
    match = re.fullmatch(r"(\d{2}):(\d{2})", text)
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError(text)
    return time(int(match[1]), int(match[2]))


def span_seconds(text: str) -> int:
    """``30m``, ``12h``, ``2d`` in seconds; ValueError otherwise."""
    match = re.fullmatch(r"(\d{1,4})([mhd])", text.strip())
    if not match:
        raise ValueError(text)
    return int(match[1]) * {"m": 60, "h": 3600, "d": 86400}[match[2]]


def check_hhmm(value: str, section: str) -> str:
    try:
        hhmm(value)
    except ValueError:
        raise ValueError(t("config.quiet.clock", section=section, value=value)) from None
    return value


def check_tz(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(t("config.quiet.tz", value=value)) from None
    return value


def check_role_ids(values: list[str]) -> list[str]:
    for value in values:
        if not re.fullmatch(r"\d{5,25}", str(value)):
            raise ValueError(f"role id {value!r} is not a Discord snowflake (digits only)")
    return [str(v) for v in values]


def check_reminders(values: list[int]) -> list[int]:
    for minutes in values:
        if not 1 <= minutes <= 10080:
            raise ValueError(f"reminder offset {minutes} is not between 1 and 10080 minutes (a week)")
    if len(set(values)) != len(values):
        raise ValueError("reminder offsets repeat")
    return sorted(values, reverse=True)


def normalise(text: str) -> str:
    """Case-, width- and spacing-insensitive form: NFKC (full-width → half-width), casefold, no spaces."""
    return re.sub(r"\s+", "", unicodedata.normalize("NFKC", text)).casefold()


@lru_cache(maxsize=512)
def _compile(pattern: str) -> re.Pattern[str] | str:
    if len(pattern) >= 2 and pattern.startswith("/") and pattern.endswith("/"):
        return re.compile(pattern[1:-1], re.IGNORECASE)
    return normalise(pattern)


def keyword_matches(pattern: str, text: str) -> bool:
    compiled = _compile(pattern)
    if isinstance(compiled, str):
        return compiled in normalise(text)
    return compiled.search(unicodedata.normalize("NFKC", text)) is not None


def explain_route(route: RouteSettings, ticket: Ticket) -> tuple[bool, str]:
    """Whether ``route`` takes ``ticket``, and the reason in words (for ``explain``)."""
    if route.sites is not None and ticket.site not in route.sites:
        return False, t("route.site", site=ticket.site, sites=route.sites)
    if route.categories is not None and ticket.category not in route.categories:
        return False, t("route.category", category=ticket.category, categories=route.categories)
    if route.exclusive_only and not ticket.exclusive:
        return False, t("route.exclusive")
    if route.genres is not None and not any(keyword_matches(g, ticket.genre) for g in route.genres):
        return False, t("route.genre", genre=ticket.genre or t("route.no_genre"), genres=route.genres)
    # NUL, not a space: normalise() drops spaces, and "BT" + "S 아레나" must not match "BTS"
    haystack = "\x00".join((ticket.title, ticket.venue, ticket.genre))
    if route.include:
        hits = [p for p in route.include if keyword_matches(p, haystack)]
        if not hits:
            return False, t("route.no_include", include=route.include)
    else:
        hits = []
    blocked = [p for p in route.exclude if keyword_matches(p, haystack)]
    if blocked:
        return False, t("route.excluded", keyword=blocked[0])
    return True, t("route.included", keyword=hits[0]) if hits else t("route.no_filter")


def route_matches(route: RouteSettings, ticket: Ticket) -> bool:
    return explain_route(route, ticket)[0]


@dataclass(frozen=True, slots=True)
class Verdict:
    route: str
    matched: bool
    reason: str


class Lane(Protocol):
    """What the router needs of a catch-all: its name and its reminders (a route, or the stdout lane)."""

    @property
    def name(self) -> str: ...

    @property
    def reminders(self) -> Sequence[int]: ...


STDOUT_ROUTE = "dry-run"  # the lane of the stdout notifier (the dry run: no webhook configured)


@dataclass(frozen=True, slots=True)
class StdoutLane:
    """The dry run's lane: every notice, printed by the stdout notifier, with ``reminders``."""

    name: str = STDOUT_ROUTE
    reminders: tuple[int, ...] = ()


MainReceives = Literal["all", "unrouted"]


def route_verdicts(
    routes: Sequence[RouteSettings],
    ticket: Ticket,
    catch_all: Lane | None = None,
    *,
    only_reason: str | None = None,
    main_receives: MainReceives = "all",
) -> list[Verdict]:
    """Each route's decision on ``ticket``, then the catch-all's: every notice (``main_receives``
    "all") or what no route took ("unrouted"). ``only_reason``: its verdict when it is the only lane."""
    out = [Verdict(r.name, *explain_route(r, ticket)) for r in routes if r is not catch_all]
    if catch_all is not None:
        taken = [v.route for v in out if v.matched]
        if not out:
            reason = only_reason or t("route.catch_all.only")
        elif main_receives == "all":
            reason = t("route.main.all_also", route=taken[0]) if taken else t("route.main.all")
        elif taken:
            reason = t("route.catch_all.taken", route=taken[0])
        else:
            reason = t("route.catch_all.matched_no_route")
        out.append(Verdict(catch_all.name, main_receives == "all" or not taken, reason))
    return out


class Router:
    """Which lanes (routes) a ticket goes to, and which reminders each lane wants."""

    def __init__(
        self,
        routes: Sequence[RouteSettings],
        catch_all: Lane | None = None,
        *,
        only_reason: str | None = None,
        main_receives: MainReceives = "all",
    ) -> None:
        self.routes = list(routes)
        self.catch_all = catch_all
        self.only_reason = only_reason
        self.main_receives = main_receives

    @property
    def lanes(self) -> list[Lane]:
        return [*self.routes, *([self.catch_all] if self.catch_all else [])]

    def verdicts(self, ticket: Ticket) -> list[Verdict]:
        return route_verdicts(
            self.routes,
            ticket,
            self.catch_all,
            only_reason=self.only_reason,
            main_receives=self.main_receives,
        )

    def routes_for(self, ticket: Ticket) -> list[str]:
        """The names of the routes (and catch-all) that take ``ticket``."""
        return [v.route for v in self.verdicts(ticket) if v.matched]

    def lanes_for(self, ticket: Ticket) -> list[str]:
        """The outbox lanes ``ticket`` goes to: every destination of every route that takes it."""
        taken = set(self.routes_for(ticket))
        return [name for lane in self.lanes if lane.name in taken for name in lane_names(lane)]

    def reminders_for(self, lane: str) -> tuple[int, ...]:
        """The reminders of the route that owns ``lane`` (each of its destinations reminds alike)."""
        return next((tuple(r.reminders) for r in self.lanes if lane in lane_names(r)), ())


def lane_names(lane: Lane) -> list[str]:
    """The outbox lanes of a route (one per destination), or the stdout lane's own name."""
    if isinstance(lane, RouteSettings):
        return [d.lane for d in destinations(lane)]
    return [lane.name]


def router_for(settings: Settings) -> Router:
    """The configured routes and catch-all; with no destination at all, the stdout lane takes everything."""
    if settings.dry_run:
        return Router([], StdoutLane(reminders=tuple(settings.reminders)), only_reason=t("route.dry_run"))
    return delivery_router(settings)


def delivery_router(settings: Settings) -> Router:
    """The configured destinations only (no stdout lane): which routes take a notice (page, feeds)."""
    return Router(settings.routes or [], settings.catch_all(), main_receives=settings.main_receives)
