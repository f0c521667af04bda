"""Config: every error is a ConfigError naming the file and key; secrets never leak; the CLI exits 2."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import child_env, run_cli
from ticket_alarm.config.environ import CONFIG_ENV
from ticket_alarm.config.load import check_site_names, load_config, resolve_config_path
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.urls import mask_url, parse_webhook
from ticket_alarm.errors import ConfigError

TOKEN = "SeCrEtToKeN_abcdefghijklmnopqrstuvwxyz-0123456789"
WEBHOOK = f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}"
OTHER_TOKEN = "OtHeRtOkEn_zyxwvutsrqponmlkjihgfedcba-9876543210"
OTHER = f"https://discord.com/api/webhooks/223456789012345678/{OTHER_TOKEN}"
PROXY_PASSWORD = "pr0xyPa55w0rd"
KNOWN = ["interpark", "melon", "teststand", "ticketlink", "yes24"]


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The outer environment must not leak into these tests."""
    for key in list(os.environ):
        if key.upper().startswith(("TICKET_ALARM_", "DISCORD_WEBHOOK")):
            monkeypatch.delenv(key)
    yield


def write(tmp_path: Path, data: Any, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def load_error(tmp_path: Path, data: Any, environ: dict[str, str] | None = None) -> str:
    path = write(tmp_path, data)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ or {})
    message = str(info.value)
    assert message.startswith(str(path)), message  # every error names the file
    return message


# --- file errors ---------------------------------------------------------------------------------


def test_malformed_json_names_line_column_and_reason(tmp_path: Path) -> None:
    message = load_error(tmp_path, '{\n  "interval": 5,\n  "data_dir": ,\n}')
    path = tmp_path / "config.json"
    assert f"{path}:3:15: invalid JSON: Expecting value" in message
    assert "trailing commas" in message


def test_trailing_comma_is_reported_at_its_position(tmp_path: Path) -> None:
    message = load_error(tmp_path, '{"interval": 5,}')
    assert ":1:16: invalid JSON" in message and "Expecting property name" in message


def test_top_level_must_be_an_object(tmp_path: Path) -> None:
    assert "top level must be a JSON object" in load_error(tmp_path, "[1, 2]")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.json"
    with pytest.raises(ConfigError, match="config file not found") as info:
        load_config(path, {})
    assert str(path) in str(info.value)


def test_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'{"interval": "\xff\xfe"}')
    with pytest.raises(ConfigError, match="is not UTF-8; save it again as UTF-8"):
        load_config(path, {})


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_bytes(b'\xef\xbb\xbf{"interval": 42}')
    assert load_config(path, {}).interval == 42


# --- key errors ----------------------------------------------------------------------------------


def test_unknown_nested_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"sites": {"melon": {"intervall": 60}}})
    assert "sites.melon.intervall: unknown key" in message


def test_unknown_top_level_key(tmp_path: Path) -> None:
    assert "webhook: unknown key" in load_error(tmp_path, {"webhook": WEBHOOK.replace(TOKEN, "x" * 20)})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"interval": "often"}, "interval: Input should be a valid number"),
        ({"http": {"timeout": -1}}, "http.timeout: Input should be greater than or equal to 0.1"),
        ({"http": {"max_concurrency": "x"}}, "http.max_concurrency: Input should be a valid integer"),
        ({"notify_on_first_run": "perhaps"}, "notify_on_first_run: Input should be a valid boolean"),
        ({"sites": {"melon": {"enabled": []}}}, "sites.melon.enabled: Input should be a valid boolean"),
        ({"sites": {"melon": {"base_url": "ftp://x"}}}, "sites.melon.base_url: expected scheme and host"),
        ({"routes": {"name": "x"}}, "routes: Input should be a valid list"),
        ({"log_level": "LOUD"}, "log_level: String should match pattern"),
        ({"proxy": {"https": "not a url"}}, "proxy.https: expected a proxy URL"),
    ],
)
def test_wrong_type_names_the_key(tmp_path: Path, data: dict[str, Any], expected: str) -> None:
    message = load_error(tmp_path, data)
    assert expected in message
    assert "config.example.json" in message  # says where to look


def test_several_errors_are_all_reported(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"interval": "x", "http": {"retries": 99}})
    assert "interval:" in message and "http.retries:" in message


# --- webhook URLs --------------------------------------------------------------------------------

