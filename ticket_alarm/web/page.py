"""The status page (``GET /``): Korean, phone-friendly, no external assets, refreshed by itself.

Rendered on the server from the read-only queries it awaits (``upcoming``, ``recent_alerts``, site
state, outbox stats): every notice is in the HTML, so the page works without JavaScript; the
inline script (allowed by its per-response nonce) filters by site and route, searches in the
route keywords' normal form, and every ``REFRESH_SECONDS`` swaps in a fresh copy of ``#live``.
Scraped text is escaped, scraped links are kept only when they are http(s), and no secret is
ever rendered (route names only; errors pass through the redactor).
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from html import escape
from urllib.parse import urlencode

from crawlers.base import Crawler
from ticket_alarm.clock import KOREAN_AGE_UNITS, Clock, SystemClock, age_text
from ticket_alarm.config.routes import Router
from ticket_alarm.config.settings import OPS_ROUTE, Settings
from ticket_alarm.core.model import SEOUL
from ticket_alarm.logs import redact
from ticket_alarm.ops import health
from ticket_alarm.ops.metrics import Metrics
from ticket_alarm.store import SiteState
from ticket_alarm.store.api import HeadState, RecentAlert
from ticket_alarm.store.api import Store as StoreProtocol
from ticket_alarm.web.upcoming import SiteLook, UpcomingNotice, by_show, upcoming

REFRESH_SECONDS = 30
RECENT_ALERTS = 20
HEALTH_CUT = 60  # characters of a failing site's problem in the page's health line
WEEKDAYS = "월화수목금토일"
STATUS_KO = {"sent": "전송됨", "pending": "대기 중", "dead": "실패(전송 불가)"}
KIND_KO = {"new": "새 공지", "change": "변경", "reminder": "리마인더"}


@dataclass
class WebContext:
    settings: Settings
    store: StoreProtocol  # read-only (SqliteStore.open_reader / a read-only PostgresStore), awaited
    known: Mapping[str, type[Crawler]]
    sites: Sequence[str]  # enabled, in crawl order
    metrics: Metrics | None = None
    clock: Clock = field(default_factory=SystemClock)
    router: Router = field(kw_only=True)  # which routes take a notice (``app.page_router``)
    open_store: health.StoreOpener = field(kw_only=True)  # /healthz's own read-only store (``app``'s)

    @property
    def looks(self) -> dict[str, SiteLook]:
        return {name: SiteLook(cls.display_name, cls.color) for name, cls in self.known.items()}


# --- the page -----------------------------------------------------------------------------------


def _kst(ts: float | None) -> str:
    if ts is None:
        return "-"
    return datetime.fromtimestamp(ts, UTC).astimezone(SEOUL).strftime("%m-%d %H:%M")


def _age(seconds: float) -> str:
    """``age_text`` in Korean units: 42초, 17분, 3시간 5분, 2일 4시간."""
    return age_text(seconds, KOREAN_AGE_UNITS)


def _ago(now: float, ts: float | None) -> str:
    if ts is None:
        return "없음"
    return f"{_age(now - ts)} 전"


def _day_title(day: date) -> str:
    return f"{day.year}년 {day.month}월 {day.day}일 ({WEEKDAYS[day.weekday()]})"


def _hhmm(at: datetime) -> str:
    return at.astimezone(SEOUL).strftime("%H:%M")


def _mdhm(at: datetime) -> str:
    return at.astimezone(SEOUL).strftime("%m/%d %H:%M")


def _href(url: str) -> str:
    """A scraped link, only when it is http(s): never a ``javascript:`` or ``data:`` URL."""
    return escape(url) if url.startswith(("https://", "http://")) else "#"


def _vendor_html(n: UpcomingNotice, css: Mapping[str, str]) -> str:
    """One vendor's line of a show sold by several: its site, its open time and presales, its link."""
    t = n.ticket
    when = _mdhm(n.next_at) if n.next_at else (f"{n.day:%m/%d} 시간 미정")
    presales = "".join(f" · {escape(s.name)} <time>{_mdhm(s.at)}</time>" for s in n.sales if s.presale)
    link = t.booking_url if t.booking_url.startswith(("https://", "http://")) else t.url
    return (
        f'<li class="vendor"><span class="site {css.get(t.site, "s-x")}">{escape(n.look.name)}</span> '
        f'<time>{when}</time>{presales} · <a href="{_href(link)}" rel="noreferrer noopener" '
        'target="_blank">예매</a></li>'
    )


