from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.discord_standin import FakeDiscord
from tests.support.postgres import PostgresServer
from tests.support.postgres import missing_reason as postgres_missing
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm import i18n

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    # the suite asserts the English messages; tests/unit/test_i18n.py checks the Korean default
    i18n.set_language("en")


TIERS = ("unit", "contract", "cli", "e2e", "reliability")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries its tier's marker by the folder it lives in (``-m unit``, ``-m "not e2e"``)."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(tests_dir).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))


PLUGIN_DIR = Path(__file__).resolve().parent / "plugin"
REAL_SITES = ("interpark", "yes24", "melon", "ticketlink")


@pytest.fixture
def discord() -> Iterator[FakeDiscord]:
    fake = FakeDiscord().start()
    yield fake
    fake.stop()


@pytest.fixture
def notices() -> TestStandNotices:
    return TestStandNotices()


@pytest.fixture
def site(notices: TestStandNotices) -> Iterator[FakeSite]:
    fake = FakeSite()
    fake.routes["/api/notices"] = notices.route
    fake.start()
    yield fake
    fake.stop()


@pytest.fixture
def plugin_on_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test plugin's dist-info visible to importlib.metadata in this process."""
    monkeypatch.syspath_prepend(str(PLUGIN_DIR))


def stand_config(tmp_path: Path, site: FakeSite, webhook: str | None, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "interval": 1,
        "data_dir": str(tmp_path / "data"),
        "sites": {name: {"enabled": False} for name in REAL_SITES},
        "http": {"min_request_interval": 0, "retries": 1, "backoff": 0.05, "timeout": 5},
    }
    config["sites"]["teststand"] = {"base_url": site.base_url}
    if webhook:
        config["discord_webhook_url"] = webhook
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def write_config(tmp_path: Path, config: dict[str, Any], name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


def child_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK"))}
    env["PYTHONPATH"] = os.pathsep.join([str(PLUGIN_DIR), str(ROOT)])
    env["PYTHONUNBUFFERED"] = "1"
    env[i18n.LANG_ENV] = "en"  # pass TICKET_ALARM_LANG="ko" in extra for the Korean default
    env.update(extra)
    return env


class DaemonProcess:
    """The real daemon (``python -m ticket_alarm run``) as a child process, output in files."""

    def __init__(
        self, config: Path, tmp_path: Path, tag: str = "daemon", *args: str, env: dict[str, str] | None = None
    ):
        self.out_path = tmp_path / f"{tag}.out.log"
        self.err_path = tmp_path / f"{tag}.err.log"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "ticket_alarm", "run", "--config", str(config), *args],
            stdout=self.out_path.open("wb"),
            stderr=self.err_path.open("wb"),
            env=env or child_env(),
            cwd=str(tmp_path),
        )

    def out(self) -> str:
        return self.out_path.read_text(encoding="utf-8", errors="replace")

    def err(self) -> str:
        return self.err_path.read_text(encoding="utf-8", errors="replace")

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 30.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) while waiting for {what}:\n"
                    f"{self.out()[-3000:]}\n{self.err()[-3000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(
            f"timed out after {timeout}s waiting for {what}:\n{self.out()[-3000:]}\n{self.err()[-2000:]}"
        )

    def wait_log(self, phrase: str, count: int = 1, timeout: float = 30.0) -> None:
        self.wait_for(lambda: self.out().count(phrase) >= count, timeout, f"{count}x {phrase!r} in stdout")

    def terminate(self, timeout: float = 15.0) -> tuple[int, float]:
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=timeout)
        return code, time.monotonic() - started

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def cleanup(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        d.cleanup()


def run_cli(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ticket_alarm", *args],
        capture_output=True,
        text=True,
        env=env or child_env(),
        cwd=str(cwd or ROOT),
        timeout=timeout,
    )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """One throwaway PostgreSQL server for the session (tests/support/postgres.py)."""
    reason = postgres_missing()
    if reason:
        pytest.fail(reason)
    server = PostgresServer().start()
    yield server
    server.stop()


@pytest.fixture
def pg_url(postgres_server: PostgresServer) -> Iterator[str]:
    """``postgresql://…`` of a fresh, empty database of its own, dropped after the test."""
    name = postgres_server.create_database()
    yield postgres_server.url(name)
    postgres_server.drop_database(name)
