"""Scenario 5: bad local state — malformed config, unknown keys, an unwritable data dir, a corrupt store,
a full disk. Each must give one clear error naming the file/key and what to do, a non-zero exit where
fatal, no traceback, and must overwrite nothing: a corrupt store is never recreated empty (that would
re-alert every notice), and a full disk loses no notice once space is back.

The full disk is simulated two ways: ``RLIMIT_FSIZE`` on the daemon process (works anywhere: SQLite's
writes past the limit fail with EFBIG) and, where ``mount`` is allowed (root), a 16 MB tmpfs filled up.
An unwritable data dir is a read-only tmpfs mount as root (root ignores chmod), ``chmod 555`` otherwise.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import DaemonProcess, child_env, run_cli, stand_config, write_config
from tests.reliability.conftest import (
    Report,
    assert_no_secrets,
    assert_no_traceback,
    db_file,
    delivered,
    integrity,
    query,
    token_of,
)
from tests.support.discord_standin import FakeDiscord
from tests.support.site_standin import FakeSite, TestStandNotices

pytestmark = pytest.mark.e2e

# --- config --------------------------------------------------------------------------------------------

SECRET_TOKEN = "SeCrEtToKeN-1234567890abcdefXYZ"
CONFIG_CASES: list[tuple[str, bytes, dict[str, str], list[str]]] = [
    # (case, config file bytes, extra environment, phrases the error must hold)
    ("malformed JSON", b'{\n  "interval": 5,,\n  "log_level": "INFO"\n}\n', {}, [":2:", "invalid JSON"]),
    ("trailing comma", b'{"interval": 5,}\n', {}, [":1:", "trailing commas"]),
    ("not an object", b"[1, 2]\n", {}, ["top level must be a JSON object"]),
    ("not UTF-8", b'{"interval": "\xff\xfe"}', {}, ["is not UTF-8", "save it again as UTF-8"]),
    ("unknown key", b'{"intervall": 5}', {}, ["intervall: unknown key"]),
    (
        "unknown nested key",
        b'{"sites": {"melon": {"intervall": 5}}}',
        {},
        ["sites.melon.intervall: unknown key"],
    ),
    ("wrong type", b'{"interval": "fast"}', {}, ["interval:", "number"]),
    ("unknown site", b'{"sites": {"nosuch": {"enabled": true}}}', {}, ["sites.nosuch: unknown site"]),
    (
        "malformed webhook",
        json.dumps({"discord_webhook_url": f"https://discord.com/api/webhooks/1/{SECRET_TOKEN} x"}).encode(),
        {},
        ["discord_webhook_url", "not a Discord webhook URL"],
    ),
    (
        "unknown environment key",
        b"{}",
        {"TICKET_ALARM_INTERVALL": "5"},
        ["TICKET_ALARM_INTERVALL", "unknown key"],
    ),
    ("bad environment value", b"{}", {"TICKET_ALARM_HTTP__TIMEOUT": "soon"}, ["http.timeout"]),
]


def test_bad_config_is_one_clear_error_and_exit_2(tmp_path: Path, report: Report) -> None:
    started = time.monotonic()
    outputs: dict[str, str] = {}
    paths = {}
    for case, body, _env, _phrases in CONFIG_CASES:
        paths[case] = tmp_path / f"{case.replace(' ', '-')}.json"
        paths[case].write_bytes(body)
    jobs = [(case, command) for case, *_ in CONFIG_CASES for command in ("run", "once", "check-config")]
    env_of = {case: env for case, _body, env, _phrases in CONFIG_CASES}
    with ThreadPoolExecutor(max_workers=4) as pool:  # 33 short processes, a few at a time
        results = dict(
            zip(
                jobs,
                pool.map(
                    lambda job: run_cli(
                        job[1], "--config", str(paths[job[0]]), env=child_env(**env_of[job[0]]), cwd=tmp_path
                    ),
                    jobs,
                ),
                strict=True,
            )
        )
    for case, body, env, phrases in CONFIG_CASES:
        path = paths[case]
        for command in ("run", "once", "check-config"):
            result = results[(case, command)]
            label = f"{case} / {command}"
            outputs[label] = result.stdout + result.stderr
            assert result.returncode == 2, (label, result.returncode, result.stderr[-1000:])
            errors = [line for line in result.stderr.splitlines() if "[ERROR]" in line]
            assert len(errors) == 1, (label, result.stderr)  # one paragraph, not a cascade
            for phrase in phrases:
                assert phrase in errors[0], (label, phrase, errors[0])
            if not env:
                assert str(path) in errors[0], (label, errors[0])  # names the file
        assert path.read_bytes() == body, f"{case}: the config file was rewritten"
        assert not (tmp_path / "data").exists(), f"{case}: a data dir was created for a config that failed"
    report.add(
        "5 bad config: 11 cases x run/once/check-config",
        produced=0,
        delivered=0,
        lost=0,
        duplicates=0,
        seconds=time.monotonic() - started,
        figures=f"{len(outputs)} invocations: exit 2, one ERROR line naming file/key, no traceback",
    )
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [SECRET_TOKEN])


# --- the data dir -------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _mount(target: Path, options: str) -> Iterator[None]:
    """A tmpfs on ``target``; skips the test with the reason when this machine does not allow mount."""
    target.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mount needs root: tmpfs variant not run here (the RLIMIT_FSIZE variant covers it)")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(target)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"mount -t tmpfs refused here ({done.stderr.decode(errors='replace').strip()})")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(target)], capture_output=True, check=False)


def _unwritable(tmp_path: Path) -> Iterator[Path]:
    target = tmp_path / "readonly"
    if os.geteuid() == 0:
        with _mount(target, "ro,size=64k"):
            yield target
    else:
        target.mkdir()
        target.chmod(0o555)
        try:
            yield target
        finally:
            target.chmod(0o755)


def test_unwritable_data_dir_is_refused_with_exit_2(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, report: Report
) -> None:
    started = time.monotonic()
    outputs = {}
    afile = tmp_path / "a-file"
    afile.write_text("not a directory")
    cases = {"under a regular file": afile / "data"}
    for label, data_dir in cases.items():
        config = write_config(tmp_path, stand_config(tmp_path, site, None, data_dir=str(data_dir)))
        result = run_cli("run", "--config", str(config), cwd=tmp_path, timeout=30)
        outputs[label] = result.stdout + result.stderr
        assert result.returncode == 2 and "cannot create it" in result.stderr, result.stderr[-1000:]
        assert str(data_dir) in result.stderr
    for data_dir in _unwritable(tmp_path):
        config = write_config(tmp_path, stand_config(tmp_path, site, None, data_dir=str(data_dir)))
        for command in ("run", "once"):
            result = run_cli(command, "--config", str(config), cwd=tmp_path, timeout=30)
            outputs[f"read-only / {command}"] = result.stdout + result.stderr
            assert result.returncode == 2, result.stderr[-1000:]
            assert "not writable" in result.stderr or "Read-only" in result.stderr, result.stderr[-1000:]
            assert str(data_dir) in result.stderr
    report.add(
        "5 unwritable data dir",
        produced=0,
        delivered=0,
        lost=0,
        duplicates=0,
        seconds=time.monotonic() - started,
        figures="a path under a file and a read-only mount: exit 2, names the dir",
    )
    assert_no_traceback(outputs)


# --- a corrupt store --------------------------------------------------------------------------------


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _zero_pages(data: bytes) -> bytes:
    """Three 4 KiB pages in the middle zeroed: the header and schema still read, lookups may not."""
    page = 4096
    middle = (len(data) // page) // 2
    return data[: middle * page] + b"\0" * 3 * page + data[(middle + 3) * page :]


CORRUPTIONS = {
    "garbage": lambda data: b"this is not an SQLite database, just garbage " * 200,
    "truncated": lambda data: data[: len(data) // 3],
    "zeroed pages": _zero_pages,
}


def test_corrupt_store_is_never_recreated_or_overwritten(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, discord: FakeDiscord, report: Report
) -> None:
    started = time.monotonic()
    webhook = discord.add_webhook()
    notices.add(300, prefix="기존 공연 " + "긴 제목 " * 30)
    data_dir = tmp_path / "data"
    config = write_config(
        tmp_path,
        stand_config(
            tmp_path, site, webhook, sites={"teststand": {"base_url": site.base_url, "page_cap": 100}}
        ),
    )
    first = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)  # fills history silently
    assert first.returncode == 0, first.stderr[-2000:]
    db = db_file(data_dir)
    good = db.read_bytes()
    assert integrity(db) == "ok" and len(good) > 200_000
    outputs: dict[str, str] = {}
    for name, corrupt in CORRUPTIONS.items():
        for extra in data_dir.iterdir():
            if extra.name.startswith(db.name + "-"):
                extra.unlink()
        db.write_bytes(corrupt(good))
        before = _digest(db)
        listing = sorted(p.name for p in data_dir.iterdir())
        d = DaemonProcess(config, tmp_path, f"corrupt-{name.replace(' ', '-')}")
        try:
            code = d.proc.wait(timeout=30)
        finally:
            d.cleanup()
        outputs[name] = d.out() + d.err()
        assert code == 2, (name, code, d.err()[-2000:])
        assert "NOT recreated" in d.err() and "restore" in d.err(), (name, d.err()[-2000:])
        assert _digest(db) == before, f"{name}: the corrupt store was written to"
        left = sorted(p.name for p in data_dir.iterdir() if not p.name.endswith(("-wal", "-shm")))
        assert left == [n for n in listing if not n.endswith(("-wal", "-shm"))], (name, left)
        assert discord.embeds() == [], f"{name}: alerts went out from a corrupt store"
    report.add(
        "5 corrupt store: garbage / truncated / zeroed pages",
        produced=0,
        delivered=len(discord.embeds()),
        lost=0,
        duplicates=0,
        seconds=time.monotonic() - started,
        figures="each: exit 2, 'NOT recreated … restore', file bytes unchanged, 0 alerts",
    )
    assert_no_traceback(outputs)
    assert_no_secrets(outputs, [token_of(webhook)])


# --- a full disk ------------------------------------------------------------------------------------


def _limited_daemon(config: Path, tmp_path: Path, tag: str, limit: int) -> subprocess.Popen[bytes]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    out = (tmp_path / f"{tag}.out.log").open("wb")
    err = (tmp_path / f"{tag}.err.log").open("wb")
    return subprocess.Popen(
        [sys.executable, "-m", "ticket_alarm", "run", "--config", str(config)],
        stdout=out,
        stderr=err,
        env=child_env(),
        cwd=str(tmp_path),
        preexec_fn=cap,
    )


def _full_disk_round(
    tmp_path: Path,
    data_dir: Path,
    notices: TestStandNotices,
    site: FakeSite,
    discord: FakeDiscord,
    webhook: str,
    fill: Any,
    label: str,
) -> tuple[list[str], dict[str, str], int]:
    """Baseline, then many new notices while writes fail, then space back: returns (ids, outputs, count)."""
    config = write_config(
        tmp_path,
        stand_config(
            tmp_path,
            site,
            webhook,
            data_dir=str(data_dir),
            sites={"teststand": {"base_url": site.base_url, "page_cap": 100}},
        ),
        name=f"config-{label}.json",
    )
    first = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=60)
    assert first.returncode == 0, first.stderr[-2000:]
    db = db_file(data_dir)
    known = query(db, "SELECT count(*) FROM history")[0][0]
    new_ids = notices.add(400, prefix=f"{label} 새 공연 " + "아주 긴 제목 " * 40)
    proc, undo = fill(config)
    try:
        code = proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = (tmp_path / f"{label}.out.log").read_text(errors="replace")
    err = (tmp_path / f"{label}.err.log").read_text(errors="replace")
    assert code == 4, (label, code, err[-2000:])  # a store error at run time: restarted (not 2)
    assert "store error" in err and ("disk" in err or "full" in err), err[-2000:]
    assert "check free disk space" in err, err[-2000:]
    undo()
    assert integrity(db) == "ok", f"{label}: integrity_check after the failed write"
    assert query(db, "SELECT count(*) FROM history")[0][0] == known, f"{label}: history changed"
    again = run_cli("once", "--config", str(config), cwd=tmp_path, timeout=120)
    assert again.returncode == 0, again.stderr[-2000:]
    counts = delivered(discord)
    assert set(counts) >= set(new_ids), (
        f"{label}: lost {len(set(new_ids) - set(counts))} after space came back"
    )
    outputs = {f"{label} first": first.stdout + first.stderr, f"{label} full": out + err}
    outputs[f"{label} again"] = again.stdout + again.stderr
    return new_ids, outputs, known


def test_full_disk_stops_cleanly_and_loses_nothing(
    tmp_path: Path, site: FakeSite, notices: TestStandNotices, report: Report
) -> None:
    started = time.monotonic()
    discord = FakeDiscord(bucket_limit=100, bucket_window=1.0).start()
    try:
        webhook = discord.add_webhook()
        notices.add(20, prefix="기존")
        data_dir = tmp_path / "data"

        def fill(config: Path) -> tuple[subprocess.Popen[bytes], Any]:
            limit = db_file(data_dir).stat().st_size + 256 * 1024
            return _limited_daemon(config, tmp_path, "rlimit", limit), lambda: None

        new_ids, outputs, known = _full_disk_round(
            tmp_path, data_dir, notices, site, discord, webhook, fill, "rlimit"
        )
        counts = delivered(discord)
        report.add(
            "5 full disk: RLIMIT_FSIZE on the daemon",
            produced=len(new_ids),
            delivered=sum(counts[i] for i in new_ids),
            lost=len(set(new_ids) - set(counts)),
            duplicates=sum(counts[i] - 1 for i in new_ids if counts[i] > 1),
            seconds=time.monotonic() - started,
            figures=f"exit 4 'store error … disk I/O error'; {known} history rows intact; integrity ok",
        )
        assert all(counts[i] == 1 for i in new_ids)
        assert_no_traceback(outputs)
        assert_no_secrets(outputs, [token_of(webhook)])
    finally:
        discord.stop()


def test_full_tmpfs_stops_cleanly_and_loses_nothing(
    site: FakeSite, notices: TestStandNotices, report: Report
) -> None:
    started = time.monotonic()
    root = Path(tempfile.mkdtemp(prefix="ticket-alarm-full-"))
    mount_point = root / "small"
    discord = FakeDiscord(bucket_limit=100, bucket_window=1.0).start()
    try:
        with _mount(mount_point, "size=16m"):
            webhook = discord.add_webhook()
            notices.add(20, prefix="기존")
            data_dir = mount_point / "data"
            filler = mount_point / "filler"

            def fill(config: Path) -> tuple[subprocess.Popen[bytes], Any]:
                free = shutil.disk_usage(mount_point).free
                filler.write_bytes(b"\0" * max(0, free - 200 * 1024))
                d = subprocess.Popen(
                    [sys.executable, "-m", "ticket_alarm", "run", "--config", str(config)],
                    stdout=(root / "tmpfs.out.log").open("wb"),
                    stderr=(root / "tmpfs.err.log").open("wb"),
                    env=child_env(),
                    cwd=str(root),
                )
                return d, filler.unlink

            new_ids, outputs, known = _full_disk_round(
                root, data_dir, notices, site, discord, webhook, fill, "tmpfs"
            )
            counts = delivered(discord)
            report.add(
                "5 full disk: a full 16 MB tmpfs",
                produced=len(new_ids),
                delivered=sum(counts[i] for i in new_ids),
                lost=len(set(new_ids) - set(counts)),
                duplicates=sum(counts[i] - 1 for i in new_ids if counts[i] > 1),
                seconds=time.monotonic() - started,
                figures=f"exit 4 'database or disk is full'; {known} history rows intact; integrity ok",
            )
            assert all(counts[i] == 1 for i in new_ids)
            assert_no_traceback(outputs)
            assert_no_secrets(outputs, [token_of(webhook)])
    finally:
        discord.stop()
        shutil.rmtree(root, ignore_errors=True)
