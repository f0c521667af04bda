"""Issue 15, a new user's first week: the catch-all beside routes, the example's placeholder webhook,
a locked site in `once`, `check-config --json`, `--config` before the command, `history search`,
shell completion and the systemd unit.

Most cases call the CLI's ``main(argv)`` in this process against the real SQLite store and the
stand-in site; the few a user meets as a process (a copied example config) run ``python -m``.
"""

from __future__ import annotations

import asyncio
import configparser
import getpass
import grp
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from loguru import logger

from tests.conftest import ROOT, run_cli, stand_config, write_config
from tests.support.site_standin import FakeSite, TestStandNotices
from tests.unit.test_alerts import Harness, ticket
from ticket_alarm import cli
from ticket_alarm.clock import FakeClock
from ticket_alarm.config.routes import Router, Verdict, route_verdicts
from ticket_alarm.config.settings import DAEMON_NORMAL_RSS_MB, RouteSettings, Settings
from ticket_alarm.ops.explain import explain, render_text
from ticket_alarm.store import SiteState
from ticket_alarm.store.sqlite.backend import SqliteStore

WEBHOOK = "https://discord.com/api/webhooks/111111111111111111/tokenAAAAAAAAAAAAAAAAAAAAAAAA"
ROUTE_HOOK = "https://discord.com/api/webhooks/222222222222222222/tokenBBBBBBBBBBBBBBBBBBBBBBBB"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for key in list(os.environ):
        if key.upper().startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK")):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    yield
    logger.remove()  # main() bound the log sinks to this test's captured streams
    logger.add(sys.stderr)


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def iu_route(**kw: Any) -> dict[str, Any]:
    return {"name": "iu", "webhook_url": ROUTE_HOOK, "include": ["아이유"], **kw}


# --- 1: routes and the catch-all discord_webhook_url -------------------------------------------


def test_the_unrouted_catch_all_takes_only_what_no_route_took() -> None:
    iu = RouteSettings(**iu_route())
    catch_all = Settings(discord_webhook_url=WEBHOOK, routes=[iu_route()]).catch_all()
    router = Router([iu], catch_all=catch_all, main_receives="unrouted")
    assert router.lanes_for(ticket("1", title="아이유 콘서트")) == ["iu"]
    assert router.lanes_for(ticket("2", title="뮤지컬 레베카")) == ["default"]
    assert Router([iu]).lanes_for(ticket("2", title="뮤지컬 레베카")) == []
    assert Router([], catch_all=catch_all).lanes_for(ticket("3")) == ["default"]
    verdicts = route_verdicts([iu], ticket("2", title="뮤지컬 레베카"), catch_all, main_receives="unrouted")
    assert (
        verdicts[0].route == "iu" and not verdicts[0].matched and "no include keyword" in verdicts[0].reason
    )
    assert verdicts[1] == Verdict(
        "default", True, "matched no route: the catch-all discord_webhook_url receives it"
    )


async def test_unmatched_notices_reach_the_catch_all_and_explain_says_why(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 30, tzinfo=UTC))
    settings = Settings(
        discord_webhook_url=WEBHOOK,
        routes=[iu_route()],
        main_receives="unrouted",
        notify_on_first_run=True,
        data_dir=tmp_path / "a",
    )
    h = Harness(tmp_path / "a", settings, clock)
    try:
        await h.cycle(ticket("1", title="아이유 콘서트 오픈"), ticket("2", title="뮤지컬 레베카 오픈"))
        assert sorted((e["route"], e["title"]) for e in await h.outbox()) == [
            ("default", "뮤지컬 레베카 오픈"),
            ("iu", "아이유 콘서트 오픈"),
        ]
        doc = await explain(h.store, settings, "fake", "1")
        assert doc is not None
        assert [(r["route"], r["matched"]) for r in doc["routes"]] == [("iu", True), ("default", False)]
        assert "route iu takes it" in doc["routes"][1]["reason"]
    finally:
        await h.close()


