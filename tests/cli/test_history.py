"""history stats | search | import: on stores the real pipeline wrote, legacy files of every shape."""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from crawlers import registry
from tests.conftest import stand_config, write_config
from tests.support.discord_standin import FakeDiscord
from tests.support.fan import add_fan_notices, fan_config
from tests.support.inprocess import Here, run_main
from tests.support.site_standin import FakeSite, TestStandNotices
from ticket_alarm.core.model import identity_key
from ticket_alarm.ops.history import HistoryImportError, parse_legacy
from ticket_alarm.store import DB_NAME


def legacy_rows(data_dir: Path) -> list[tuple[Any, ...]]:
    db = data_dir / DB_NAME
    if not db.exists():
        return []
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(
            "SELECT key, source, site, notice_id, title, seen_at, matched_at FROM legacy_keys ORDER BY key"
        ).fetchall()
    finally:
        conn.close()


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.fixture
def known() -> Mapping[str, Any]:
    return registry.discover(include_plugins=False)


def test_stats_and_search_on_a_crawled_store(
    here: Here, tmp_path: Path, site: FakeSite, notices: TestStandNotices
) -> None:
    notices.add(3, prefix="뮤지컬 〈레미제라블〉")
    notices.add(2, prefix="콘서트 100%_완판")
    config = write_config(tmp_path, stand_config(tmp_path, site, None))
    assert here("once", "--config", str(config)).returncode == 0
    stats = here("history", "--json", "stats", "--config", str(config))
    assert stats.returncode == 0, stats.stderr
    doc = json.loads(stats.stdout)
    assert doc["total"] == 5 and doc["sites"][0]["site"] == "teststand" and doc["sites"][0]["rows"] == 5
    assert doc["outbox"] == {"pending": 0, "sent": 0, "dead": 0}  # the first run is silent
    text = here("history", "stats", "--config", str(config))
    assert "teststand" in text.stdout and "KST" in text.stdout and "outbox: pending 0" in text.stdout

    found = here("history", "search", "레미제라블", "--config", str(config))
    assert found.returncode == 0
    assert found.stdout.count("teststand") == 3 and "뮤지컬 〈레미제라블〉 1 티켓 오픈 안내" in found.stdout
    literal = here("history", "--json", "search", "100%_", "--config", str(config))
    hits = json.loads(literal.stdout)
    assert {h["id"] for h in hits} == {"4", "5"} and all(h["first_seen"] for h in hits)
    wildcard = here("history", "search", "0%_완", "--config", str(config))
    assert wildcard.returncode == 0
    as_wildcard = here("history", "search", "1%판", "--config", str(config))
    assert as_wildcard.returncode == 1  # % and _ are literal characters, never LIKE wildcards
    missing = here("history", "search", "없는공연", "--config", str(config))
    assert missing.returncode == 1 and "nothing matches" in missing.stdout


def test_parse_every_legacy_shape(known: Mapping[str, Any]) -> None:
    md5 = hashlib.md5(b"whatever the old script hashed").hexdigest()
    assert [k.key for k in parse_legacy([md5, "abc123"], known)] == [md5, "abc123"]
    records = parse_legacy(
        [
            {"site": "melon", "id": 11376, "title": "공연 A", "notified_at": "2025-03-01T10:00:00"},
            {"site": "멜론티켓", "notice_id": "11475", "title": "공연 B", "timestamp": 1740000000},
            {"source": "인터파크", "id": "55", "time": 1740000000123},
            {"hash": md5, "title": "제목만"},
        ],
        known,
    )
    assert [(k.source, k.site, k.notice_id) for k in records] == [
        ("record", "melon", "11376"),
        ("record", "melon", "11475"),
        ("record", "interpark", "55"),
        ("hash", None, None),
    ]
    assert records[0].key == identity_key("melon", "11376")
    assert records[0].seen_at == 1740790800.0  # 10:00 KST
    assert records[2].seen_at == 1740000000.123  # milliseconds
    mapping = parse_legacy(
        {md5: 1740000000, "k2": "2025-02-20 12:00:00", "k3": {"site": "yes24", "id": "9"}, "k4": True}, known
    )
    assert [(k.key, k.source) for k in mapping] == [
        (md5, "hash"),
        ("k2", "hash"),
        (identity_key("yes24", "9"), "record"),
        ("k4", "hash"),
    ]
    for bad, phrase in [
        ({"a": [1, 2]}, "neither a record nor a timestamp"),
        ([1.5], "a key must be a string"),
        ([{"title": "no key"}], "neither site + id"),
        (["has space"], "is not a hash"),
        ({"k": "yesterday"}, "not an ISO date/time"),
        ("just a string", "expected a JSON list"),
    ]:
        with pytest.raises(HistoryImportError, match=re.escape(phrase)):
            parse_legacy(bad, known)


