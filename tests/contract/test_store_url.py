"""``store_url``: unset = SQLite in data_dir, ``postgresql://…`` = the PostgreSQL store; its password
is a secret like a webhook token (check-config, logs, errors, the redactor)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import child_env, run_cli, write_config
from ticket_alarm.config.load import load_config
from ticket_alarm.config.settings import Settings
from ticket_alarm.core.urls import mask_store_url, store_url_secrets

PASSWORD = "db-pass-Zq81x"
URL = f"postgresql://alarm:{PASSWORD}@db.internal:5432/ticket_alarm"


def test_unset_means_sqlite_and_the_url_is_kept(tmp_path: Path) -> None:
    assert load_config(write_config(tmp_path, {"data_dir": "d"}), {}).store_url is None
    assert load_config(write_config(tmp_path, {"store_url": URL}), {}).store_url == URL
    assert load_config(write_config(tmp_path, {"store_url": ""}), {}).store_url is None


def test_password_is_a_secret_in_every_spelling() -> None:
    url = "postgresql://alarm:p%40ss-word1@h/db?sslmode=require&password=other-pass2"
    assert set(store_url_secrets(url)) >= {"p%40ss-word1", "p@ss-word1", "other-pass2"}
    masked = mask_store_url(url)
    assert masked == "postgresql://alarm:****@h/db?sslmode=require&password=****"
    settings = Settings(store_url=URL)
    assert PASSWORD in settings.secrets()
    assert settings.masked()["store_url"] == "postgresql://alarm:****@db.internal:5432/ticket_alarm"
    assert store_url_secrets(None) == [] and store_url_secrets("postgresql://h/db") == []


@pytest.mark.parametrize("bad", ["mysql://alarm:{p}@h/db", "postgresql://alarm:{p}@h", "db.internal:5432"])
def test_a_wrong_shape_exits_2_naming_the_key_without_the_password(tmp_path: Path, bad: str) -> None:
    path = write_config(tmp_path, {"data_dir": "d", "store_url": bad.format(p=PASSWORD)})
    proc = run_cli("check-config", "--config", str(path), cwd=tmp_path, timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "store_url" in proc.stderr and "postgresql://user:password@host:port/database" in proc.stderr
    assert PASSWORD not in proc.stdout + proc.stderr and "Traceback" not in proc.stderr


def test_check_config_masks_it_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path, {"data_dir": "d"})
    env = child_env(TICKET_ALARM_STORE_URL=URL)
    proc = run_cli("check-config", "--config", str(path), env=env, cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    shown = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    assert shown["store_url"] == "postgresql://alarm:****@db.internal:5432/ticket_alarm"
    assert PASSWORD not in proc.stdout + proc.stderr
