"""The fetch layer: retries, backoff, Retry-After, conditional GET, limits, rewriting, throttling."""

from __future__ import annotations

import asyncio
import itertools
import json
import random
from collections.abc import AsyncIterator, Awaitable, Callable
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.server import LoopbackServer, Request, Response
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.settings import HttpSettings
from ticket_alarm.errors import FetchError
from ticket_alarm.fetch.http import MAX_RETRY_AFTER, Fetcher, decode_text
from ticket_alarm.store import Store
from ticket_alarm.store.sqlite.backend import SqliteStore

PUBLIC = "https://tickets.example.kr"
SEED = 1234

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


def settings(**overrides: Any) -> HttpSettings:
    base: dict[str, Any] = {"min_request_interval": 0, "retries": 3, "backoff": 1.0, "timeout": 5}
    return HttpSettings(**{**base, **overrides})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = SqliteStore.open_file(tmp_path / "store.sqlite3")
    yield s
    await s.close()


class Recorder:
    """A MockTransport handler that answers from a script and records every request."""

    def __init__(self, *answers: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]):
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        return answer


def make_fetcher(
    handler: Handler, clock: FakeClock, *, cache: Store | None = None, **overrides: Any
) -> Fetcher:
    return Fetcher(
        settings(**overrides),
        cache=cache,
        transport=httpx.MockTransport(handler),
        clock=clock,
        rng=random.Random(SEED),
    )


def expected_backoff(count: int, backoff: float = 1.0) -> list[float]:
    rng = random.Random(SEED)
    return [backoff * 2**n + rng.uniform(0, backoff) for n in range(count)]


def ok(body: bytes = b'{"ok": true}', **headers: str) -> httpx.Response:
    return httpx.Response(200, content=body, headers=headers)


# --- retries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ReadTimeout("read timed out"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.ConnectError("connection refused"),
        httpx.RemoteProtocolError("server disconnected"),
        httpx.Response(429),
        httpx.Response(500),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.Response(520),
    ],
    ids=lambda f: type(f).__name__ if isinstance(f, Exception) else f"HTTP{f.status_code}",
)
async def test_transient_failures_are_retried_with_backoff_and_jitter(
    clock: FakeClock, failure: httpx.Response | Exception
) -> None:
    recorder = Recorder(failure, failure, ok(b"[1]"))
    async with make_fetcher(recorder, clock) as fetcher:
        response = await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert response.status == 200 and response.content == b"[1]"
    assert len(recorder.requests) == 3
    assert clock.slept == pytest.approx(expected_backoff(2))
    assert 1.0 <= clock.slept[0] < 2.0 and 2.0 <= clock.slept[1] < 3.0


async def test_retries_exhausted_raise_fetch_error_with_status(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(503))
    async with make_fetcher(recorder, clock, retries=3) as fetcher:
        site = fetcher.for_site("melon")
        with pytest.raises(FetchError) as info:
            await site.get(f"{PUBLIC}/list")
    assert len(recorder.requests) == 4
    assert clock.slept == pytest.approx(expected_backoff(3))
    error = info.value
    assert error.status == 503 and error.site == "melon" and error.url == f"{PUBLIC}/list"
    assert "HTTP 503" in str(error) and error.hint
    assert site.stats.requests == 4 and site.stats.last_status == 503


async def test_timeouts_exhausted_say_timeout(clock: FakeClock) -> None:
    recorder = Recorder(httpx.ReadTimeout("slow"))
    async with make_fetcher(recorder, clock, retries=2, timeout=3) as fetcher:
        with pytest.raises(FetchError, match=r"timeout after 3s \(ReadTimeout\)") as info:
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert len(recorder.requests) == 3 and info.value.status is None
    assert "http.timeout" in (info.value.hint or "")


async def test_zero_retries_means_one_attempt(clock: FakeClock) -> None:
    recorder = Recorder(httpx.ConnectError("refused"))
    async with make_fetcher(recorder, clock, retries=0) as fetcher:
        with pytest.raises(FetchError, match="connection failed: ConnectError"):
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert len(recorder.requests) == 1 and clock.slept == []