def _notice_html(show: Sequence[UpcomingNotice], css: Mapping[str, str], now: datetime) -> str:
    """A show's card: its first notice, and under it every vendor's sales when several sell it."""
    n = show[0]
    t = n.ticket
    when = _hhmm(n.next_at) if n.next_at else "시간 미정"
    badges = []
    if t.exclusive and len(show) == 1:
        badges.append('<span class="badge ex">단독판매</span>')
    if t.category == "change":
        badges.append('<span class="badge ch">변경/취소</span>')
    sales = ""
    if len(show) > 1:
        sales = "".join(_vendor_html(v, css) for v in show)
    elif any(s.presale for s in n.sales):  # the general sale alone is the time on the left already
        sales = "".join(
            f'<li class="{"past" if s.at < now else ""}">{escape(s.name)} <time>{_mdhm(s.at)}</time></li>'
            for s in n.sales
        )
    links = [f'<a href="{_href(t.url)}" rel="noreferrer noopener" target="_blank">공지</a>']
    if t.booking_url.startswith(("https://", "http://")) and len(show) == 1:
        links.append(
            f'<a href="{_href(t.booking_url)}" rel="noreferrer noopener" target="_blank">예매 페이지</a>'
        )
    venue = f'<div class="venue">{escape(t.venue)}</div>' if t.venue else ""
    sites = " ".join(dict.fromkeys(v.ticket.site for v in show))
    routes = " ".join(dict.fromkeys(r for v in show for r in v.routes))
    search = "\x00".join(v.search for v in show)
    return (
        f'<li class="notice" data-site="{escape(sites)}" data-routes="{escape(routes)}" '
        f'data-search="{escape(search)}"><div class="when">{when}</div><div class="body">'
        f'<div class="top"><span class="site {css.get(t.site, "s-x")}">{escape(n.look.name)}</span>'
        f"{''.join(badges)}</div>"
        f'<a class="title" href="{_href(t.url)}" rel="noreferrer noopener" target="_blank">'
        f"{escape(t.title)}</a>{venue}"
        f'{f"<ul class=sales>{sales}</ul>" if sales else ""}<div class="links">{" · ".join(links)}</div>'
        "</div></li>"
    )


def _latest(*stamps: float | None) -> float | None:
    return max((ts for ts in stamps if ts is not None), default=None)


def _site_rows(
    ctx: WebContext, states: Mapping[str, SiteState], heads: Mapping[str, HeadState], now: float
) -> str:
    """마지막 수집 is the latest attempt, sweep or head poll (a sweep's success is stamped at its end,
    after its start): never older than 마지막 성공."""
    rows = []
    names = list(dict.fromkeys([*ctx.sites, *states]))
    for name in names:
        s = states.get(name) or SiteState(name)
        h = heads.get(name) or HeadState(name)
        success = _latest(s.last_success, h.last_success)
        attempt = _latest(s.last_attempt, s.last_failure, h.last_attempt, success)
        look = ctx.looks.get(name) or SiteLook(name)
        if s.locked_until and s.locked_until > now:
            lock = f'<span class="warn">{_kst(s.locked_until)}까지 쉼</span>'
        else:
            lock = "-"
        streak = f'<span class="bad">{s.failure_streak}회</span>' if s.failure_streak else "0"
        warn = f'<span class="warn">{s.last_invalid}건</span>' if s.last_invalid else "0"
        error = escape(redact(s.last_error)[:160]) if s.last_error and s.failure_streak else ""
        rows.append(
            f"<tr><th>{escape(look.name)}</th><td>{_ago(now, attempt)}</td>"
            f"<td>{_ago(now, success)}</td><td>{streak}</td><td>{warn}</td><td>{lock}</td>"
            f'<td class="err wrap">{error}</td></tr>'
        )
    return "".join(rows)


