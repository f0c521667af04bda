"""README.md, config.example.json and docs/ kept in step with the code.

A key, an option, a health check or a log phrase added to the code without its line in the docs
fails here, and so does a doc naming something the code no longer has or a link that leaves the
repository.
"""

from __future__ import annotations

import argparse
import json
import re
from typing import Any

import pytest
from pydantic import BaseModel

from tests.conftest import ROOT
from ticket_alarm.cli import build_parser
from ticket_alarm.config.settings import (
    CustomSiteSettings,
    HealthSettings,
    HttpSettings,
    MetricsSettings,
    ProxySettings,
    RouteSettings,
    Settings,
    SiteSettings,
    WebSettings,
)

README = (ROOT / "README.md").read_text(encoding="utf-8")
RUNBOOK = (ROOT / "docs" / "runbook.md").read_text(encoding="utf-8")
EXAMPLE = json.loads((ROOT / "config.example.json").read_text(encoding="utf-8"))
SECTIONS: dict[str, type[BaseModel]] = {
    "http": HttpSettings,
    "proxy": ProxySettings,
    "health": HealthSettings,
    "metrics": MetricsSettings,
    "web": WebSettings,
}
BUILT_IN = ("interpark", "yes24", "melon", "ticketlink")
SOURCES = "\n".join(
    p.read_text(encoding="utf-8")
    for folder in ("ticket_alarm", "crawlers")
    for pattern in ("*.py", "*.po")  # the messages are in the gettext catalogs
    for p in (ROOT / folder).rglob(pattern)
)


def section(text: str, heading: str) -> str:
    """The text under ``heading`` up to the next heading of the same or a higher level."""
    level = heading.split(" ", 1)[0]
    start = text.index(heading)
    rest = text[start + len(heading) :]
    ends = [m.start() for m in re.finditer(rf"^#{{1,{len(level)}}} ", rest, re.MULTILINE)]
    return rest[: ends[0]] if ends else rest


def ticked(text: str) -> set[str]:
    return set(re.findall(r"`([^`\n]+)`", text))


def setting_keys() -> list[str]:
    keys = [f for f in Settings.model_fields if f not in SECTIONS and f != "sites"]
    keys += [f"{name}.{f}" for name, model in SECTIONS.items() for f in model.model_fields]
    keys += [f"sites.<name>.{f}" for f in SiteSettings.model_fields]
    return keys


# --- config.example.json and the README's configuration table -------------------------------------------


def test_config_example_lists_every_key_with_its_default() -> None:
    assert set(EXAMPLE) == set(Settings.model_fields), "config.example.json: the top-level keys"
    for name, model in SECTIONS.items():
        assert set(EXAMPLE[name]) == set(model.model_fields), f"config.example.json: {name}"
        for key, field in model.model_fields.items():
            if key != "user_agent":
                assert EXAMPLE[name][key] == field.default, f"config.example.json: {name}.{key}"
    assert set(EXAMPLE["sites"]) == set(BUILT_IN)
    for site in BUILT_IN:
        only_interpark = {"source"} if site != "interpark" else set()  # check_site_names refuses it elsewhere
        assert set(EXAMPLE["sites"][site]) == set(SiteSettings.model_fields) - only_interpark, f"sites.{site}"
    for key in ("interval", "notify_on_first_run", "change_confirm_cycles", "log_level", "max_rss_mb"):
        assert EXAMPLE[key] == Settings.model_fields[key].default, key
    assert EXAMPLE["reminders"] == [] and EXAMPLE["custom_sites"] == [] and EXAMPLE["routes"] is None


def test_readme_configuration_table_has_every_key() -> None:
    table = ticked(section(README, "## Configuration"))
    missing = [key for key in setting_keys() if key not in table]
    assert not missing, f"README ## Configuration has no row for {missing}"
    routes = ticked(section(README, "## Routes, change alerts and reminders"))
    assert not [k for k in RouteSettings.model_fields if k not in routes], "route keys"
    custom = (ROOT / "docs" / "custom-sites.md").read_text(encoding="utf-8")
    assert not [k for k in CustomSiteSettings.model_fields if f"`{k}`" not in custom], "custom_sites keys"


def test_readme_commented_example_is_a_valid_config() -> None:
    block = re.search(r"```jsonc\n(.*?)```", section(README, "## Configuration"), re.DOTALL)
    assert block, "README ## Configuration: the commented example"
    text = re.sub(r"\s//[^\n]*", "", block[1])  # comments out (no "//" inside the values but URLs')
    text = re.sub(r'"https://discord\.com/api/webhooks/[^"]*"', '"WEBHOOK"', text)
    data = json.loads(text)
    webhook = "https://discord.com/api/webhooks/123456789012345678/" + "t" * 68

    def fill(value: Any) -> Any:
        if value == "WEBHOOK":
            return webhook
        if isinstance(value, dict):
            return {k: fill(v) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v) for v in value]
        return value

    settings = Settings.model_validate(fill(data))
    assert settings.routes and settings.custom_sites and set(data) == set(Settings.model_fields)


