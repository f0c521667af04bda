"""``check-config``: where notices go, the example's placeholder webhook refused, ``--json`` as exactly
one document, ``--config`` before the command, defaults and environment without a file, a ``max_rss_mb``
below the daemon's normal size. Mostly ``main(argv)`` in this process; a copied example config runs as
``python -m``, as a user meets it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT, run_cli, write_config
from tests.support.fan import FAN_TOKEN
from tests.support.inprocess import run_main
from tests.support.stand import WEBHOOK, iu_route
from ticket_alarm.config.settings import DAEMON_NORMAL_RSS_MB

pytestmark = pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py


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


def test_a_copied_example_config_is_refused_with_the_how_to(tmp_path: Path) -> None:
    shutil.copy(ROOT / "config.example.json", tmp_path / "config.json")
    run = run_cli("check-config", cwd=tmp_path, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert "discord_webhook_url: this is the example's placeholder, not a real webhook" in run.stderr
    assert "Copy Webhook URL" in run.stderr and "Traceback" not in run.stderr
    assert "configuration is valid" not in run.stdout + run.stderr


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


@pytest.mark.parametrize(
    ("web", "warned"),
    [
        ({"port": 8080, "host": "0.0.0.0"}, True),
        ({"port": 8080, "host": "192.168.0.10"}, True),
        ({"port": 8080, "host": "0.0.0.0", "token": FAN_TOKEN}, False),
        ({"port": 8080, "host": "127.0.0.1"}, False),
        ({"host": "0.0.0.0"}, False),  # no port: no page at all
    ],
)
def test_check_config_warns_about_web_host_beyond_loopback_without_a_token(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], web: dict[str, Any], warned: bool
) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "data"), "web": web})
    code, out, err = run_main(capsys, "check-config", "--json", "--config", str(config))
    assert code == 0, err
    assert ("is reachable beyond this machine and web.token is not set" in err) is warned
    assert FAN_TOKEN not in out + err