def _alert_rows(ctx: WebContext, alerts: Sequence[RecentAlert]) -> str:
    rows = []
    for r in alerts:
        look = ctx.looks.get(r.site) or SiteLook(r.site)
        status = r.status
        title = r.title or "-"
        sent = f" ({_kst(r.sent_at)})" if r.sent_at else ""
        rows.append(
            f"<tr><td>{_kst(r.created_at)}</td><td>{escape(look.name)}</td>"
            f'<td class="wrap">{escape(title)}</td>'
            f"<td>{escape(r.route)}</td><td>{KIND_KO.get(r.kind, escape(r.kind))}</td>"
            f'<td class="st-{escape(status)}">{STATUS_KO.get(status, escape(status))}'
            f"{sent}</td></tr>"
        )
    return "".join(rows) or '<tr><td colspan="6">아직 보낸 알림이 없습니다</td></tr>'


async def _health_line(ctx: WebContext, heads: Mapping[str, HeadState], now: float) -> tuple[str, str]:
    """(css class, text): every site fine, or which site fails since when, by ``health``'s own rule."""
    failing = []
    for name in ctx.sites:
        crawler = ctx.known.get(name)
        if crawler is None:
            continue
        problems, _facts = await health.site_findings(ctx.settings, name, crawler, ctx.store, now)
        if not problems:
            continue
        state = await ctx.store.site_state(name)
        head = heads.get(name) or HeadState(name)
        since = [st.last_success for st in (state, head) if st.failure_streak]
        if not since:
            when = ""
        elif None in since:
            when = " — 성공한 적 없음"
        else:
            first = min(ts for ts in since if ts is not None)
            when = f" — {_kst(first)}({_ago(now, first)}) 이후 실패"
        look = ctx.looks.get(name) or SiteLook(name)
        problem = redact(problems[0])  # the whole error is in the site table below: one line here
        problem = problem if len(problem) <= HEALTH_CUT else problem[: HEALTH_CUT - 1].rstrip() + "…"
        failing.append(f"{look.name}: {problem}{when}")
    if not failing:
        return "ok", f"모든 사이트 정상 ({len(ctx.sites)}곳)"
    return "bad", f"문제 있는 사이트 {len(failing)}곳 · " + " · ".join(failing)


def _subscribe_links(settings: Settings) -> str:
    """webcal:// links (the script makes them absolute and adds the token): all, per route, per keyword."""

    def link(label: str, **query: str) -> str:
        href = "/calendar.ics" + (f"?{urlencode(query)}" if query else "")
        return f'<a class="keep-token webcal" href="{escape(href)}">{escape(label)}</a>'

    routes = [link("전체")]
    routes += [link(r.name, route=r.name) for r in settings.routes or ()]
    words = dict.fromkeys(
        w.strip()
        for r in settings.routes or ()
        for w in r.include
        if not (len(w) >= 2 and w.startswith("/") and w.endswith("/"))
    )
    out = f"<div>경로: {' · '.join(routes)}</div>"
    if words:
        out += f"<div>키워드: {' · '.join(link(w, q=w) for w in words)}</div>"
    return out


