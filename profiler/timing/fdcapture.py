"""What native code writes to a file descriptor (ONNX Runtime's log lines on fd 2), captured around a code region.

ORT logs from C++ straight to fd 2, so Python's logging and warnings never see it. ``FdCapture`` points the fd at
a temporary file while a block runs (``os.dup2``), then restores it and writes the captured bytes back to the
original target, so a log file or terminal still receives everything, in this process's order (lines of other
processes writing to the same file may land a little later than they would have). While the block runs, a
thread passes new bytes on every ``FOLLOW_S`` seconds, so a process killed inside it (a sweep's timeout on a hung
session creation) has still passed on nearly all of its lines.
``summarize_ort_log`` turns the captured text into the ``details["ort_log"]`` of a result row.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

MAX_DISTINCT = 5
MAX_MESSAGE_CHARS = 300
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_TIMESTAMP = re.compile(r"^\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}:\d{2}(?:\.\d+)?\s*")


def _flush_python_stderr() -> None:
    # Text Python buffered before (or inside) the block belongs before (or inside) it, not after.
    for stream in (sys.stderr, sys.__stderr__):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


class _Follower:
    """Passes what lands in the capture file (``src``, read by ``os.pread``: the writers' offset is untouched) on
    to ``dst``, keeping a copy: every ``FOLLOW_S`` from one shared thread while it is followed, and at ``stop``."""

    def __init__(self, src: int, dst: int) -> None:
        self.src, self.dst, self.pos, self.data = src, dst, 0, bytearray()
        self.closed = False
        self._lock = threading.Lock()

    def pump(self) -> None:
        with self._lock:
            while not self.closed and (chunk := os.pread(self.src, 1 << 16, self.pos)):
                self.pos += len(chunk)
                self.data += chunk
                with contextlib.suppress(OSError):  # an echo that fails (closed pipe) must not fail the block
                    _write_all(self.dst, chunk)

    def start(self) -> None:
        _ensure_follow_thread()
        with _FOLLOWING_LOCK:
            _FOLLOWING.add(self)
            _FOLLOWING_LOCK.notify()

    def stop(self) -> None:
        """The last pump; afterwards the shared thread never touches ``src`` or ``dst`` (their fds may close)."""
        with _FOLLOWING_LOCK:
            _FOLLOWING.discard(self)
        self.pump()
        with self._lock:
            self.closed = True


# One daemon thread per process serves every capture (a thread started per block cost ~0.3 ms, which showed in
# the load_s of a reused ORT session). It sleeps on a condition while nothing is captured: no wake-ups during a
# timed loop.
FOLLOW_S = 0.25
_FOLLOWING: set[_Follower] = set()
_FOLLOWING_LOCK = threading.Condition()
_follow_thread: threading.Thread | None = None


def _follow_loop() -> None:
    while True:
        with _FOLLOWING_LOCK:
            _FOLLOWING_LOCK.wait_for(lambda: bool(_FOLLOWING))
        time.sleep(FOLLOW_S)
        with _FOLLOWING_LOCK:
            current = list(_FOLLOWING)
        for follower in current:
            with contextlib.suppress(OSError):
                follower.pump()


def _ensure_follow_thread() -> None:
    global _follow_thread
    with _FOLLOWING_LOCK:
        if _follow_thread is None or not _follow_thread.is_alive():
            _follow_thread = threading.Thread(target=_follow_loop, name="archprof-fdcapture", daemon=True)
            _follow_thread.start()


def _after_fork_in_child() -> None:
    global _follow_thread, _FOLLOWING_LOCK
    _follow_thread, _FOLLOWING_LOCK = None, threading.Condition()  # the parent's thread (and lock holder) is gone
    _FOLLOWING.clear()


os.register_at_fork(after_in_child=_after_fork_in_child)


class FdCapture:
    """Accumulates what is written to ``fd`` inside every ``with capture.capturing():`` block.

    ``active`` is False until a block could redirect the fd (a closed or invalid fd captures nothing: the block
    just runs). The fd is restored however the block ends; every byte reaches the original target too.
    """

    def __init__(self, fd: int = 2, follow: bool = True) -> None:
        self.fd = fd
        self.follow = follow
        self.active = False
        self._data = bytearray()

    def _redirect(self) -> tuple[int, Any] | None:
        """(saved copy of the fd, temporary file now behind it), or None where the fd cannot be redirected."""
        try:
            saved = os.dup(self.fd)
        except OSError:  # fd closed or invalid: nothing to capture, nothing to restore
            return None
        try:
            sink = tempfile.TemporaryFile(prefix="archprof-fd")  # noqa: SIM115 (closed by capturing)
        except OSError:
            os.close(saved)
            return None
        try:
            os.dup2(sink.fileno(), self.fd)
        except OSError:
            sink.close()
            os.close(saved)
            return None
        return saved, sink

    @contextlib.contextmanager
    def capturing(self) -> Iterator[FdCapture]:
        """Redirect ``fd`` to a temporary file for the block, echoing its bytes to the original target (during the
        block every ``FOLLOW_S`` seconds when ``follow``, the rest after restoring the fd)."""
        _flush_python_stderr()
        redirected = self._redirect()
        if redirected is None:
            yield self
            return
        saved, sink = redirected
        self.active = True
        follower = _Follower(sink.fileno(), saved)
        try:
            if self.follow:
                follower.start()
            yield self
        finally:
            _flush_python_stderr()
            os.dup2(saved, self.fd)
            try:
                follower.stop()  # the rest, after the restore: nothing written inside the block is missed
            finally:
                os.close(saved)
                sink.close()
                self._data += follower.data

    @property
    def data(self) -> bytes:
        return bytes(self._data)

    def text(self) -> str:
        return self._data.decode("utf-8", errors="replace")


def clean_line(line: str) -> str:
    """A log line without ANSI colour codes and its leading timestamp, at most ``MAX_MESSAGE_CHARS`` long."""
    return _TIMESTAMP.sub("", _ANSI.sub("", line).strip())[:MAX_MESSAGE_CHARS]


def summarize_ort_log(text: str) -> dict[str, Any]:
    """{"lines", "errors" ("[E:onnxruntime"), "warnings" ("[W:onnxruntime"), "distinct": up to ``MAX_DISTINCT``
    [{"message", "count"}], most frequent first, "distinct_total"} of captured text (blank lines not counted)."""
    lines = [ln for ln in text.splitlines() if ln.strip()]
    counts = Counter(clean_line(ln) for ln in lines)  # insertion order breaks ties: first seen first
    return {
        "lines": len(lines),
        "errors": sum("[E:onnxruntime" in ln for ln in lines),
        "warnings": sum("[W:onnxruntime" in ln for ln in lines),
        "distinct": [{"message": m, "count": c} for m, c in counts.most_common(MAX_DISTINCT)],
        "distinct_total": len(counts),
    }


def summary_of(capture: FdCapture) -> dict[str, Any] | None:
    """``summarize_ort_log`` of what ``capture`` caught; None when it could never capture (fd 2 unusable)."""
    return summarize_ort_log(capture.text()) if capture.active else None
