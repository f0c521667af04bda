from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support import inprocess
from tests.support.browser import Chromium, find_chromium
from tests.support.deploy import Supervisor
from tests.support.discord_standin import FakeDiscord
from tests.support.postgres import PostgresServer
from tests.support.postgres import missing_reason as postgres_missing
from tests.support.processes import PLUGIN_DIR, ROOT, DaemonProcess, child_env, run_cli
from tests.support.site_standin import FakeSite, TestStandNotices
from tests.support.stand import REAL_SITES, stand_config, write_config
from ticket_alarm import i18n

# the shared helpers live in tests/support/; these names stay importable from here too
__all__ = [
    "PLUGIN_DIR",
    "REAL_SITES",
    "ROOT",
    "DaemonProcess",
    "child_env",
    "run_cli",
    "stand_config",
    "write_config",
]


def pytest_configure(config: pytest.Config) -> None:
    # the suite asserts the English messages; tests/unit/test_i18n.py checks the Korean default
    i18n.set_language("en")


TIERS = ("unit", "contract", "cli", "e2e", "reliability")


# what starts a process: a test whose source says one of these carries the ``e2e`` marker wherever it lives
STARTS_A_PROCESS = ("run_cli(", "DaemonProcess(", "Supervisor(", "subprocess.", "Popen(", "create_subprocess")
# the long poles, longest first (`--durations=60` of tests/e2e tests/reliability tests/cli, -n 4 or 6, on a
# loaded 2-core machine): started first, so that with pytest-xdist they run beside the many short tests
# instead of after them
LONG_POLES = (
    "tests/reliability/test_crash_safety.py",
    "tests/e2e/test_head_polls_daemon.py::test_a_moved_open_date_off_the_head_page",
    "tests/reliability/test_local_state.py::test_bad_config_is_one_clear_error_and_exit_2",
    "tests/reliability/test_secrets.py",
    "tests/cli/test_runbook.py::test_every_offline_command_of_the_runbook_works",
    "tests/reliability/test_hostile_delivery.py::test_non_discord_refusals_are_lane_failures_and_dead_letters",
    "tests/reliability/test_store_outage.py",
    "tests/cli/test_health.py::test_health_against_the_real_daemon_with_notify",
    "tests/cli/test_history.py::test_stats_and_search_on_a_crawled_store",
    "tests/e2e/test_replicas.py",
    "tests/reliability/test_fuzz.py::test_any_ticket_renders_to_a_payload_discord_accepts",
    "tests/reliability/test_discord_outage.py",
    "tests/reliability/test_site_faults.py",
    "tests/cli/test_korean.py::test_the_small_things_a_fan_meets_in_korean",
    "tests/e2e/test_deploy_supervisor.py::test_supervisor_runs_restarts_and_stops_the_daemon_gracefully",
    "tests/e2e/test_benchmarks_smoke.py",
)


def _starts_a_process(item: pytest.Item) -> bool:
    function = getattr(item, "function", None)
    try:
        source = inspect.getsource(function) if function is not None else ""
    except (OSError, TypeError):
        return False
    return any(phrase in source for phrase in STARTS_A_PROCESS)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Each test carries its tier's marker by the folder it lives in (``-m unit``, ``-m "not e2e"``),
    and ``e2e`` as well when it starts a process (the CLI, the daemon, supervisord…); the long poles
    are moved to the front of the run."""
    tests_dir = Path(__file__).resolve().parent
    for item in items:
        parts = Path(str(item.path)).resolve().relative_to(tests_dir).parts
        if parts and parts[0] in TIERS:
            item.add_marker(getattr(pytest.mark, parts[0]))
        if item.get_closest_marker("e2e") is None and _starts_a_process(item):
            item.add_marker(pytest.mark.e2e)

    def rank(item: pytest.Item) -> int:
        nodeid = item.nodeid.replace("\\", "/")
        return next((i for i, pole in enumerate(LONG_POLES) if nodeid.startswith(pole)), -1)

    # the long poles first, longest first, each followed by one short test: run with `--maxschedchunk 1`
    # (scripts/test.sh), pytest-xdist hands every worker two tests at the start and one more as each ends,
    # so the poles start at once on different workers instead of queueing on the first one
    poles = sorted((item for item in items if rank(item) >= 0), key=rank)
    others = [item for item in items if rank(item) < 0]
    paired = [x for pair in zip(poles, others, strict=False) for x in pair]
    items[:] = paired + poles[len(paired) // 2 :] + others[len(paired) // 2 :]


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


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    """A client for the notifiers under test, like the daemon's: never the environment's proxy (the
    stand-ins are on loopback)."""
    async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
        yield client


clean_env = pytest.fixture(inprocess.clean_env)
here = pytest.fixture(inprocess.here)  # the CLI in this process: here("once", "--config", c, lang="ko")


@pytest.fixture(scope="session")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Chromium]:
    """One headless Chromium for the session (each xdist worker has its own); a page per test."""
    chromium_path = find_chromium()
    if chromium_path is None:
        pytest.fail("chromium is not installed: apt-get install -y chromium (scripts/test.sh does it)")
    chromium = Chromium(chromium_path, tmp_path_factory.mktemp("chromium") / "profile")
    yield chromium
    chromium.close()


@pytest.fixture
def supervisors() -> Iterator[list[Supervisor]]:
    started: list[Supervisor] = []
    yield started
    for s in started:
        s.close()


@pytest.fixture
def daemons() -> Iterator[list[DaemonProcess]]:
    started: list[DaemonProcess] = []
    yield started
    for d in started:
        d.cleanup()


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