async def render_page(ctx: WebContext) -> str:
    now_dt = ctx.clock.now()
    now = now_dt.timestamp()
    notices = await upcoming(ctx.store, now=now_dt, looks=ctx.looks, router=ctx.router)
    sites_listed = list(dict.fromkeys([*ctx.sites, *(n.ticket.site for n in notices)]))
    css = {name: f"s-{i}" for i, name in enumerate(sites_listed)}
    looks = ctx.looks
    colors = "".join(
        f".{css[name]}{{background:#{(looks.get(name) or SiteLook(name)).color & 0xFFFFFF:06x}}}"
        for name in sites_listed
    )
    days: list[str] = []
    current: date | None = None
    shows = by_show(notices)
    for show in shows:
        if show[0].day != current:
            if current is not None:
                days.append("</ul></section>")
            current = show[0].day
            days.append(f'<section class="day"><h3>{_day_title(current)}</h3><ul class="list">')
        days.append(_notice_html(show, css, now_dt))
    if current is not None:
        days.append("</ul></section>")
    chips = "".join(
        f'<button type="button" class="chip" data-site="{escape(name)}" aria-pressed="false">'
        f'<i class="dot {css[name]}"></i>{escape((looks.get(name) or SiteLook(name)).name)}</button>'
        for name in sites_listed
    )
    routes = ctx.settings.effective_routes()
    route_select = ""
    if routes:
        options = "".join(f'<option value="{escape(r.name)}">{escape(r.name)}</option>' for r in routes)
        route_select = (
            '<label class="route">알림 경로 <select id="route"><option value="">전체</option>'
            f"{options}</select></label>"
        )
    stats = await ctx.store.outbox_stats()
    oldest = "-" if stats.oldest_pending is None else _age(now - stats.oldest_pending)
    states = {s.site: s for s in await ctx.store.all_site_states()}
    heads = {name: await ctx.store.head_state(name) for name in dict.fromkeys([*ctx.sites, *states])}
    health_class, health_text = await _health_line(ctx, heads, now)
    # the ops lane's messages are the operator's, not a subscriber's alerts
    alerts = [a for a in await ctx.store.recent_alerts(RECENT_ALERTS) if a.route != OPS_ROUTE]
    nonce = secrets.token_urlsafe(16)
    generated = now_dt.astimezone(SEOUL).strftime("%Y-%m-%d %H:%M:%S KST")
    return PAGE.format(
        nonce=nonce,
        colors=colors,
        chips=chips,
        route_select=route_select,
        generated=generated,
        total=len(shows),
        days="".join(days),
        sites=_site_rows(ctx, states, heads, now),
        health_class=health_class,
        health=escape(health_text),
        subscribe=_subscribe_links(ctx.settings),
        alerts=_alert_rows(ctx, alerts),
        pending=stats.pending,
        oldest=oldest,
        dead=stats.dead,
        dead_class="bad" if stats.dead else "",
        refresh=REFRESH_SECONDS,
    )


