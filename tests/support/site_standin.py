"""A stand-in ticket site: serves notice lists on the paths a crawler requests, and can misbehave."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tests.support.server import LoopbackServer, Request, Response

Route = Callable[[Request], Response]
Hook = Callable[[Request], Response | None]


@dataclass
class FakeSite:
    """Path → handler; ``faults`` override answers for a path (consumed in order)."""

    routes: dict[str, Route] = field(default_factory=dict)
    faults: dict[str, list[Response]] = field(default_factory=dict)
    log: list[Request] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # consulted before ``faults`` and ``routes``: a Response overrides the answer, None lets it through
    hook: Hook | None = None
    stamps: list[float] = field(default_factory=list)  # time.monotonic() of each request in ``log``

    def __post_init__(self) -> None:
        self.server = LoopbackServer(self.handle)

    @property
    def base_url(self) -> str:
        return self.server.base_url

    def start(self) -> FakeSite:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def fail(self, path: str, *responses: Response) -> None:
        with self.lock:
            self.faults.setdefault(path, []).extend(responses)

    def handle(self, req: Request) -> Response:
        with self.lock:
            self.log.append(req)
            self.stamps.append(time.monotonic())
        hook = self.hook
        if hook is not None:
            answer = hook(req)
            if answer is not None:
                return answer
        with self.lock:
            queued = self.faults.get(req.path)
            if queued:
                return queued.pop(0)
        route = self.routes.get(req.path)
        if route is None:
            return Response(404, b"not found")
        return route(req)


class TestStandNotices:
    """The notice list the test plugin crawls: ``GET /api/notices?page=N`` (10 a page)."""

    __test__ = False
    PAGE = 10

    def __init__(self) -> None:
        self.notices: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def add(self, count: int, *, prefix: str = "공연", start: int | None = None, **extra: Any) -> list[str]:
        with self.lock:
            first = len(self.notices) + 1 if start is None else start
            ids = []
            for n in range(first, first + count):
                self.notices.append(
                    {
                        "id": str(n),
                        "title": f"{prefix} {n} 티켓 오픈 안내",
                        "open_at": "2027-12-01T20:00:00",
                        **extra,
                    }
                )
                ids.append(str(n))
            return ids

    def update(self, notice_id: str, **changes: Any) -> None:
        with self.lock:
            for n in self.notices:
                if n["id"] == notice_id:
                    n.update(changes)

    def route(self, req: Request) -> Response:
        page = int(req.q("page", "1") or 1)
        with self.lock:
            rows = self.notices[(page - 1) * self.PAGE : page * self.PAGE]
            body = {"page": page, "items": rows, "total": len(self.notices)}
        try:
            raw = json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate ("\ud83c"): only the escaped form is valid JSON
            raw = json.dumps(body).encode()
        return Response(200, raw, {"Content-Type": "application/json; charset=utf-8"})