ACCEPTED = [
    f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}",
    f"https://discordapp.com/api/webhooks/123456789012345678/{TOKEN}",
    f"https://canary.discord.com/api/webhooks/123456789012345678/{TOKEN}",
    f"https://ptb.discord.com/api/webhooks/123456789012345678/{TOKEN}",
    f"https://discord.com/api/v10/webhooks/123456789012345678/{TOKEN}",
    f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}/",
    f"http://127.0.0.1:8080/api/webhooks/123456789012345678/{TOKEN}",
    f"http://localhost:18080/api/webhooks/123456789012345678/{TOKEN}",
    f"  https://discord.com/api/webhooks/123456789012345678/{TOKEN}\n",
]
REJECTED = [
    f"http://discord.com/api/webhooks/123456789012345678/{TOKEN}",  # plain http to Discord
    f"https://discord.gg/api/webhooks/123456789012345678/{TOKEN}",
    f"https://evil.example/api/webhooks/123456789012345678/{TOKEN}",
    f"https://discord.com.evil.example/api/webhooks/123456789012345678/{TOKEN}",
    f"https://discord.com@evil.example/api/webhooks/123456789012345678/{TOKEN}",
    f"http://127.0.0.1.evil.example/api/webhooks/123456789012345678/{TOKEN}",
    f"http://10.0.0.1:8080/api/webhooks/123456789012345678/{TOKEN}",
    f"https://discord.com/api/webhooks/123/{TOKEN}",  # id too short
    f"https://discord.com/api/webhooks/notanid/{TOKEN}",
    "https://discord.com/api/webhooks/123456789012345678/",  # no token
    f"https://discord.com/api/webhooks/123456789012345678/{TOKEN}?wait=true",
    f"https://discord.com/channels/123456789012345678/{TOKEN}",
    f"discord.com/api/webhooks/123456789012345678/{TOKEN}",
]


@pytest.mark.parametrize("url", ACCEPTED)
def test_accepted_webhook_shapes(tmp_path: Path, url: str) -> None:
    settings = load_config(write(tmp_path, {"discord_webhook_url": url}), {})
    assert settings.discord_webhook_url == url.strip()
    assert parse_webhook(url) == ("123456789012345678", TOKEN)
    assert not settings.dry_run


@pytest.mark.parametrize("url", REJECTED)
def test_rejected_webhook_shapes_describe_the_shape_and_hide_the_token(tmp_path: Path, url: str) -> None:
    message = load_error(tmp_path, {"discord_webhook_url": url})
    assert "discord_webhook_url: not a Discord webhook URL" in message
    assert "https://discord.com/api/webhooks/{id}/{token}" in message
    assert TOKEN not in message


def test_rejected_route_and_ops_webhooks_hide_the_token(tmp_path: Path) -> None:
    bad = f"https://evil.example/api/webhooks/123456789012345678/{TOKEN}"
    message = load_error(
        tmp_path, {"routes": [{"name": "concerts", "webhook_url": bad}], "health": {"ops_webhook_url": bad}}
    )
    assert "webhook_url: not a Discord webhook URL" in message
    assert "health.ops_webhook_url: not a Discord webhook URL" in message
    assert "concerts" in message  # names the route
    assert TOKEN not in message


def test_empty_webhook_means_dry_run(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, {"discord_webhook_url": "  "}), {})
    assert settings.discord_webhook_url is None and settings.dry_run
    assert settings.effective_routes() == []


def test_legacy_key_in_the_file(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, {"DISCORD_WEBHOOK_URL": WEBHOOK}), {})
    assert settings.discord_webhook_url == WEBHOOK
    assert [r.webhook_url for r in settings.effective_routes()] == [WEBHOOK]


def test_legacy_key_that_agrees_with_the_new_key(tmp_path: Path) -> None:
    settings = load_config(
        write(tmp_path, {"DISCORD_WEBHOOK_URL": WEBHOOK, "discord_webhook_url": WEBHOOK}), {}
    )
    assert settings.discord_webhook_url == WEBHOOK


def test_legacy_key_conflicting_with_the_new_key(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"DISCORD_WEBHOOK_URL": WEBHOOK, "discord_webhook_url": OTHER})
    assert "both DISCORD_WEBHOOK_URL and discord_webhook_url" in message
    assert TOKEN not in message and OTHER_TOKEN not in message