PAGE = """<!doctype html>
<html lang="ko"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>티켓 오픈 알림 현황</title>
<style>
:root{{--bg:#f6f7f9;--fg:#1d2330;--mute:#667085;--card:#fff;--line:#e4e7ec;--accent:#3b5bdb}}
@media (prefers-color-scheme:dark){{:root{{--bg:#12151c;--fg:#e6e8ee;--mute:#98a2b3;--card:#1b2029;
--line:#2b3340;--accent:#8fa8ff}}}}
[hidden]{{display:none!important}}*{{box-sizing:border-box}}
body{{margin:0;font:15px/1.45 system-ui,-apple-system,"Apple SD Gothic Neo",
"Noto Sans KR","Malgun Gothic",sans-serif;background:var(--bg);color:var(--fg)}}
header{{padding:14px 16px 6px}}h1{{font-size:20px;margin:0}}h2{{font-size:17px;margin:22px 0 8px}}
h3{{font-size:15px;margin:16px 0 6px;color:var(--mute)}}.meta{{color:var(--mute);font-size:13px}}
main{{max-width:920px;margin:0 auto;padding:0 12px 40px}}
.controls{{padding:8px 0}}
#q{{width:100%;padding:10px 12px;font-size:16px;border:1px solid var(--line);border-radius:10px;
background:var(--card);color:var(--fg)}}
.chips{{display:flex;flex-wrap:wrap;gap:6px;margin-top:8px}}
.chip{{border:1px solid var(--line);background:var(--card);color:var(--fg);border-radius:999px;
padding:6px 12px;font-size:14px;cursor:pointer}}.chip[aria-pressed=true]{{border-color:var(--accent);
box-shadow:inset 0 0 0 1px var(--accent);font-weight:600}}
.dot{{display:inline-block;width:9px;height:9px;border-radius:50%;margin-right:6px}}
.route{{display:inline-block;margin-top:8px;font-size:14px}}
.list{{list-style:none;margin:0;padding:0}}
.notice{{display:flex;gap:12px;background:var(--card);border:1px solid var(--line);border-radius:12px;
padding:10px 12px;margin:6px 0}}.when{{font-weight:700;min-width:64px;font-variant-numeric:tabular-nums}}
.body{{min-width:0;flex:1}}.top{{display:flex;gap:6px;flex-wrap:wrap;margin-bottom:2px}}
.site{{color:#fff;border-radius:6px;padding:1px 7px;font-size:12px}}
.badge{{border-radius:6px;padding:1px 7px;font-size:12px;border:1px solid}}
.ex{{color:#c2255c;border-color:#c2255c}}.ch{{color:#e67700;border-color:#e67700}}
.title{{color:var(--fg);font-weight:600;text-decoration:none;overflow-wrap:anywhere}}
.venue,.links,.sales{{color:var(--mute);font-size:13px}}.sales{{margin:2px 0;padding-left:18px}}
.sales .past{{text-decoration:line-through}}.vendor .site{{font-size:11px}}a{{color:var(--accent)}}
.empty{{color:var(--mute);padding:20px 0}}table{{width:100%;border-collapse:collapse;font-size:13px;
background:var(--card)}}th,td{{text-align:left;padding:6px 8px;border-bottom:1px solid var(--line);
vertical-align:top;white-space:nowrap}}td.wrap{{white-space:normal;min-width:14em}}.scroll{{overflow-x:auto}}.bad,.st-dead{{color:#e03131;font-weight:600}}
.warn{{color:#e67700}}.st-pending{{color:#e67700}}.err{{color:var(--mute);max-width:260px}}
.health{{margin:6px 0 0;padding:6px 10px;border-radius:8px;font-size:14px;font-weight:600;
overflow-wrap:anywhere}}.health.ok{{background:#d3f9d8;color:#2b8a3e}}.health.bad{{background:#ffe3e3;
color:#c92a2a}}.subscribe{{margin-top:6px}}.subscribe div{{margin-top:4px;overflow-wrap:anywhere}}
.boxes{{display:flex;gap:8px;flex-wrap:wrap}}.box{{background:var(--card);border:1px solid var(--line);
border-radius:10px;padding:8px 12px}}.box b{{font-size:18px;display:block}}
{colors}
</style></head>
<body><header><h1>티켓 오픈 알림 현황</h1>
<p id="health" class="health {health_class}" role="status">{health}</p>
<div class="meta">갱신 <span id="generated">{generated}</span><span id="stale" class="warn"></span>
· {refresh}초마다 자동 새로고침 ·
<a class="keep-token" href="/api/upcoming.json">JSON</a></div>
<details class="subscribe meta"><summary>캘린더 구독 (휴대폰 캘린더에 추가)</summary>
<label>알림 <select id="alarm"><option value="10">10분 전</option><option value="60">1시간 전</option>
<option value="0">없음</option></select></label>{subscribe}
<div>검색어로: <a class="keep-token webcal" id="sub-q" href="/calendar.ics">검색창에 입력한 말</a></div>
</details></header>
<main><div class="controls"><input id="q" type="search" placeholder="제목·공연장 검색 (예: 아이유콘서트)"
autocomplete="off" aria-label="검색"><div class="chips" id="chips"><button type="button" class="chip"
data-site="" aria-pressed="true">전체</button>{chips}</div>{route_select}</div>
<div id="live">
<h2>다가오는 티켓 오픈 <span class="meta" id="count" data-total="{total}">{total}건</span></h2>
<div id="days">{days}</div>
<p class="empty" id="empty" hidden>조건에 맞는 오픈 일정이 없습니다.</p>
<h2>사이트 상태</h2><div class="scroll"><table><thead><tr><th>사이트</th><th>마지막 수집</th>
<th>마지막 성공</th><th>연속 실패</th><th>파싱 경고</th><th>잠김</th><th>오류</th></tr></thead>
<tbody id="sites">{sites}</tbody></table></div>
<h2>알림 대기열</h2><div class="boxes"><div class="box">대기 중<b id="pending">{pending}</b></div>
<div class="box">가장 오래 기다린 알림<b>{oldest}</b></div>
<div class="box">전송 불가(dead letter)<b id="dead" class="{dead_class}">{dead}</b></div></div>
<h2>최근 알림</h2><div class="scroll"><table><thead><tr><th>시각</th><th>사이트</th><th>제목</th>
<th>경로</th><th>종류</th><th>상태</th></tr></thead><tbody id="alerts">{alerts}</tbody></table></div>
</div></main>
<script nonce="{nonce}">
(function () {{
  "use strict";
  var state = {{site: "", route: "", q: ""}};
  function norm(s) {{ return (s || "").normalize("NFKC").toLowerCase().replace(/\\s+/g, ""); }}
  function apply() {{
    var shown = 0, q = norm(state.q);
    document.querySelectorAll("#days .day").forEach(function (day) {{
      var visible = 0;
      day.querySelectorAll(".notice").forEach(function (li) {{
        var ok = (!state.site || (" " + li.dataset.site + " ").indexOf(" " + state.site + " ") >= 0) &&
          (!state.route || (" " + li.dataset.routes + " ").indexOf(" " + state.route + " ") >= 0) &&
          (!q || li.dataset.search.indexOf(q) >= 0);
        li.hidden = !ok;
        if (ok) {{ visible++; }}
      }});
      day.hidden = visible === 0;
      shown += visible;
    }});
    var count = document.getElementById("count");
    var total = count.dataset.total;
    count.textContent = shown === Number(total) ? total + "건" : shown + "건 / 전체 " + total + "건";
    document.getElementById("empty").hidden = shown > 0;
  }}
  function keepToken() {{
    var token = new URLSearchParams(location.search).get("token");
    var alarm = document.getElementById("alarm").value;
    var subQ = document.getElementById("sub-q");
    var words = state.q.trim();
    subQ.setAttribute("href", words ? "/calendar.ics?q=" + encodeURIComponent(words) : "/calendar.ics");
    subQ.textContent = words || "검색창에 입력한 말";
    document.querySelectorAll("a.keep-token").forEach(function (a) {{
      var url = new URL(a.getAttribute("href"), location.href);
      if (token) {{ url.searchParams.set("token", token); }}
      if (a.classList.contains("webcal")) {{
        if (alarm !== "10") {{ url.searchParams.set("alarm", alarm); }}
        a.href = "webcal://" + location.host + url.pathname + url.search;
      }} else {{
        a.href = url.pathname + url.search;
      }}
    }});
  }}
  document.getElementById("q").addEventListener("input", function (e) {{
    state.q = e.target.value; apply(); keepToken();
  }});
  document.getElementById("alarm").addEventListener("change", keepToken);
  document.getElementById("chips").addEventListener("click", function (e) {{
    var chip = e.target.closest(".chip");
    if (!chip) {{ return; }}
    state.site = chip.dataset.site;
    document.querySelectorAll(".chip").forEach(function (c) {{
      c.setAttribute("aria-pressed", String(c === chip));
    }});
    apply();
  }});
  var route = document.getElementById("route");
  if (route) {{ route.addEventListener("change", function () {{ state.route = route.value; apply(); }}); }}
  function refresh() {{
    fetch(location.href, {{cache: "no-store", credentials: "same-origin"}}).then(function (r) {{
      if (!r.ok) {{ throw new Error("HTTP " + r.status); }}
      return r.text();
    }}).then(function (text) {{
      var doc = new DOMParser().parseFromString(text, "text/html");
      var live = doc.getElementById("live");
      if (!live) {{ return; }}
      document.getElementById("live").replaceWith(live);
      document.getElementById("health").replaceWith(doc.getElementById("health"));
      document.getElementById("generated").textContent = doc.getElementById("generated").textContent;
      document.getElementById("stale").textContent = "";
      apply();
    }}).catch(function (err) {{
      document.getElementById("stale").textContent = " (새로고침 실패: " + err.message + ")";
    }});
  }}
  keepToken();
  apply();
  window.ticketAlarmRefresh = refresh;
  setInterval(refresh, {refresh} * 1000);
}})();
</script></body></html>
"""
