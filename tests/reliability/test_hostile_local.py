"""Scenario 13 (local): the lock, config errors and exit codes of issue 13 with the real CLI and daemon.

- 13.3 deleting ``ticket-alarm.lock`` does not let a second daemon in (the data directory itself is
  locked); ``run --config /abs/config.json`` from another folder opens the same store (relative
  ``data_dir`` is relative to the config file) and is refused naming the pid; the banner names the
  absolute store;
- 13.9 / 13.10 hostile config: an environment value pydantic-settings cannot parse, a config nested
  100,000 deep, ``inf`` and ``1e300``, a route name carrying a forged log line: exit 2 with one
  ERROR paragraph naming the variable or key, no traceback, no forged line;
- 13.11 ``once`` exits 1 when alerts stay undelivered (a deleted webhook, Discord down for the whole
  wait), 130 on SIGINT with one line; SIGHUP stops the daemon cleanly (logged, exit 0).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, DaemonProcess, child_env, run_cli, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    delivered,
    duplicates,
    token_of,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.processes import run_cli_interrupted
from tests.support.server import Response
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e


def test_deleting_the_lock_file_or_another_cwd_never_lets_a_second_daemon_in(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    webhook = discord.add_webhook()
    folder = tmp_path / "conf"
    folder.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    settings = stand_config(tmp_path, site, webhook, notify_on_first_run=True)
    config = write_config(folder, {**settings, "data_dir": "data"})
    produced = notices.add(3)
    d = DaemonProcess(config, tmp_path)  # cwd tmp_path: "data" must still mean conf/data
    outputs: dict[str, str] = {}
    try:
        d.wait_log("크롤링 완료: teststand")
        store = folder / "data" / "ticket-alarm.sqlite3"
        assert f"store {store}" in d.out(), d.out()[-2000:]
        (folder / "data" / "ticket-alarm.lock").unlink()  # an operator "cleaning up"
        for command in ("run", "once"):
            result = run_cli(command, "--config", str(config), cwd=elsewhere, timeout=30)
            outputs[command] = result.stdout + result.stderr
            assert result.returncode == 2, (command, result.returncode, result.stderr[-1500:])
            assert f"pid {d.proc.pid}" in result.stderr, result.stderr
        assert not (elsewhere / "data").exists(), "a second store was opened beside the current directory"
        ids = notices.add(2, prefix="후")
        produced += ids
        d.wait_for(lambda: set(delivered(discord)) >= set(produced), 30, "the daemon keeps delivering")
        assert d.terminate()[0] == 0
    finally:
        d.cleanup()
    counts = delivered(discord)
    report.add(
        "13.3 lock file deleted; run --config from another folder",
        produced=len(produced),
        delivered=sum(counts.values()),
        lost=len(set(produced) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures="second run and once: exit 2 naming the pid (from the kernel's lock table); "
        "banner names the absolute store",
    )
    assert counts == {i: 1 for i in produced}
    outputs["daemon"] = d.out() + d.err()
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])


FORGED = "2099-01-01 00:00:00 [ERROR] 크롤링 실패: forged"


def _cases(
    tmp_path: Path, site: FakeSite
) -> list[tuple[str, list[str], dict[str, Any] | str, dict[str, str], str]]:
    """(label, command, config (dict or raw text), environment, the name the ERROR must contain)."""
    base = stand_config(tmp_path, site, None)
    nested = '{"routes": ' + "[" * 100_000 + "]" * 100_000 + "}"
    return [
        (
            "env http not JSON",
            ["check-config"],
            base,
            {"TICKET_ALARM_HTTP": "{timeout:1"},
            "TICKET_ALARM_HTTP",
        ),
        ("env list not JSON", ["once"], base, {"TICKET_ALARM_REMINDERS": "[60,x]"}, "TICKET_ALARM_REMINDERS"),
        ("nested 100,000 deep", ["check-config"], nested, {}, "nested too deeply"),
        ("interval inf", ["check-config"], {**base, "interval": "inf"}, {}, "interval"),
        ("interval inf (run)", ["run"], {**base, "interval": "inf"}, {}, "interval"),
        ("interval 1e300 (run)", ["run"], {**base, "interval": 1e300}, {}, "interval"),
        (
            "timeout 1e300",
            ["check-config"],
            {**base, "http": {**base["http"], "timeout": 1e300}},
            {},
            "http.timeout",
        ),
        (
            "lock_cooldown 1e12",
            ["check-config"],
            {**base, "sites": {**base["sites"], "teststand": {"lock_cooldown": 1e12}}},
            {},
            "lock_cooldown",
        ),
        (
            "route name with a forged log line",
            ["check-config"],
            {
                **base,
                "routes": [
                    {
                        "name": f"evil\n{FORGED}",
                        "webhook_url": "http://127.0.0.1:9/api/webhooks/12345/abcdefghijkl",
                    }
                ],
            },
            {},
            "route name",
        ),
    ]


def test_hostile_config_exits_2_with_one_paragraph(tmp_path: Path, site: FakeSite, report: Report) -> None:
    started = time.monotonic()
    procs = []
    for n, (label, command, config, env, name) in enumerate(_cases(tmp_path, site)):
        path = tmp_path / f"config{n}.json"
        path.write_text(config if isinstance(config, str) else json.dumps(config), encoding="utf-8")
        data_dir = tmp_path / "data"
        proc = subprocess.Popen(
            [sys.executable, "-m", "ticket_alarm", *command, "--config", str(path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=child_env(**env),
            cwd=str(ROOT),
        )
        procs.append((label, name, proc))
    problems = []
    for label, name, proc in procs:
        try:
            out, err = proc.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            problems.append(f"{label}: still running after 60s (it started?)")
            continue
        errors = [line for line in err.splitlines() if "[ERROR]" in line]
        if proc.returncode != 2:
            problems.append(f"{label}: exit {proc.returncode}\n{err[-1500:]}")
        elif len(errors) != 1 or name not in errors[0]:
            problems.append(f"{label}: expected one ERROR naming {name!r}:\n{err[-1500:]}")
        if "Traceback" in out + err:
            problems.append(f"{label}: traceback\n{err[-1500:]}")
        if any(line.startswith("2099-") for line in (out + err).splitlines()):
            problems.append(f"{label}: a forged log line got through\n{err[-1500:]}")
    assert not problems, "\n\n".join(problems)
    assert not data_dir.exists(), "a refused config created the data dir"
    report.add(
        "13.10 hostile config: env not JSON, 100,000 deep, inf/1e300, bounds, forged route name",
        produced=0,
        delivered=0,
        lost=0,
        duplicates=0,
        seconds=time.monotonic() - started,
        figures=f"{len(procs)} invocations (check-config/once/run): exit 2, one ERROR naming the variable or "
        "key, no traceback, no forged line",
    )


def test_exit_codes_tell_undelivered_alerts_sigint_and_sighup(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    good = discord.add_webhook()
    wrong_token = good.rsplit("/", 1)[0] + "/WRONGwrongWRONGwrong"
    produced = notices.add(3)
    figures = []
    # a webhook that answers Discord's JSON 401: exit 1 saying how many and why
    config = write_config(tmp_path, stand_config(tmp_path, site, wrong_token, notify_on_first_run=True))
    broken = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert broken.returncode == 1, broken.stderr[-2000:]
    assert "3 alerts left undelivered" in broken.stderr and "webhook is broken" in broken.stderr, (
        broken.stderr
    )
    figures.append("401 webhook: exit 1 '3 alerts left undelivered … webhook is broken'")
    # Discord down for the whole wait (503)
    config = write_config(tmp_path, stand_config(tmp_path, site, good, notify_on_first_run=True))
    discord.fail(503, seconds=30)
    down = run_cli("once", "--wait", "2", "--config", str(config), cwd=tmp_path, timeout=60)
    discord.clear_faults()
    assert down.returncode == 1, down.stderr[-2000:]
    assert "Discord failed for the whole wait" in down.stderr, down.stderr
    figures.append("503 for the whole wait: exit 1")
    # Ctrl-C while a crawl hangs: exit 130, one line saying what was kept
    outputs = {"once 401": broken.stdout + broken.stderr, "once 503": down.stdout + down.stderr}
    # the hanging request outlasts any wait for the signal: on a loaded machine a 5-s http.timeout could
    # end the crawl (exit 1) before SIGINT arrives (the server's delay ends when the test stops it)
    patient = write_config(
        tmp_path,
        stand_config(tmp_path, site, good, notify_on_first_run=True, http={"timeout": 300}),
        "patient.json",
    )
    for command in (["once"], ["test-crawlers"]):
        seen = len(site.log)
        site.hook = lambda req: Response(200, b"{}", delay=300)
        done, seconds = run_cli_interrupted(
            *command, "--config", str(patient), cwd=tmp_path, started=lambda seen=seen: len(site.log) > seen
        )
        site.hook = None
        out, err = done.stdout, done.stderr
        outputs[f"{command[0]} SIGINT"] = out + err
        assert done.returncode == 130, (command, done.returncode, err[-2000:])
        assert err.count("interrupted (SIGINT)") == 1, err
        figures.append(f"{command[0]} SIGINT: exit 130 in {seconds:.1f}s")
    # SIGHUP: logged, a clean stop
    d = DaemonProcess(config, tmp_path, "hup")
    try:
        d.wait_for(lambda: set(delivered(discord)) >= set(produced), 30, "delivery before SIGHUP")
        d.proc.send_signal(signal.SIGHUP)
        code = d.proc.wait(timeout=15)
    finally:
        d.cleanup()
    assert code == 0 and "SIGHUP received" in d.out(), (code, d.out()[-1500:])
    figures.append("SIGHUP: logged, exit 0")
    outputs["daemon"] = d.out() + d.err()
    counts = delivered(discord)
    report.add(
        "13.11 exit codes: once with undelivered alerts, SIGINT, SIGHUP",
        produced=len(produced),
        delivered=sum(counts.values()),
        lost=len(set(produced) - set(counts)),
        duplicates=duplicates(counts),
        seconds=time.monotonic() - started,
        figures="; ".join(figures),
    )
    assert counts == {i: 1 for i in produced}
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(good), "WRONGwrongWRONGwrong"])
    assert os.environ.get("TICKET_ALARM_CONFIG") is None