def test_legacy_key_with_a_bad_url(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"DISCORD_WEBHOOK_URL": WEBHOOK.replace("discord.com", "evil.example")})
    assert "not a Discord webhook URL" in message and TOKEN not in message


# --- environment ---------------------------------------------------------------------------------


def test_env_discord_webhook_url(tmp_path: Path) -> None:
    env = {"DISCORD_WEBHOOK_URL": WEBHOOK}
    assert load_config(write(tmp_path, {}), env).discord_webhook_url == WEBHOOK
    assert load_config(None, env).discord_webhook_url == WEBHOOK


def test_env_webhook_beats_the_file(tmp_path: Path) -> None:
    env = {"DISCORD_WEBHOOK_URL": OTHER}
    assert load_config(write(tmp_path, {"discord_webhook_url": WEBHOOK}), env).discord_webhook_url == OTHER


def test_env_webhook_is_validated(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, {}, {"DISCORD_WEBHOOK_URL": WEBHOOK.replace("discord.com", "evil.example")}
    )
    assert "discord_webhook_url: not a Discord webhook URL" in message and TOKEN not in message


def test_env_overrides_take_precedence_over_the_file(tmp_path: Path) -> None:
    env = {
        "TICKET_ALARM_HTTP__TIMEOUT": "7.5",
        "TICKET_ALARM_INTERVAL": "45",
        "TICKET_ALARM_SITES__MELON__INTERVAL": "90",
        "ticket_alarm_notify_on_first_run": "true",  # names are case-insensitive
    }
    path = write(
        tmp_path,
        {
            "interval": 600,
            "http": {"timeout": 20, "retries": 1},
            "sites": {"melon": {"enabled": False, "interval": 30}},
        },
    )
    settings = load_config(path, env)
    assert settings.http.timeout == 7.5
    assert settings.http.retries == 1  # the rest of the file's section stays (deep merge)
    assert settings.interval == 45
    assert settings.sites["melon"].interval == 90
    assert settings.sites["melon"].enabled is False
    assert settings.notify_on_first_run is True


def test_env_override_with_a_bad_value(tmp_path: Path) -> None:
    env = {"TICKET_ALARM_HTTP__TIMEOUT": "soon"}
    assert "http.timeout: Input should be a valid number" in load_error(tmp_path, {}, env)


def test_env_override_with_an_unknown_nested_key(tmp_path: Path) -> None:
    assert "http.timeoutt: unknown key" in load_error(tmp_path, {}, {"TICKET_ALARM_HTTP__TIMEOUTT": "7"})


@pytest.mark.parametrize("name", ["TICKET_ALARM_INTERVALL", "TICKET_ALARM_HTPP__TIMEOUT", "ticket_alarm_foo"])
def test_env_override_with_an_unknown_top_level_key(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, {}), {name: "5"})
    assert f"environment variable {name}: unknown key" in str(info.value)


def test_env_config_path_variable_is_not_a_key(tmp_path: Path) -> None:
    env = {CONFIG_ENV: str(tmp_path / "config.json")}
    assert load_config(write(tmp_path, {"interval": 9}), env).interval == 9


