"""A throwaway PostgreSQL server on 127.0.0.1 for the test session (real, never a mock).

``initdb`` + ``pg_ctl`` in a temporary directory, run as an unprivileged user: PostgreSQL refuses
to run as root, and the suite runs as root here and in CI, so the server runs as ``postgres`` (or
``nobody``) through ``runuser``. The socket directory is the temporary one (no clash with a system
server), the port a free one, durability off (fsync, synchronous_commit: a test server need not
survive a power cut, and it makes a fresh database cheap). Each test gets its own database
(``CREATE DATABASE … TEMPLATE``), dropped after it; the server stops at the end of the session.

When PostgreSQL is not installed (``scripts/test.sh``, the README's test command, installs the Debian
``postgresql`` package), the tests that need it fail with a line saying so: a suite that passes by
skipping the replicas proves nothing about them.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

USER = "ta_test"
PASSWORD = "pg-secret-f7Qx9"  # a real password on TCP (scram), so masking is tested against one
TEMPLATE = "ta_template"
_COUNTER = itertools.count(1)


def find_bin_dir() -> Path | None:
    """Where ``initdb``/``pg_ctl`` live: on PATH, or Debian's /usr/lib/postgresql/<version>/bin."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(os.path.realpath(on_path)).parent
    versions = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: p.parent.parent.name)
    return versions[-1].parent if versions else None


def missing_reason() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    if find_bin_dir() is None:
        return (
            "PostgreSQL is not installed (no initdb/pg_ctl; `apt-get install postgresql`, "
            "as scripts/test.sh does)"
        )
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_user() -> pwd.struct_passwd | None:
    """The unprivileged user to run the server as when we are root (None: run as ourselves)."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root and neither a `postgres` nor a `nobody` user exists")


class PostgresServer:
    def __init__(self) -> None:
        bin_dir = find_bin_dir()
        if bin_dir is None:
            raise RuntimeError(missing_reason())
        self.bin_dir = bin_dir
        self.user = _server_user()
        self.dir = Path(tempfile.mkdtemp(prefix="ta-pg-"))
        self.data = self.dir / "data"
        self.log = self.dir / "server.log"
        self.port = 0
        self._options = ""
        self.started = False

    # --- running commands as the server's user -----------------------------------------
    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        argv = [str(self.bin_dir / args[0]), *args[1:]]
        if self.user is not None:
            argv = ["runuser", "-u", self.user.pw_name, "--", *argv]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C.UTF-8", "TZ": "UTC"}
        result = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=env, cwd=self.dir)
        if result.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            raise RuntimeError(f"{' '.join(args[:2])} failed: {result.stdout}{result.stderr}\n{log}")
        return result

    def start(self) -> PostgresServer:
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
        pwfile = self.dir / "pwfile"
        pwfile.write_text(PASSWORD + "\n")
        if self.user is not None:
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        self._run(
            "initdb", "-D", str(self.data), "-U", USER, "--pwfile", str(pwfile), "-E", "UTF8",
            "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync",
        )  # fmt: skip
        pwfile.unlink()
        for attempt in range(5):
            self.port = _free_port()
            options = (
                f"-c listen_addresses=127.0.0.1 -c port={self.port} -c unix_socket_directories={self.dir} "
                "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 "
                "-c shared_buffers=32MB -c log_min_messages=warning"
            )
            self._options = options
            try:
                self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options, "-w", "start")
                break
            except RuntimeError:
                if attempt == 4:
                    raise
                time.sleep(0.2)  # the free port was taken in between: another one
        self.started = True
        self.sql(f"CREATE DATABASE {TEMPLATE}")
        return self

    def halt(self) -> None:
        """An outage: the server stops (fast: connections are cut) and refuses connections until
        :meth:`resume` starts it again on the same port."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "30", "stop")

    def resume(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", self._options, "-w", "start")

    def stop(self) -> None:
        if self.started:
            with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
                self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop")
            self.started = False
        shutil.rmtree(self.dir, ignore_errors=True)

    # --- databases -------------------------------------------------------------------
    def url(self, database: str, password: str | None = PASSWORD) -> str:
        auth = f"{USER}:{password}" if password is not None else USER
        return f"postgresql://{auth}@127.0.0.1:{self.port}/{database}"

    def sql(self, statement: str, database: str = "postgres") -> list[tuple[object, ...]]:
        """One statement in autocommit (CREATE/DROP DATABASE need it); returns the rows."""
        import psycopg

        with psycopg.connect(self.url(database), autocommit=True) as conn:
            cur = conn.execute(statement)  # type: ignore[call-overload]
            return list(cur.fetchall()) if cur.description else []

    def create_database(self) -> str:
        """A fresh, empty database (from the template); returns its name."""
        name = f"ta_{os.getpid()}_{next(_COUNTER)}"
        self.sql(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return name

    def drop_database(self, name: str) -> None:
        with contextlib.suppress(Exception):
            self.sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
