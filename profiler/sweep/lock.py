"""One writer per run: an exclusive ``flock`` on ``<run>/run.lock`` holding the writer's pid, host and start.

Two ``sweep --resume ID`` at once would both measure every remaining task (each under the other's load) and
the later row of each task would silently replace the earlier. The kernel drops a ``flock`` when its process
dies, even by SIGKILL, so a stale lock file never blocks a resume; its text only names the holder.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import socket
from pathlib import Path
from typing import Any

from profiler.core.errors import UsageError

LOCK_NAME = "run.lock"


class RunLock:
    """``with RunLock(run_dir):`` holds the run's write lock or raises UsageError naming the holder."""

    def __init__(self, run_dir: Path | str) -> None:
        self.path = Path(run_dir) / LOCK_NAME
        self._fd: int | None = None

    def acquire(self) -> RunLock:
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise UsageError(f"cannot create the run lock {self.path}: {exc.strerror}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe(os.pread(fd, 4096, 0))
            os.close(fd)
            raise UsageError(
                f"run {self.path.parent} is being written by {holder}; one writer per run: wait for "
                "it to finish (or stop it), then resume"
            ) from None
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        }
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing drops the flock; the file stays (its text is only informative)
            self._fd = None

    def __enter__(self) -> RunLock:
        return self if self._fd is not None else self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


def _describe(raw: bytes) -> str:
    try:
        info: dict[str, Any] = json.loads(raw.decode())
        return f"pid {info['pid']} on host {info['host']} (since {info['since']})"
    except (ValueError, KeyError, TypeError):
        return "another process (its lock file names no holder yet)"