def test_the_environment_is_the_one_passed_in(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """load_config reads only the environ it is given (the CLI passes os.environ); Settings(...) none."""
    monkeypatch.setenv("TICKET_ALARM_INTERVAL", "45")
    monkeypatch.setenv("TICKET_ALARM_INTERVALL", "5")  # would be an error if os.environ were read
    monkeypatch.setenv("DISCORD_WEBHOOK_URL", WEBHOOK)
    path = write(tmp_path, {"interval": 90})
    assert load_config(path, {}).interval == 90
    assert load_config(path, {}).discord_webhook_url is None
    assert load_config(path, {"TICKET_ALARM_INTERVAL": "30"}).interval == 30
    assert Settings().interval == 600 and Settings().discord_webhook_url is None
    with pytest.raises(ConfigError, match="TICKET_ALARM_INTERVALL"):
        load_config(path, os.environ)


def test_resolve_config_path() -> None:
    assert resolve_config_path("a.json", {CONFIG_ENV: "b.json"}) == Path("a.json")
    assert resolve_config_path(None, {CONFIG_ENV: "b.json"}) == Path("b.json")
    assert resolve_config_path(None, {}) == Path("config.json")


# --- site names and routes -----------------------------------------------------------------------


def test_unknown_site_lists_known_names(tmp_path: Path) -> None:
    settings = load_config(write(tmp_path, {"sites": {"melonn": {"enabled": False}}}), {})
    with pytest.raises(ConfigError) as info:
        check_site_names(settings, KNOWN, "config.json")
    message = str(info.value)
    assert "config.json: sites.melonn: unknown site" in message
    assert "known sites: interpark, melon, teststand, ticketlink, yes24" in message


def test_unknown_site_in_a_route(tmp_path: Path) -> None:
    settings = load_config(
        write(tmp_path, {"routes": [{"name": "concerts", "webhook_url": WEBHOOK, "sites": ["yes42"]}]}), {}
    )
    with pytest.raises(ConfigError) as info:
        check_site_names(settings, KNOWN, "config.json")
    message = str(info.value)
    assert "routes[concerts].sites: unknown site 'yes42'" in message and "known sites: interpark" in message
    assert TOKEN not in message


def test_known_sites_pass(tmp_path: Path) -> None:
    settings = load_config(
        write(
            tmp_path,
            {
                "sites": {"melon": {"interval": 60}},
                "routes": [{"name": "r", "webhook_url": WEBHOOK, "sites": ["yes24"]}],
            },
        ),
        {},
    )
    check_site_names(settings, KNOWN, "config.json")  # no error


@pytest.mark.parametrize("key", ["include", "exclude"])
def test_bad_regex_names_the_route_and_pattern(tmp_path: Path, key: str) -> None:
    data = {
        "routes": [
            {"name": "good", "webhook_url": WEBHOOK},
            {"name": "concerts", "webhook_url": OTHER, key: ["아이유", "/(BTS|/"]},
        ]
    }
    message = load_error(tmp_path, data)
    assert "concerts" in message
    assert f".{key}: bad regular expression '/(BTS|/'" in message
    assert "missing )" in message
    assert TOKEN not in message and OTHER_TOKEN not in message


def test_empty_keyword_is_an_error(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"routes": [{"name": "r", "webhook_url": WEBHOOK, "include": [" "]}]})
    assert "include: empty keyword" in message


def test_route_without_a_name(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"routes": [{"webhook_url": WEBHOOK}]})
    assert "routes.0.name: Field required" in message and TOKEN not in message


def test_the_single_webhook_is_the_catch_all_after_the_routes(tmp_path: Path) -> None:
    settings = load_config(
        write(tmp_path, {"discord_webhook_url": WEBHOOK, "routes": [{"name": "r", "webhook_url": OTHER}]}), {}
    )
    assert [(r.name, r.webhook_url) for r in settings.effective_routes()] == [
        ("r", OTHER),
        ("default", WEBHOOK),
    ]
    only_routes = load_config(write(tmp_path, {"routes": [{"name": "r", "webhook_url": OTHER}]}), {})
    assert only_routes.catch_all() is None and [r.name for r in only_routes.effective_routes()] == ["r"]


def test_a_route_named_default_beside_the_catch_all_is_refused(tmp_path: Path) -> None:
    message = load_error(
        tmp_path, {"discord_webhook_url": WEBHOOK, "routes": [{"name": "default", "webhook_url": OTHER}]}
    )
    assert "'default' belongs to discord_webhook_url" in message and "rename that route" in message
    assert TOKEN not in message


# every placeholder the example and the README show, in each place a webhook URL goes
PLACEHOLDERS = [
    "replace-with-your-webhook-token",
    "YOUR_WEBHOOK_TOKEN",
    "your-token-here-xyz",
    "xxxxxxxxxxxxxxxxxxxx",
    "placeholder-token-1",
]


@pytest.mark.parametrize("token", PLACEHOLDERS)
@pytest.mark.parametrize("where", ["discord_webhook_url", "route", "ops"])
def test_the_examples_placeholder_webhook_is_refused_with_the_how_to(
    tmp_path: Path, token: str, where: str
) -> None:
    url = f"https://discord.com/api/webhooks/123456789012345678/{token}"
    data: dict[str, Any] = {
        "discord_webhook_url": {"discord_webhook_url": url},
        "route": {"routes": [{"name": "r", "webhook_url": url}]},
        "ops": {"health": {"ops_webhook_url": url}},
    }[where]
    message = load_error(tmp_path, data)
    assert "placeholder, not a real webhook" in message
    assert "Integrations → Webhooks → New Webhook → Copy Webhook URL" in message


