"""The files beside a store in its data_dir, whatever the backend: the instance lock and the status file."""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from ticket_alarm.errors import StoreError, StoreLockedError
from ticket_alarm.i18n import t

LOCK_NAME = "ticket-alarm.lock"
STATUS_NAME = "ticket-alarm.status"


class InstanceLock:
    """An exclusive ``flock`` on the data directory itself; released when the process dies.

    The lock is taken on the directory (its inode), not on a file in it, so deleting
    ``ticket-alarm.lock`` can never let a second daemon onto the same store. That file only tells
    operators the holder's pid; the kernel's lock table (``/proc/locks``) names it when it is gone.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = data_dir
        self.path = data_dir / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        except OSError as exc:  # a read-only or full disk, a file in the way, no permission
            raise StoreError(t("store.lock.cannot_create", data_dir=self.dir, reason=exc.strerror)) from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _lock_holder(fd, self.path)
            os.close(fd)
            raise StoreLockedError(t("store.lock.held", pid=holder or "?", data_dir=self.dir)) from None
        try:
            pid_fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(pid_fd, f"{os.getpid()}\n".encode())
            finally:
                os.close(pid_fd)
        except OSError as exc:
            os.close(fd)
            raise StoreError(
                t("store.lock.cannot_write", data_dir=self.dir, name=LOCK_NAME, reason=exc.strerror)
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            os.close(self._fd)
            self._fd = None

    @staticmethod
    def held_by_other(data_dir: Path) -> int | None:
        """The pid holding the lock (-1: unknown), or None when nobody holds it (the health check)."""
        if not data_dir.is_dir():
            return None
        fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _lock_holder(fd, data_dir / LOCK_NAME) or -1
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)


def _lock_holder(fd: int, pid_file: Path) -> int | None:
    """Who holds the flock on ``fd``'s inode: the kernel's lock table first, then the pid file."""
    info = os.fstat(fd)
    inode = f"{os.major(info.st_dev):02x}:{os.minor(info.st_dev):02x}:{info.st_ino}"
    with contextlib.suppress(OSError):
        for line in Path("/proc/locks").read_text().splitlines():
            parts = line.split()  # "1: FLOCK  ADVISORY  WRITE 1234 08:01:5678 0 EOF"
            if len(parts) >= 6 and parts[1] == "FLOCK" and parts[5] == inode and parts[4].isdigit():
                return int(parts[4])
    with contextlib.suppress(OSError, ValueError):
        text = pid_file.read_text().strip()
        return int(text) if text.isdigit() else None
    return None


class StatusFile:
    """What the daemon cannot write into its store, told to ``health`` beside it.

    Allocated once at start (``STATUS_SIZE`` bytes) and then only overwritten in place, so it can
    still be written when the disk is full — exactly when the store cannot.
    """

    SIZE = 4096

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / STATUS_NAME

    def prepare(self) -> None:
        with contextlib.suppress(OSError):
            self.path.write_bytes(b"ok\n".ljust(self.SIZE, b" "))

    def write(self, problem: str | None) -> None:
        """``problem`` (one line), or None once the store writes again. Never raises."""
        data = (problem or "ok").replace("\n", " ").encode()[: self.SIZE - 1] + b"\n"
        with contextlib.suppress(OSError):
            fd = os.open(self.path, os.O_WRONLY)
            try:
                os.pwrite(fd, data.ljust(self.SIZE, b" "), 0)
            finally:
                os.close(fd)

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()

    @staticmethod
    def read(data_dir: Path) -> str | None:
        try:
            text = (data_dir / STATUS_NAME).read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            return None
        return None if text in ("", "ok") else text