async def test_retry_after_seconds_is_honoured(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "7"}), ok())
    async with make_fetcher(recorder, clock) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert clock.slept == [7.0]


async def test_retry_after_shorter_than_backoff_keeps_the_backoff(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(503, headers={"Retry-After": "0"}), ok())
    async with make_fetcher(recorder, clock) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert clock.slept == pytest.approx(expected_backoff(1))


async def test_retry_after_http_date_is_honoured(clock: FakeClock) -> None:
    when = clock.now().timestamp() + 30
    from datetime import UTC, datetime

    date = format_datetime(datetime.fromtimestamp(when, UTC), usegmt=True)
    recorder = Recorder(httpx.Response(503, headers={"Retry-After": date}), ok())
    async with make_fetcher(recorder, clock) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert clock.slept == pytest.approx([30.0])


async def test_unparseable_retry_after_falls_back_to_backoff(clock: FakeClock) -> None:
    recorder = Recorder(httpx.Response(429, headers={"Retry-After": "soon-ish"}), ok())
    async with make_fetcher(recorder, clock) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert clock.slept == pytest.approx(expected_backoff(1))


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_above_the_cap_is_not_waited(clock: FakeClock, status: int) -> None:
    recorder = Recorder(httpx.Response(status, headers={"Retry-After": str(int(MAX_RETRY_AFTER) + 3600)}))
    async with make_fetcher(recorder, clock) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert len(recorder.requests) == 1 and clock.slept == []
    assert info.value.status == status and info.value.retry_after == MAX_RETRY_AFTER + 3600


@pytest.mark.parametrize(("status", "hint"), [(403, "proxy"), (404, "moved"), (423, "lock_cooldown")])
async def test_client_errors_are_not_retried(clock: FakeClock, status: int, hint: str) -> None:
    recorder = Recorder(httpx.Response(status, text="nope"))
    async with make_fetcher(recorder, clock) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert len(recorder.requests) == 1 and clock.slept == []
    assert info.value.status == status and f"HTTP {status}" in str(info.value)
    assert hint in (info.value.hint or "")


@pytest.mark.parametrize("status", [403, 429])
async def test_a_challenge_body_on_403_or_429_gets_the_challenge_hint(clock: FakeClock, status: int) -> None:
    page = "<html><head><title>Just a moment...</title></head><body>cf-chl</body></html>"
    recorder = Recorder(httpx.Response(status, text=page))
    async with make_fetcher(recorder, clock, retries=0) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert "challenge page" in (info.value.hint or "") and f"HTTP {status}" in (info.value.hint or "")
    plain = Recorder(httpx.Response(status, text='{"error": "forbidden"}'))
    async with make_fetcher(plain, clock, retries=0) as fetcher:
        with pytest.raises(FetchError) as info:
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert "challenge" not in (info.value.hint or "")


# --- conditional GET -------------------------------------------------------------------------------