def test_the_config_example_itself_is_refused_until_its_webhook_is_replaced(tmp_path: Path) -> None:
    example = json.loads((Path(__file__).parents[2] / "config.example.json").read_text(encoding="utf-8"))
    example["data_dir"] = str(tmp_path / "data")
    assert "placeholder, not a real webhook" in load_error(tmp_path, example)
    example["discord_webhook_url"] = WEBHOOK
    for route in example.get("routes") or []:
        route["webhook_url"] = OTHER
    assert load_config(write(tmp_path, example), {}).discord_webhook_url == WEBHOOK


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"intervall": 5}, "intervall: unknown key; did you mean `interval`?"),
        (
            {"sites": {"melon": {"intervall": 5}}},
            "sites.melon.intervall: unknown key; did you mean `interval`?",
        ),
        ({"http": {"timout": 5}}, "http.timout: unknown key; did you mean `timeout`?"),
        ({"notify_on_first_rum": True}, "did you mean `notify_on_first_run`?"),
        (
            {"routes": [{"name": "iu", "webhook_url": WEBHOOK, "inclue": ["아이유"]}]},
            "routes[iu].inclue: unknown key; did you mean `include`?",
        ),
    ],
)
def test_a_misspelt_key_suggests_the_right_one(tmp_path: Path, data: dict[str, Any], expected: str) -> None:
    assert expected in load_error(tmp_path, data)


def test_an_unrelated_unknown_key_suggests_nothing(tmp_path: Path) -> None:
    message = load_error(tmp_path, {"zebra": 1})
    assert "zebra: unknown key" in message and "did you mean" not in message


def test_a_misspelt_environment_key_suggests_the_right_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean `interval`"):
        load_config(write(tmp_path, {}), {"TICKET_ALARM_INTERVALL": "5"})


# --- masking and secrets -------------------------------------------------------------------------


def full_settings(tmp_path: Path) -> Settings:
    return load_config(
        write(
            tmp_path,
            {
                "discord_webhook_url": WEBHOOK,
                "routes": [{"name": "r", "webhook_url": OTHER}],
                "health": {"ops_webhook_url": WEBHOOK.replace("123456789012345678", "323456789012345678")},
                "proxy": {
                    "http": f"http://user:{PROXY_PASSWORD}@proxy.example:3128",
                    "https": f"socks5://user:{PROXY_PASSWORD}x@proxy.example:1080",
                },
            },
        ),
        {},
    )


def test_masked_hides_tokens_and_proxy_passwords(tmp_path: Path) -> None:
    masked = full_settings(tmp_path).masked()
    text = json.dumps(masked)
    for secret in (TOKEN, OTHER_TOKEN, PROXY_PASSWORD):
        assert secret not in text
    assert masked["discord_webhook_url"] == "https://discord.com/api/webhooks/123456789012345678/****"
    assert masked["routes"][0]["webhook_url"].endswith("/223456789012345678/****")
    assert masked["health"]["ops_webhook_url"].endswith("/323456789012345678/****")
    assert masked["proxy"]["http"] == "http://user:****@proxy.example:3128"
    assert masked["proxy"]["https"] == "socks5://user:****@proxy.example:1080"


def test_secrets_lists_every_token_and_password(tmp_path: Path) -> None:
    secrets = full_settings(tmp_path).secrets()
    assert set(secrets) == {TOKEN, OTHER_TOKEN, PROXY_PASSWORD, PROXY_PASSWORD + "x"}


def test_mask_url_edge_cases() -> None:
    assert mask_url(None) is None
    assert mask_url("") == ""
    assert mask_url("http://proxy.example:3128") == "http://proxy.example:3128"
    assert mask_url("http://u:p%40ss@h:1") == "http://u:****@h:1"


# --- the real CLI --------------------------------------------------------------------------------
# Every case runs `python -m ticket_alarm ...` through tests.conftest.run_cli; the processes run side by
# side (each spends most of a second importing), and each test checks its own.


def cli_config(tmp_path: Path, data: Any) -> Path:
    if isinstance(data, dict):
        data = {"data_dir": str(tmp_path / "data"), **data}
    return write(tmp_path, data)