# --- the commands table ------------------------------------------------------------------------------


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _options(parser: argparse.ArgumentParser) -> set[str]:
    found = set()
    for action in parser._actions:
        for flag in action.option_strings:
            if flag.startswith("--") and flag not in ("--help", "--config", "--version"):
                found.add(flag)
    return found


def test_readme_commands_table_has_every_command_option_and_action() -> None:
    rows = {
        m[1]: m[0]
        for m in re.finditer(r"^\| `python -m ticket_alarm ([a-z-]+)[^|]*\|.*$", README, re.MULTILINE)
    }
    for name, sub in _subcommands(build_parser()).items():
        assert name in rows, f"README ## Commands has no row for {name}"
        row = rows[name]
        for flag in _options(sub):
            assert flag in row, f"README ## Commands: {name} row does not show {flag}"
        for action, nested in _subcommands(sub).items():
            assert action in row, f"README ## Commands: {name} row does not show {action}"
            for flag in _options(nested):
                assert flag in row, f"README ## Commands: {name} {action} row does not show {flag}"
        assert re.search(r"\| [^|]*\b0\b[^|]*\|$", row), f"{name}: the exit column"


# --- links stay inside the repository ---------------------------------------------------------------


@pytest.mark.parametrize("doc", ["README.md", *sorted(p.name for p in (ROOT / "docs").glob("*.md"))])
def test_links_and_paths_stay_inside_the_repository(doc: str) -> None:
    path = ROOT / doc if doc == "README.md" else ROOT / "docs" / doc
    text = path.read_text(encoding="utf-8")
    assert "../shared" not in text and "DESIGN.md" not in text, f"{doc}: points outside the repository"
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if target.startswith(("http://", "https://", "#")):
            continue
        resolved = (path.parent / target.split("#", 1)[0]).resolve()
        assert resolved.is_relative_to(ROOT), f"{doc}: link {target} leaves the repository"
        assert resolved.exists(), f"{doc}: link {target} points at nothing"
    for token in ticked(text):
        if re.fullmatch(r"(docs|deploy|tests|benchmarks|crawlers|ticket_alarm)/[\w./-]+", token):
            assert (ROOT / token).exists() or "<" in token, f"{doc}: `{token}` does not exist"


def test_readme_points_at_the_architecture_notes() -> None:
    assert "(docs/architecture.md)" in README
    notes = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    for package in sorted(p.parent.name for p in (ROOT / "ticket_alarm").glob("*/__init__.py")):
        assert f"ticket_alarm/{package}/" in notes, f"docs/architecture.md does not name {package}/"
    assert "ticket_alarm/store/api.py" in notes  # the store is a package: its contract is named


# --- the runbook speaks the log's words -------------------------------------------------------------


def _health_check_names() -> set[str]:
    package = ROOT / "ticket_alarm" / "ops" / "health"
    text = "\n".join(p.read_text(encoding="utf-8") for p in sorted(package.glob("*.py")))
    names = set(re.findall(r'report\.add\(\s*f?"([^"{]+)', text))
    names |= set(re.findall(r'\bunknown\("([^"]+)"', text))
    names |= set(re.findall(r'_dir_check\(report, "([^"]+)"', text))
    names |= {f"{m}:" for m in re.findall(r'f"(webhook|site):\{', text)}
    names |= set(re.findall(r'\("(webhook:[a-z]+)"', text))
    return names


def test_runbook_has_a_line_for_every_health_check() -> None:
    names = _health_check_names()
    assert {"daemon", "outbox", "dead_letters", "site:", "webhook:", "cpu", "disk:data_dir"} <= names
    table = section(RUNBOOK, "## 10. health 점검 항목별 안내")
    for name in names:
        assert f"`{name}" in table, f"docs/runbook.md section 10 has no row for the health check {name!r}"


def test_runbook_reasons_are_what_the_logs_print() -> None:
    table = section(RUNBOOK, "## 3. 특정 사이트의 알림만 안 옴 (`크롤링 실패`)")
    reasons = [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]
    assert len(reasons) >= 4
    for cell in reasons:
        for phrase in ticked(cell):
            if re.fullmatch(r"HTTP \d{3}", phrase):
                assert re.search(r"HTTP \{status\}", SOURCES)
                continue
            assert phrase in SOURCES, f"docs/runbook.md: the logs never print {phrase!r}"
    assert "ParseError" not in RUNBOOK  # a class name the logs never show


def test_runbook_and_readme_log_phrases_exist_in_the_code() -> None:
    for doc, text in (("README.md", section(README, "## Logs")), ("docs/runbook.md", RUNBOOK)):
        for phrase in ("크롤링 완료", "크롤링 실패", "알림 전송", "알림 전송 실패", "메모리 사용량"):
            assert f"`{phrase}`" in text, f"{doc}: {phrase}"
            assert f'"{phrase}' in SOURCES
    assert "deleted or its token is wrong" in SOURCES and "deleted or its token is wrong" in RUNBOOK
    assert "건 출력 (시험 실행" in SOURCES and "건 출력 (시험 실행" in RUNBOOK