def test_import_then_the_daemon_never_realerts_legacy_notices(
    here: Here, tmp_path: Path, discord: FakeDiscord, site: FakeSite, notices: TestStandNotices
) -> None:
    webhook = discord.add_webhook()
    notices.add(5)
    legacy = write_json(
        tmp_path / "notification_history.json",
        [
            {"site": "teststand", "id": "2", "title": "공연 2 티켓 오픈 안내", "notified_at": 1740000000},
            identity_key("teststand", "3"),  # an opaque hash that happens to be the identity key
            hashlib.md5(b"teststand 4").hexdigest(),  # an opaque hash that matches nothing
        ],
    )
    config = write_config(tmp_path, stand_config(tmp_path, site, webhook, notify_on_first_run=True))
    done = here("history", "import", str(legacy), "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "imported: 3 added, 0 already known" in done.stdout
    again = here("history", "import", str(legacy), "--config", str(config))
    assert "imported: 0 added, 3 already known" in again.stdout  # idempotent

    assert here("once", "--config", str(config)).returncode == 0
    sent = sorted(e["url"].rsplit("/", 1)[1] for e in discord.embeds())
    assert sent == ["1", "4", "5"]  # 2 and 3 were alerted by the old script
    stats = json.loads(here("history", "--json", "stats", "--config", str(config)).stdout)
    assert stats["legacy_keys"] == {"imported": 3, "matched": 2} and stats["total"] == 5

    # a change to an imported notice is announced like any other (only "new" is suppressed)
    notices.update("2", title="공연 2 티켓 오픈 안내 (일정 변경)", open_at="2027-12-02T20:00:00")
    for _ in range(2):  # a change may wait one confirming cycle
        assert here("once", "--config", str(config)).returncode == 0
    assert any(e["url"].endswith("/2") for e in discord.embeds()[3:])


def test_corrupt_files_write_nothing(here: Here, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    good_then_bad = write_json(tmp_path / "mixed.json", ["aaaa1111", {"site": "melon", "id": "1"}, 3.5])
    truncated = tmp_path / "truncated.json"
    truncated.write_text('["aaaa1111", "bbbb2222", {"site": "mel', encoding="utf-8")
    for path, phrase in [
        (truncated, "truncated.json:1:"),
        (good_then_bad, "entry [2]: a key must be a string"),
        (tmp_path / "absent.json", "no such file"),
    ]:
        done = here("history", "import", str(path), "--config", str(config))
        assert done.returncode == 1, done.stderr
        assert phrase in done.stderr and "nothing imported" in done.stderr.lower()
        assert "Traceback" not in done.stderr
        assert legacy_rows(tmp_path / "data") == []
    assert not (tmp_path / "data").exists()  # not even the store was created


def test_import_before_the_first_run_and_unknown_sites(here: Here, tmp_path: Path) -> None:
    config = write_config(tmp_path, {"data_dir": str(tmp_path / "data")})
    legacy = write_json(
        tmp_path / "h.json", {"x1": {"site": "티켓베이", "id": "7", "title": "다른 사이트"}, "x2": 1700000000}
    )
    done = here("history", "import", str(legacy), "--config", str(config))
    assert done.returncode == 0, done.stderr
    assert "티켓베이 (1)" in done.stderr and "[WARNING]" in done.stderr  # kept, and said so
    rows = legacy_rows(tmp_path / "data")
    assert {(r[1], r[2]) for r in rows} == {("record", "티켓베이"), ("hash", None)}
    found = here("history", "search", "다른", "--config", str(config))
    assert found.returncode == 0 and "(imported)" in found.stdout


@pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py
def test_history_search_folds_spaces_says_when_cut_and_shows_the_open_time(
    tmp_path: Path,
    site: FakeSite,
    notices: TestStandNotices,
    plugin_on_path: None,
    capsys: pytest.CaptureFixture[str],
) -> None:
    notices.add(3, prefix="아이유 콘서트")
    notices.add(1, prefix="뮤지컬", open_at=None)
    path = write_config(tmp_path, stand_config(tmp_path, site, None))
    assert run_main(capsys, "once", "--config", str(path))[0] == 0
    code, out, err = run_main(capsys, "history", "search", "아이유콘서트", "--config", str(path))
    assert code == 0, err
    rows = [line for line in out.splitlines() if line.startswith("teststand")]
    assert len(rows) == 3 and all("2027-12-01 20:00 KST" in r and "아이유 콘서트" in r for r in rows)
    assert "OPENS" in out and "more match" not in out
    code, out, err = run_main(
        capsys, "history", "search", "아이유 콘 서트", "--limit", "2", "--config", str(path)
    )
    assert code == 0 and len([line for line in out.splitlines() if line.startswith("teststand")]) == 2
    assert "(the newest 2 shown; more match: raise --limit or narrow TEXT)" in out
    assert "[WARNING] history search: more than 2 notices match" in err
    code, out, err = run_main(capsys, "history", "--json", "search", "뮤지컬", "--config", str(path))
    hits = json.loads(out)
    assert code == 0 and [h["open_at"] for h in hits] == [None] and "more than" not in err
    code, out, _ = run_main(capsys, "history", "search", "뮤지컬", "--config", str(path))
    assert "추후 공지" in out


@pytest.mark.usefixtures("clean_env")  # tests/support/inprocess.py
def test_history_search_takes_the_korean_and_the_english_name(
    here: Here, tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord
) -> None:
    ids = add_fan_notices(notices)
    config = write_config(tmp_path, fan_config(tmp_path, site, discord))
    assert here("once", "--config", str(config)).returncode == 0
    both = here("history", "search", "세븐틴", "SEVENTEEN", "--json", "--config", str(config))
    assert both.returncode == 0, both.stderr
    assert sorted(r["id"] for r in json.loads(both.stdout)) == sorted([ids["ko"], ids["en"]])
    # one quoted argument stays one keyword, spaces folded as in routes
    phrase = here("history", "search", "뮤지컬레 베카", "--config", str(config))
    assert phrase.returncode == 0 and "뮤지컬 레베카" in phrase.stdout and "세븐틴" not in phrase.stdout
