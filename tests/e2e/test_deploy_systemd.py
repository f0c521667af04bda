"""The systemd unit (deploy/systemd): it runs the daemon like the supervisor program does, and
``systemd-analyze verify`` accepts it."""

from __future__ import annotations

import configparser
import getpass
import grp
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py


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