async def test_with_routes_only_explain_names_matched_no_route(tmp_path: Path) -> None:
    clock = FakeClock(datetime(2026, 11, 30, tzinfo=UTC))
    settings = Settings(routes=[iu_route()], notify_on_first_run=True, data_dir=tmp_path / "b")
    h = Harness(tmp_path / "b", settings, clock)
    try:
        await h.cycle(ticket("2", title="뮤지컬 레베카 오픈"))
        assert await h.outbox() == []
        doc = await explain(h.store, settings, "fake", "2")
        assert doc is not None and doc["nothing_sent"] is not None
        text = render_text(doc)
        assert "nothing (matched no route" in text and "first crawl" not in text
        assert "iu" in text and "no include keyword matches" in text
    finally:
        await h.close()


@pytest.mark.parametrize(
    ("config", "phrase"),
    [
        (
            {"discord_webhook_url": WEBHOOK, "routes": [iu_route()], "main_receives": "unrouted"},
            "matches no route goes to discord_webhook_url",
        ),
        (
            {"discord_webhook_url": WEBHOOK, "routes": [iu_route()]},
            "every notice goes to discord_webhook_url (the main channel), and also to each route",
        ),
        ({"routes": [iu_route()]}, "matches no route is not sent (set discord_webhook_url"),
        ({"discord_webhook_url": WEBHOOK}, "every notice goes to discord_webhook_url"),
        ({}, "dry run"),
    ],
)
def test_check_config_says_where_notices_go(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], config: dict[str, Any], phrase: str
) -> None:
    path = write_config(tmp_path, {"data_dir": str(tmp_path / "data"), **config})
    code, out, err = run_main(capsys, "check-config", "--json", "--config", str(path))
    assert code == 0, err
    assert phrase in json.loads(out)["delivery"] and f"delivery: {json.loads(out)['delivery']}" in err


# --- 2: the example's placeholder webhook ------------------------------------------------------


