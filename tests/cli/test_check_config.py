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
from tests.support.stand import ROUTE_HOOK as ROUTE
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


# --- route destinations (issue 24): Discord, ntfy, Telegram; at least one, each of the right shape ----

NTFY = "https://ntfy.sh/ticket_alarm-iu"
NTFY_TOKEN = "tk_abcdefghijklmnopqrstuvwxyz012"  # ntfy's shape: tk_ and 29 more
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def test_a_route_with_ntfy_and_telegram_only_is_valid_and_their_tokens_are_masked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    telegram = {"bot_token": BOT_TOKEN, "chat_id": -1001234567890}  # an integer chat id is read as text
    route = {"name": "iu", "ntfy_url": NTFY, "ntfy_token": NTFY_TOKEN, "telegram": telegram}
    path = write_config(tmp_path, {"data_dir": str(tmp_path / "data"), "routes": [route]})
    code, out, err = run_main(capsys, "check-config", "--json", "--config", str(path))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["mode"] == "ntfy+telegram" and shown["routes"][0]["webhook_url"] is None
    assert (
        shown["routes"][0]["ntfy_url"] == NTFY
        and shown["routes"][0]["telegram"]["chat_id"] == "-1001234567890"
    )
    assert (
        shown["routes"][0]["ntfy_token"] == "****" and shown["routes"][0]["telegram"]["bot_token"] == "****"
    )
    assert NTFY_TOKEN not in out + err and BOT_TOKEN.split(":")[1] not in out + err


@pytest.mark.parametrize(
    ("route", "said"),
    [
        ({}, "routes[iu]: route 'iu' has no destination: set webhook_url (Discord), ntfy_url or telegram"),
        ({"ntfy_url": "http://ntfy.example.com/iu"}, "routes[iu].ntfy_url: not an ntfy topic URL"),
        ({"ntfy_url": "https://ntfy.sh/"}, "routes[iu].ntfy_url: not an ntfy topic URL"),
        ({"ntfy_url": "https://ntfy.sh/a+b"}, "routes[iu].ntfy_url: not an ntfy topic URL"),
        ({"ntfy_url": "https://ntfy.sh/" + "x" * 65}, "routes[iu].ntfy_url: not an ntfy topic URL"),
        ({"ntfy_url": NTFY, "ntfy_token": "tk_short"}, "routes[iu].ntfy_token: not an ntfy token"),
        ({"ntfy_url": NTFY, "ntfy_token": "two words"}, "routes[iu].ntfy_token: not an ntfy token"),
        ({"ntfy_token": NTFY_TOKEN, "webhook_url": ROUTE}, "route 'iu' has ntfy_token but no ntfy_url"),
        (
            {"telegram": {"bot_token": "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "chat_id": "1"}},
            "routes[iu].telegram.bot_token: not a Telegram bot token: expected 123456789:AAH…",
        ),
        (
            {"telegram": {"bot_token": BOT_TOKEN, "chat_id": "my channel"}},
            "routes[iu].telegram.chat_id: not a Telegram chat id: expected an integer",
        ),
    ],
)
def test_a_bad_destination_is_refused_naming_the_route_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], route: dict[str, Any], said: str
) -> None:
    config = {"data_dir": str(tmp_path / "data"), "routes": [{"name": "iu", **route}]}
    code, out, err = run_main(capsys, "check-config", "--config", str(write_config(tmp_path, config)))
    assert code == 2 and said in err, err
    assert "Traceback" not in err and "configuration is valid" not in out + err
    for secret in (NTFY_TOKEN, BOT_TOKEN, "AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"):
        assert secret not in out + err  # a refused config still never prints a token


def test_a_route_whose_name_is_another_routes_ntfy_lane_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    routes = [{"name": "a", "ntfy_url": NTFY}, {"name": "a/ntfy", "webhook_url": ROUTE}]
    config = {"data_dir": str(tmp_path / "data"), "routes": routes}
    code, _, err = run_main(capsys, "check-config", "--config", str(write_config(tmp_path, config)))
    assert code == 2 and "route 'a/ntfy' delivers on lane 'a/ntfy', which another route's destination" in err
