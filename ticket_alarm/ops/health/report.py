"""The health report: checks with a Nagios state each, the worst of them the overall state (OK <
UNKNOWN < WARNING < CRITICAL, like monitoring-plugins' ``max_state_alt``), and what the check reads
from the machine (``System``; tests pass a fake)."""

from __future__ import annotations

import shutil
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil

from crawlers.base import Crawler
from ticket_alarm.config.settings import Settings
from ticket_alarm.i18n import t
from ticket_alarm.logs import redact
from ticket_alarm.store.api import Store

OK, WARNING, CRITICAL, UNKNOWN = "OK", "WARNING", "CRITICAL", "UNKNOWN"
EXIT_CODES = {OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3}
_SEVERITY = {OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3}


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: str
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    def add(self, name: str, status: str, detail: str) -> None:
        self.checks.append(Check(name, status, redact(detail)))

    @property
    def status(self) -> str:
        if not self.checks:
            return UNKNOWN
        return max((c.status for c in self.checks), key=_SEVERITY.__getitem__)

    @property
    def exit_code(self) -> int:
        return EXIT_CODES[self.status]

    def to_json(self) -> dict[str, Any]:
        return {"status": self.status, "checks": [asdict(c) for c in self.checks]}

    def summary(self) -> str:
        bad = [c for c in self.checks if c.status != OK]
        if not bad:
            return t("health.summary.ok", count=len(self.checks))
        names = ", ".join(c.name for c in bad)
        return t("health.summary.bad", status=self.status, bad=len(bad), total=len(self.checks), names=names)

    def lines(self) -> list[str]:
        return [self.summary(), *(f"{c.status} {c.name}: {c.detail}" for c in self.checks)]


class System(Protocol):
    """What the check reads from the machine; tests pass a fake."""

    def cpu_percent(self) -> float: ...

    def memory_percent(self) -> float: ...

    def disk_usage(self, path: Path) -> tuple[float, int]:
        """(percent used, bytes free) of the file system holding ``path``."""
        ...

    def process_rss_mb(self, pid: int) -> float | None: ...


class PsutilSystem:
    def cpu_percent(self) -> float:
        return float(psutil.cpu_percent(interval=0.5))

    def memory_percent(self) -> float:
        return float(psutil.virtual_memory().percent)

    def disk_usage(self, path: Path) -> tuple[float, int]:
        usage = shutil.disk_usage(path)
        return (100.0 * usage.used / usage.total if usage.total else 0.0, usage.free)

    def process_rss_mb(self, pid: int) -> float | None:
        try:
            return psutil.Process(pid).memory_info().rss / (1024 * 1024)
        except (psutil.Error, OSError):
            return None


Probe = Callable[[str], Awaitable[int | None]]
# opens the configured store when a check (or a backup) is ready to read it; the composition root
# (``app.store_opener``) decides which store that is, the caller closes what it gets
StoreOpener = Callable[[], Awaitable[Store]]


def enabled_sites(settings: Settings, known: dict[str, type[Crawler]]) -> list[str]:
    return [name for name in known if settings.site(name).enabled]