def test_a_copied_example_config_is_refused_with_the_how_to(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.json", tmp_path / "config.json")
    run = run_cli("check-config", cwd=tmp_path, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "discord_webhook_url: this is the example's placeholder, not a real webhook" in run.stderr
    assert "Copy Webhook URL" in run.stderr and "Traceback" not in run.stderr
    assert "configuration is valid" not in run.stdout + run.stderr


# --- 3: a locked site prints why and until when ------------------------------------------------


def test_once_says_a_locked_site_was_skipped_and_until_when(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    plugin_on_path: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notices.add(2)
    path = write_config(tmp_path, stand_config(tmp_path, site, None))
    until = datetime.now(UTC).timestamp() + 3000

    async def lock_the_site() -> None:
        store = SqliteStore.open_dir(tmp_path / "data")
        await store.save_site_state(
            SiteState("teststand", True, failure_streak=1, last_error="HTTP 423", locked_until=until)
        )
        await store.close()

    asyncio.run(lock_the_site())  # the command below runs its own event loop
    code, out, _err = run_main(capsys, "once", "--config", str(path))
    assert code == 0
    skipped = [line for line in out.splitlines() if "크롤링 건너뜀: teststand" in line]
    assert len(skipped) == 1 and "HTTP 423" in skipped[0] and "KST" in skipped[0]
    assert "(in 50m)" in skipped[0] or "(in 49m)" in skipped[0]
    assert "once: 0 sites crawled" in out and site.log == []


# --- 8, 9: check-config --json, --config before the command ----------------------------------


def test_check_config_json_is_exactly_one_document(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, {"data_dir": str(tmp_path / "data"), "discord_webhook_url": WEBHOOK})
    code, out, err = run_main(capsys, "check-config", "--json", "--config", str(path))
    assert code == 0
    doc = json.loads(out)  # the whole of stdout: nothing before or after the document
    assert doc["discord_webhook_url"].endswith("/****") and doc["mode"] == "discord"
    assert f"{path}: configuration is valid" in err and "[INFO]" not in out


def test_config_is_accepted_before_the_command_too(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = write_config(tmp_path, {"data_dir": str(tmp_path / "one"), "interval": 111}, "one.json")
    second = write_config(tmp_path, {"data_dir": str(tmp_path / "two"), "interval": 222}, "two.json")
    code, out, _ = run_main(capsys, "--config", str(first), "check-config", "--json")
    assert code == 0 and json.loads(out)["interval"] == 111
    code, out, _ = run_main(capsys, "--config", str(first), "check-config", "--json", "--config", str(second))
    assert code == 0 and json.loads(out)["interval"] == 222  # the one after the command wins
    code, _, err = run_main(capsys, "--config", str(second), "history", "--json", "stats")
    assert code == 2 and str(tmp_path / "two") in err  # the config before the command: its data_dir
    missing = tmp_path / "missing.json"
    code, _, err = run_main(capsys, "--config", str(missing), "run")
    assert code == 2 and f"{missing}: config file not found" in err


def test_without_a_config_file_check_config_says_defaults_and_environment(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run_main(capsys, "check-config", "--json")
    assert code == 0 and json.loads(out)["mode"].startswith("dry run")
    assert "no config file: defaults and environment: configuration is valid" in err
    assert "config.json: configuration is valid" not in err


# --- 18: max_rss_mb below the daemon's normal size --------------------------------------------


@pytest.mark.parametrize(
    ("ceiling", "warned"), [(DAEMON_NORMAL_RSS_MB / 2, True), (DAEMON_NORMAL_RSS_MB * 3, False)]
)
def test_check_config_warns_about_a_max_rss_below_the_normal_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], ceiling: float, warned: bool
) -> None:
    path = write_config(tmp_path, {"data_dir": str(tmp_path / "data"), "max_rss_mb": ceiling})
    code, _out, err = run_main(capsys, "check-config", "--config", str(path))
    assert code == 0
    assert ("[WARNING] max_rss_mb" in err and "below the daemon's normal size" in err) is warned


# --- 11: history search ------------------------------------------------------------------------


def test_history_search_folds_spaces_says_when_cut_and_shows_the_open_time(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    plugin_on_path: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notices.add(3, prefix="아이유 콘서트")
    notices.add(1, prefix="뮤지컬", open_at=None)
    path = write_config(tmp_path, stand_config(tmp_path, site, None))
    assert run_main(capsys, "once", "--config", str(path))[0] == 0
    code, out, err = run_main(capsys, "history", "search", "아이유콘서트", "--config", str(path))
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("teststand")]
    assert len(rows) == 3 and all("2027-12-01 20:00 KST" in r and "아이유 콘서트" in r for r in rows)
    assert "OPENS" in out and "more match" not in out
    code, out, err = run_main(
        capsys, "history", "search", "아이유 콘 서트", "--limit", "2", "--config", str(path)
    )
    assert code == 0 and len([line for line in out.splitlines() if line.startswith("teststand")]) == 2
    assert "(the newest 2 shown; more match: raise --limit or narrow TEXT)" in out
    assert "[WARNING] history search: more than 2 notices match" in err
    code, out, err = run_main(capsys, "history", "--json", "search", "뮤지컬", "--config", str(path))
    hits = json.loads(out)
    assert code == 0 and [h["open_at"] for h in hits] == [None] and "more than" not in err
    code, out, _ = run_main(capsys, "history", "search", "뮤지컬", "--config", str(path))
    assert "추후 공지" in out


# --- 18: shell completion ----------------------------------------------------------------------


def _bash_complete(script: Path, line: str) -> list[str]:
    words = line.split(" ")
    code = (
        f"source {script}; COMP_WORDS=({' '.join(repr(w) for w in words)}); "
        f'COMP_CWORD={len(words) - 1}; _ticket_alarm; printf "%s\\n" "${{COMPREPLY[@]}}"'
    )
    run = subprocess.run(["bash", "-c", code], capture_output=True, text=True, timeout=10)
    assert run.returncode == 0, run.stderr
    return run.stdout.split()


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_completion_completes_commands_actions_and_sites(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, "completion", "bash")
    assert code == 0 and "complete -o default -F _ticket_alarm ticket-alarm" in out
    script = tmp_path / "ticket-alarm.bash"
    script.write_text(out, encoding="utf-8")
    assert "check-config" in _bash_complete(script, "ticket-alarm ")
    assert _bash_complete(script, "ticket-alarm hi") == ["history"]
    assert _bash_complete(script, "ticket-alarm history s") == ["search", "stats"]
    assert _bash_complete(script, "ticket-alarm --config x.json h") == ["health", "history"]
    assert _bash_complete(script, "ticket-alarm test-crawlers me") == ["melon"]
    assert "--limit" in _bash_complete(script, "ticket-alarm history search --")
    assert "--no-probe" in _bash_complete(script, "ticket-alarm health --")


def test_zsh_completion_is_a_compdef_script(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "completion", "zsh")
    assert (
        code == 0 and out.startswith("#compdef ticket-alarm") and "compdef _ticket_alarm ticket-alarm" in out
    )
    assert "'history search' '--config --help --json --limit'" in out
    if shutil.which("zsh"):
        check = subprocess.run(["zsh", "-n"], input=out, capture_output=True, text=True, timeout=10)
        assert check.returncode == 0, check.stderr


def test_completion_for_an_unknown_shell_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["completion", "fish"])
    assert exc.value.code == 2 and "invalid choice" in capsys.readouterr().err


# --- 18: the systemd unit ----------------------------------------------------------------------

UNIT = ROOT / "deploy" / "systemd" / "ticket-alarm.service"


def render_unit(tmp_path: Path) -> Path:
    values = {
        "@PYTHON@": sys.executable,
        "@CONFIG@": str(tmp_path / "config.json"),
        "@STATE_DIR@": str(tmp_path / "state"),
        "@LOG_DIR@": str(tmp_path / "logs"),
        "@USER@": getpass.getuser(),
        "@GROUP@": grp.getgrgid(os.getgid()).gr_name,
    }
    text = UNIT.read_text(encoding="utf-8")
    for placeholder, value in values.items():
        text = text.replace(placeholder, value)
    assert "@" not in text.split("\n[Unit]", 1)[1], "an unrendered placeholder is left"
    (tmp_path / "state").mkdir()
    (tmp_path / "logs").mkdir()
    out = tmp_path / "ticket-alarm.service"
    out.write_text(text, encoding="utf-8")
    return out


def test_the_systemd_unit_runs_the_daemon_like_the_supervisor_program(tmp_path: Path) -> None:
    unit = configparser.ConfigParser(strict=True, interpolation=None, delimiters=("=",))
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(render_unit(tmp_path), encoding="utf-8")
    service = unit["Service"]
    assert service["ExecStart"] == f"{sys.executable} -m ticket_alarm run --config {tmp_path / 'config.json'}"
    supervisor = (ROOT / "deploy" / "supervisor" / "ticket-alarm.conf").read_text(encoding="utf-8")
    assert f"stopwaitsecs={service['TimeoutStopSec']}" in supervisor and service["KillSignal"] == "SIGTERM"
    assert service["Restart"] == "on-failure" and service["RestartPreventExitStatus"] == "2"
    assert service["StandardOutput"].endswith("/monitor.out.log")
    assert service["StandardError"].endswith("/monitor.err.log")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_the_systemd_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    unit = render_unit(tmp_path)
    run = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", str(unit)], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stderr
    # unknown keys and bad values are only warnings for systemd: any line about our file is a defect
    assert [line for line in run.stderr.splitlines() if unit.name in line] == []