async def test_conditional_get_replays_the_stored_body_on_304(clock: FakeClock, store: Store) -> None:
    body = json.dumps({"items": [1, 2, 3]}).encode()
    lm = "Sun, 01 Nov 2026 00:00:00 GMT"

    def handler(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"v1"':
            return httpx.Response(304, headers={"ETag": '"v1"'})
        return ok(body, ETag='"v1"', **{"Last-Modified": lm})

    recorder = Recorder(handler)
    async with make_fetcher(recorder, clock, cache=store) as fetcher:
        site = fetcher.for_site("s")
        first = await site.get(f"{PUBLIC}/list", params={"page": 1})
        second = await site.get(f"{PUBLIC}/list", params={"page": 1})
    assert not first.from_cache and first.content == body
    assert "if-none-match" not in recorder.requests[0].headers
    assert recorder.requests[1].headers["if-none-match"] == '"v1"'
    assert recorder.requests[1].headers["if-modified-since"] == lm
    assert second.from_cache and second.status == 200 and second.content == body
    assert json.loads(second.content) == {"items": [1, 2, 3]}
    assert site.stats.requests == 2 and site.stats.last_status == 304


async def test_validators_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    path = tmp_path / "store.sqlite3"
    store = SqliteStore.open_file(path)
    async with make_fetcher(Recorder(ok(b"[7]", ETag='"e"')), clock, cache=store) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/list")
    await store.close()
    store = SqliteStore.open_file(path)
    recorder = Recorder(httpx.Response(304))
    async with make_fetcher(recorder, clock, cache=store) as fetcher:
        response = await fetcher.for_site("s").get(f"{PUBLIC}/list")
    await store.close()
    assert recorder.requests[0].headers["if-none-match"] == '"e"'
    assert response.from_cache and response.content == b"[7]"


async def test_only_last_modified_is_remembered_too(clock: FakeClock, store: Store) -> None:
    lm = "Sat, 31 Oct 2026 12:00:00 GMT"
    recorder = Recorder(ok(b"[1]", **{"Last-Modified": lm}), httpx.Response(304))
    async with make_fetcher(recorder, clock, cache=store) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/list")
        response = await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert recorder.requests[1].headers["if-modified-since"] == lm
    assert "if-none-match" not in recorder.requests[1].headers
    assert response.from_cache and response.content == b"[1]"


async def test_new_body_replaces_the_cached_one(clock: FakeClock, store: Store) -> None:
    recorder = Recorder(ok(b"[1]", ETag='"a"'), ok(b"[2]", ETag='"b"'), httpx.Response(304))
    async with make_fetcher(recorder, clock, cache=store) as fetcher:
        site = fetcher.for_site("s")
        await site.get(f"{PUBLIC}/list")
        await site.get(f"{PUBLIC}/list")
        third = await site.get(f"{PUBLIC}/list")
    assert recorder.requests[2].headers["if-none-match"] == '"b"'
    assert third.content == b"[2]"


async def test_unconditional_and_uncacheable_requests(clock: FakeClock, store: Store) -> None:
    recorder = Recorder(ok(b"[1]", ETag='"a"'), ok(b"[2]"), ok(b"[3]"))
    async with make_fetcher(recorder, clock, cache=store) as fetcher:
        site = fetcher.for_site("s")
        await site.get(f"{PUBLIC}/list")
        await site.get(f"{PUBLIC}/list", conditional=False)
        await site.post(f"{PUBLIC}/list", data={"page": "1"})
    assert "if-none-match" not in recorder.requests[1].headers
    assert "if-none-match" not in recorder.requests[2].headers
    assert recorder.requests[2].method == "POST" and recorder.requests[2].content == b"page=1"


async def test_different_params_are_cached_separately(clock: FakeClock, store: Store) -> None:
    recorder = Recorder(ok(b"[1]", ETag='"p1"'), ok(b"[2]", ETag='"p2"'), httpx.Response(304))
    async with make_fetcher(recorder, clock, cache=store) as fetcher:
        site = fetcher.for_site("s")
        await site.get(f"{PUBLIC}/list", params={"page": 1})
        await site.get(f"{PUBLIC}/list", params={"page": 2})
        again = await site.get(f"{PUBLIC}/list", params={"page": 1})
    assert recorder.requests[2].headers["if-none-match"] == '"p1"'
    assert again.content == b"[1]"


# --- size limit ------------------------------------------------------------------------------------


async def test_declared_content_length_over_the_limit(clock: FakeClock) -> None:
    recorder = Recorder(ok(b"x" * 20_001))
    async with make_fetcher(recorder, clock, max_response_bytes=20_000) as fetcher:
        with pytest.raises(FetchError, match="20,001 bytes exceeds the 20,000-byte limit") as info:
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert len(recorder.requests) == 1 and "max_response_bytes" in (info.value.hint or "")


async def test_streamed_body_over_the_limit(clock: FakeClock) -> None:
    sent: list[int] = []

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(100):
            sent.append(1)
            yield b"y" * 1000

    recorder = Recorder(lambda request: httpx.Response(200, content=chunks()))
    async with make_fetcher(recorder, clock, max_response_bytes=10_000) as fetcher:
        with pytest.raises(FetchError, match="exceeds the 10,000-byte limit"):
            await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert "content-length" not in recorder.requests[0].headers
    assert len(sent) < 100  # stopped reading early


async def test_body_at_the_limit_is_accepted(clock: FakeClock) -> None:
    async with make_fetcher(Recorder(ok(b"z" * 10_000)), clock, max_response_bytes=10_000) as fetcher:
        response = await fetcher.for_site("s").get(f"{PUBLIC}/list")
    assert len(response.content) == 10_000


# --- base_url rewriting ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("base", "url", "expected"),
    [
        (None, f"{PUBLIC}/a/b?x=1", f"{PUBLIC}/a/b?x=1"),
        (
            "http://127.0.0.1:8080",
            f"{PUBLIC}/api/list?page=2&q=%ED%8B%B0",
            "http://127.0.0.1:8080/api/list?page=2&q=%ED%8B%B0",
        ),
        ("http://127.0.0.1:8080/", f"{PUBLIC}/api/list", "http://127.0.0.1:8080/api/list"),
        (
            "http://mirror.example/prefix/",
            f"{PUBLIC}/api/list?a=b",
            "http://mirror.example/prefix/api/list?a=b",
        ),
        ("https://mirror.example", f"{PUBLIC}/", "https://mirror.example/"),
    ],
)
def test_rewrite_keeps_path_and_query(clock: FakeClock, base: str | None, url: str, expected: str) -> None:
    fetcher = make_fetcher(Recorder(ok()), clock)
    assert fetcher.for_site("s", base).rewrite(url) == expected