BAD_WEBHOOK = WEBHOOK.replace("discord.com", "evil.example")
CLI_ERRORS = {
    "malformed_json": ('{"discord_webhook_url": "' + WEBHOOK + '",,}', ":1:", "invalid JSON"),
    "unknown_key": ({"discord_webhook_url": WEBHOOK, "intervall": 5}, "intervall: unknown key", ""),
    "wrong_type": ({"discord_webhook_url": WEBHOOK, "http": {"timeout": "x"}}, "http.timeout:", "number"),
    "bad_webhook": ({"discord_webhook_url": BAD_WEBHOOK}, "discord_webhook_url:", "webhooks/{id}/{token}"),
    "bad_route_webhook": ({"routes": [{"name": "r", "webhook_url": BAD_WEBHOOK}]}, "webhook_url:", ""),
    "legacy_conflict": ({"DISCORD_WEBHOOK_URL": WEBHOOK, "discord_webhook_url": OTHER}, "both", ""),
    "unknown_site": ({"discord_webhook_url": WEBHOOK, "sites": {"melonn": {}}}, "sites.melonn", "known"),
    "bad_regex": (
        {"routes": [{"name": "concerts", "webhook_url": WEBHOOK, "exclude": ["/[/"]}]},
        "routes[concerts].exclude",
        "bad regular expression",
    ),
    "not_an_object": ("[]", "top level", ""),
}
# case -> (command, config data or None for "no file", extra environment, pass --config)
CLI_CASES: dict[str, tuple[str, Any, dict[str, str], bool]] = {
    **{case: ("check-config", data, {}, True) for case, (data, _, _) in CLI_ERRORS.items()},
    "valid": (
        "check-config",
        {"discord_webhook_url": WEBHOOK, "sites": {"melon": {"interval": 60}}},
        {},
        True,
    ),
    "env_webhook": ("check-config", {}, {"DISCORD_WEBHOOK_URL": WEBHOOK}, True),
    "env_bad_value": (
        "check-config",
        {"discord_webhook_url": WEBHOOK},
        {"TICKET_ALARM_HTTP__RETRIES": "x"},
        True,
    ),
    "missing_explicit": ("check-config", None, {}, True),
    "missing_from_env": ("check-config", None, {"TICKET_ALARM_CONFIG": "from-env.json"}, False),
    "run_bad_webhook": ("run", {"discord_webhook_url": BAD_WEBHOOK}, {}, True),
}


@dataclass
class CliRun:
    path: Path
    proc: subprocess.CompletedProcess[str]

    @property
    def output(self) -> str:
        return self.proc.stdout + self.proc.stderr


class CliRuns:
    """Each case's command run once, when a test first asks for it: under xdist a module's tests are
    spread over the workers, and running every case up front ran all of them in every worker."""

    def __init__(self, tmp_path_factory: pytest.TempPathFactory) -> None:
        self._tmp = tmp_path_factory
        self._runs: dict[str, CliRun] = {}

    def __getitem__(self, case: str) -> CliRun:
        if case not in self._runs:
            command, data, extra_env, explicit = CLI_CASES[case]
            folder = self._tmp.mktemp(case)
            path = cli_config(folder, data) if data is not None else folder / "missing-config.json"
            env = {k: (str(folder / v) if k == "TICKET_ALARM_CONFIG" else v) for k, v in extra_env.items()}
            if k := env.get("TICKET_ALARM_CONFIG"):
                path = Path(k)
            args = [command, "--config", str(path)] if explicit else [command]
            self._runs[case] = CliRun(path, run_cli(*args, env=child_env(**env), cwd=folder, timeout=60))
        return self._runs[case]


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> CliRuns:
    return CliRuns(tmp_path_factory)


def test_check_config_valid_exits_0_and_masks(cli: CliRuns) -> None:
    run = cli["valid"]
    assert run.proc.returncode == 0, run.proc.stderr
    shown = json.loads(run.proc.stdout[: run.proc.stdout.rindex("}") + 1])
    assert shown["discord_webhook_url"].endswith("/****")
    assert shown["mode"] == "discord" and "melon" in shown["enabled_sites"]
    assert TOKEN not in run.output
    assert "configuration is valid" in run.output


