"""The stand-in deployment a test runs the product against: a config pointing at the stand-in site
(``teststand``, every real site off), fast HTTP settings, and the file written where the CLI reads it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.site_standin import FakeSite

REAL_SITES = ("interpark", "yes24", "melon", "ticketlink")
# well-formed Discord webhook addresses for configs that are checked, never posted to
WEBHOOK = "https://discord.com/api/webhooks/111111111111111111/tokenAAAAAAAAAAAAAAAAAAAAAAAA"
ROUTE_HOOK = "https://discord.com/api/webhooks/222222222222222222/tokenBBBBBBBBBBBBBBBBBBBBBBBB"


def iu_route(**kw: Any) -> dict[str, Any]:
    """A route taking the notices that name 아이유, to ROUTE_HOOK."""
    return {"name": "iu", "webhook_url": ROUTE_HOOK, "include": ["아이유"], **kw}


def stand_config(tmp_path: Path, site: FakeSite, webhook: str | None, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "interval": 1,
        "data_dir": str(tmp_path / "data"),
        "sites": {name: {"enabled": False} for name in REAL_SITES},
        "http": {"min_request_interval": 0, "retries": 1, "backoff": 0.05, "timeout": 5},
    }
    config["sites"]["teststand"] = {"base_url": site.base_url}
    if webhook:
        config["discord_webhook_url"] = webhook
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(config.get(key), dict):
            config[key] = {**config[key], **value}
        else:
            config[key] = value
    return config


def write_config(tmp_path: Path, config: dict[str, Any], name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(config, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