async def test_requests_go_to_base_url_but_report_the_public_url(clock: FakeClock) -> None:
    recorder = Recorder(ok())
    async with make_fetcher(recorder, clock) as fetcher:
        site = fetcher.for_site("s", "http://127.0.0.1:9999")
        response = await site.get(f"{PUBLIC}/api/list?sort=new", params={"page": 3, "q": "아이유"})
    sent = recorder.requests[0].url
    assert (sent.scheme, sent.host, sent.port) == ("http", "127.0.0.1", 9999)
    assert sent.path == "/api/list" and sent.params["page"] == "3" and sent.params["sort"] == "new"
    assert sent.params["q"] == "아이유"
    assert response.url.startswith(f"{PUBLIC}/api/list?sort=new&page=3")


async def test_user_agent_and_language_are_sent(clock: FakeClock) -> None:
    recorder = Recorder(ok())
    async with make_fetcher(recorder, clock, user_agent="UA/1") as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/x", headers={"X-Requested-With": "XMLHttpRequest"})
    headers = recorder.requests[0].headers
    assert headers["user-agent"] == "UA/1" and headers["accept-language"].startswith("ko-KR")
    assert headers["x-requested-with"] == "XMLHttpRequest"


# --- throttling ------------------------------------------------------------------------------------


async def test_max_concurrency_is_respected(clock: FakeClock) -> None:
    active = 0
    peak = 0
    done = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal active, peak, done
        active += 1
        peak = max(peak, active)
        for _ in range(20):
            await asyncio.sleep(0)
        active -= 1
        done += 1
        return ok()

    async with make_fetcher(handler, clock, max_concurrency=2) as fetcher:
        sites = [fetcher.for_site(f"s{i}") for i in range(8)]
        await asyncio.gather(*(s.get(f"https://host{i}.example/x") for i, s in enumerate(sites)))
    assert done == 8
    assert peak == 2


async def test_min_request_interval_spaces_requests_per_host(clock: FakeClock) -> None:
    starts: dict[str, list[float]] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        starts.setdefault(request.url.host, []).append(clock.monotonic())
        return ok()

    async with make_fetcher(handler, clock, min_request_interval=2.5, max_concurrency=4) as fetcher:
        a = fetcher.for_site("a")
        b = fetcher.for_site("b")
        await asyncio.gather(
            a.get("https://a.example/1"), a.get("https://a.example/2"), a.get("https://a.example/3"),
            b.get("https://b.example/1"),
        )  # fmt: skip
        clock.advance(10)  # after a long pause no wait is needed
        await a.get("https://a.example/4")
    a_starts = starts["a.example"]
    assert len(a_starts) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(a_starts)]
    assert all(gap >= 2.5 for gap in gaps), gaps
    assert len(starts["b.example"]) == 1
    assert clock.slept == [2.5, 2.5]  # only host a's second and third request waited; b never did