@pytest.mark.parametrize("case", sorted(CLI_ERRORS))
def test_check_config_errors_exit_2_without_leaking(cli: CliRuns, case: str) -> None:
    _, phrase, other = CLI_ERRORS[case]
    run = cli[case]
    assert run.proc.returncode == 2, (run.proc.stdout, run.proc.stderr)
    assert "[ERROR]" in run.proc.stderr and str(run.path) in run.proc.stderr
    assert phrase in run.proc.stderr and other in run.proc.stderr
    assert "Traceback" not in run.proc.stderr
    assert TOKEN not in run.output and OTHER_TOKEN not in run.output


def test_check_config_env_webhook_is_masked(cli: CliRuns) -> None:
    run = cli["env_webhook"]
    assert run.proc.returncode == 0, run.proc.stderr
    assert "/123456789012345678/****" in run.proc.stdout
    assert TOKEN not in run.output


def test_check_config_env_override_bad_value_exits_2(cli: CliRuns) -> None:
    run = cli["env_bad_value"]
    assert run.proc.returncode == 2
    assert "http.retries:" in run.proc.stderr and TOKEN not in run.output


def test_missing_explicit_config_exits_2_naming_the_file(cli: CliRuns) -> None:
    run = cli["missing_explicit"]
    assert run.proc.returncode == 2
    assert f"{run.path}: config file not found" in run.proc.stderr


def test_missing_config_from_env_var_exits_2(cli: CliRuns) -> None:
    run = cli["missing_from_env"]
    assert run.proc.returncode == 2
    assert f"{run.path}: config file not found" in run.proc.stderr


def test_run_with_a_config_error_exits_2(cli: CliRuns) -> None:
    run = cli["run_bad_webhook"]
    assert run.proc.returncode == 2, (run.proc.stdout, run.proc.stderr)
    assert "discord_webhook_url: not a Discord webhook URL" in run.proc.stderr
    assert TOKEN not in run.output
    assert not (run.path.parent / "data" / "ticket-alarm.sqlite3").exists()  # nothing was started


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "routes": [
                    {"name": "a\nb", "webhook_url": "http://127.0.0.1:9/api/webhooks/12345/abcdefghijkl"}
                ]
            },
            "route name",
        ),
        (
            {
                "routes": [
                    {
                        "name": "a",
                        "webhook_url": "http://127.0.0.1:9/api/webhooks/12345/abcdefghijkl",
                        "sites": ["mel\ron"],
                    }
                ]
            },
            "site name",
        ),
        ({"sites": {"melon\u202e": {}}}, "site name"),
        ({"interval": "inf"}, "interval: Input should be a finite number"),
        ({"interval": 1e300}, "interval: Input should be less than or equal to 86400"),
        ({"sites": {"melon": {"interval": 0.5}}}, "sites.melon.interval"),
        ({"http": {"timeout": 0.01}}, "http.timeout"),
        ({"http": {"backoff": 1e9}}, "http.backoff"),
        ({"sites": {"melon": {"lock_cooldown": 1e9}}}, "sites.melon.lock_cooldown"),
        ({"health": {"outbox_age_warn": "nan"}}, "health.outbox_age_warn"),
    ],
)
def test_hostile_numbers_and_control_characters_are_refused(tmp_path: Path, data: Any, expected: str) -> None:
    assert expected in load_error(tmp_path, data)


def test_env_values_that_are_not_json_name_the_variable() -> None:
    for name, value in (("TICKET_ALARM_HTTP", "{timeout:1"), ("TICKET_ALARM_REMINDERS", "[60,x]")):
        with pytest.raises(ConfigError, match=f"environment variable {name}: its value is not valid JSON"):
            load_config(None, {name: value})


def test_deeply_nested_config_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    path.write_text('{"routes": ' + "[" * 100_000 + "]" * 100_000 + "}", encoding="utf-8")
    with pytest.raises(ConfigError, match="nested too deeply"):
        load_config(path, {})


def test_relative_paths_are_relative_to_the_config_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "etc"
    folder.mkdir()
    path = write(folder, {"data_dir": "state", "log_dir": "../logs"})
    monkeypatch.chdir(tmp_path / "etc" / "..")
    settings = load_config(path, {})
    assert settings.data_dir == folder / "state" and settings.data_dir.is_absolute()
    assert settings.log_dir == tmp_path / "logs"
    assert load_config(write(folder, {"data_dir": str(tmp_path / "abs")}), {}).data_dir == tmp_path / "abs"
