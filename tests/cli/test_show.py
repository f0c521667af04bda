"""``history show KEY``, ``show merge``/``show split`` and the show part of ``explain``, run in this
process against a real SQLite store the pipeline filled with real notices of several vendors."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from tests.support.inprocess import Here
from tests.support.stand import write_config
from tests.unit.test_show_links import Vendors, seed


def _config(tmp_path: Path) -> str:
    async def fill() -> None:
        vendors = Vendors(tmp_path / "data")
        try:
            await seed(vendors)
        finally:
            await vendors.close()

    asyncio.run(fill())  # the CLI runs its own event loop: none may run around it
    return str(write_config(tmp_path, {"data_dir": str(tmp_path / "data")}))


def test_history_show_lists_the_show(tmp_path: Path, here: Here) -> None:
    config = _config(tmp_path)
    ran = here("history", "show", "ticketlink:63666", "--config", config)
    assert ran.returncode == 0, ran.stderr
    assert "show interpark:12050" in ran.stdout and "notices: 2" in ran.stdout
    assert "ticketlink" in ran.stdout and "2027-12-10 14:00 KST" in ran.stdout
    doc = json.loads(here("history", "show", "interpark:12050", "--json", "--config", config).stdout)
    assert [(n["site"], n["id"]) for n in doc["notices"]] == [("interpark", "12050"), ("ticketlink", "63666")]
    assert doc["notices"][1]["link"] == "https://example.test/ticketlink/63666"
    missing = here("history", "show", "yes24:1", "--config", config)
    assert missing.returncode == 1 and "no such notice" in missing.stderr
    assert here("history", "show", "12050", "--config", config).returncode == 2


def test_merge_split_and_explain(tmp_path: Path, here: Here) -> None:
    config = _config(tmp_path)
    explained = here("explain", "yes24", "17017", "--config", config)
    assert explained.returncode == 0, explained.stderr
    assert "Show: yes24:17017 · notices: 1" in explained.stdout
    assert "interpark:12036" in explained.stdout and "round or region markers differ" in explained.stdout
    merged = here("show", "merge", "interpark:12036", "yes24:17017", "--config", config)
    assert merged.returncode == 0 and "now in the show of interpark:12036" in merged.stdout
    again = here("show", "merge", "interpark:12036", "yes24:17017", "--config", config)
    assert again.returncode == 0 and "one show already" in again.stdout
    explained = here("explain", "yes24", "17017", "--json", "--config", config)
    part = json.loads(explained.stdout)["show"]
    assert part["show"] == "interpark:12036" and part["why"][0]["merged"] is True
    assert part["why"][0]["reason"].startswith("set by hand")
    split = here("show", "split", "yes24:17017", "--config", config, lang="ko")
    assert split.returncode == 0 and "interpark:12036의 공연에서 떼어" in split.stdout
    assert here("show", "split", "yes24:17017", "--config", config).returncode == 1  # alone already
    done = here("show", "merge", "interpark:12036", "yes24:17017", "--json", "--config", config)
    assert json.loads(done.stdout.splitlines()[-1]) == {"show": "interpark:12036", "moved": 1}
    assert here("show", "split", "yes24:17017", "--config", config).returncode == 0
    part = json.loads(here("explain", "yes24", "17017", "--json", "--config", config).stdout)["show"]
    assert part["why"][0]["merged"] is False and part["why"][0]["reason"].startswith("set by hand")
    assert here("show", "merge", "yes24:17017", "melon:1", "--config", config).returncode == 1
    assert here("show", "split", "nonsense", "--config", config).returncode == 2
