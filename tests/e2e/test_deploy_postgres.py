"""deploy/postgres: the supervisor variant (two replicas) and the compose file say what the README says."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from ticket_alarm.config.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
KIT = ROOT / "deploy" / "postgres"


def test_supervisor_variant_runs_two_replicas_each_with_its_own_data_dir() -> None:
    single = configparser.ConfigParser(interpolation=None)
    single.read(ROOT / "deploy" / "supervisor" / "ticket-alarm.conf")
    conf = configparser.ConfigParser(interpolation=None)
    conf.read(KIT / "ticket-alarm-replicas.conf")
    assert conf["group:ticket-alarm"]["programs"] == "replica-a,replica-b"
    dirs = set()
    for name in ("replica-a", "replica-b"):
        program = conf[f"program:{name}"]
        assert program["command"] == single["program:monitor"]["command"]  # the normal `run`
        dirs.add(re.search(r'TICKET_ALARM_DATA_DIR="([^"]+)"', program["environment"])[1])  # type: ignore[index]
        assert program["stdout_logfile"] == f"@LOG_DIR@/{name}.out.log"
        assert int(program["stopwaitsecs"]) >= 20 and program["stopsignal"] == "TERM"
        for key in ("autorestart", "user", "directory", "killasgroup"):
            assert program[key] == single["program:monitor"][key]
    assert len(dirs) == 2  # the per-data_dir lock stays per replica
    placeholders = set(re.findall(r"@[A-Z_]+@", (KIT / "ticket-alarm-replicas.conf").read_text()))
    assert placeholders <= set(
        re.findall(r"@[A-Z_]+@", (ROOT / "deploy/supervisor/ticket-alarm.conf").read_text())
    )


def test_compose_runs_postgres_and_two_replicas_without_a_secret_in_the_file() -> None:
    text = (KIT / "compose.yaml").read_text()
    for service in ("postgres:", "replica-a:", "replica-b:"):
        assert f"\n  {service}" in text
    assert "TICKET_ALARM_STORE_URL: postgresql://ticket_alarm:${POSTGRES_PASSWORD:?" in text
    assert "state-a:/var/lib/ticket-alarm" in text and "state-b:/var/lib/ticket-alarm" in text
    assert "pg_isready" in text and "condition: service_healthy" in text
    assert not re.search(r"webhooks/\d+/[\w-]{20,}", text)
    Settings.model_validate_json((KIT / "config.json").read_text())  # the config both replicas read