async def test_retries_are_spaced_too(clock: FakeClock) -> None:
    starts: list[float] = []
    answers = [httpx.Response(503), ok()]

    def handler(request: httpx.Request) -> httpx.Response:
        starts.append(clock.monotonic())
        return answers.pop(0)

    async with make_fetcher(handler, clock, min_request_interval=5, backoff=0) as fetcher:
        await fetcher.for_site("s").get(f"{PUBLIC}/x")
    assert starts[1] - starts[0] >= 5


# --- decoding ---------------------------------------------------------------------------------------


def test_decode_text() -> None:
    assert decode_text("티켓".encode()) == "티켓"
    assert decode_text(b"\xef\xbb\xbf" + "오픈".encode()) == "오픈"
    assert decode_text("공지사항".encode("cp949")) == "공지사항"
    assert decode_text(b"") == ""
    garbage = decode_text(b"ok \xff\xff\xff end")
    assert garbage.startswith("ok ") and garbage.endswith(" end")


# --- a real socket ----------------------------------------------------------------------------------


async def test_timeout_against_a_real_loopback_server(clock: FakeClock) -> None:
    seen: list[str] = []

    def handle(req: Request) -> Response:
        seen.append(req.path)
        return Response(hang=True)

    server = LoopbackServer(handle).start()
    try:
        fetcher = Fetcher(settings(timeout=0.3, retries=1, backoff=0), clock=clock)
        async with fetcher:
            site = fetcher.for_site("s", server.base_url)
            with pytest.raises(FetchError, match=r"timeout after 0\.3s") as info:
                await site.get(f"{PUBLIC}/api/list")
    finally:
        server.stop()
    assert seen == ["/api/list", "/api/list"]  # one retry, then the error
    assert info.value.url == f"{PUBLIC}/api/list"  # the public URL, not the stand-in's


async def test_real_loopback_server_round_trip(clock: FakeClock, store: Store) -> None:
    def handle(req: Request) -> Response:
        if req.headers.get("if-none-match") == '"r1"':
            return Response(304, b"", {"ETag": '"r1"'})
        return Response(200, b'{"ok": 1}', {"ETag": '"r1"', "Content-Type": "application/json"})

    server = LoopbackServer(handle).start()
    try:
        async with Fetcher(settings(), cache=store, clock=clock) as fetcher:
            site = fetcher.for_site("s", server.base_url)
            first = await site.get(f"{PUBLIC}/api/list")
            second = await site.get(f"{PUBLIC}/api/list")
    finally:
        server.stop()
    assert json.loads(first.content) == {"ok": 1} and not first.from_cache
    assert json.loads(second.content) == {"ok": 1} and second.from_cache


def test_a_validator_date_is_never_later_than_the_limit() -> None:
    """Issue 20: a future Last-Modified (GMT or the zone-less ``-0000``) becomes the limit (the
    response's Date, or now); a past one and one that does not parse pass as they came."""
    from datetime import UTC, datetime

    from ticket_alarm.fetch.http import _not_after

    limit = datetime(2026, 12, 6, 3, 4, 5, tzinfo=UTC)
    for future in ("Thu, 01 Jan 2099 00:00:00 GMT", "Thu, 01 Jan 2099 00:00:00 -0000"):
        assert _not_after(future, limit) == "Sun, 06 Dec 2026 03:04:05 GMT"
    assert _not_after("Mon, 02 Nov 2026 00:00:00 GMT", limit) == "Mon, 02 Nov 2026 00:00:00 GMT"
    assert _not_after("garbage", limit) == "garbage" and _not_after(None, limit) is None
