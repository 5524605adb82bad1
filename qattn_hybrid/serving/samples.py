"""Stored request samples (``qattn serve --store-samples FILE``): one JSON line per served text.

    {"time": "2026-12-07T13:24:09Z", "text": "mail [email] about my card", "tasks": {...}}

``tasks`` maps each task answered to its label (classification) or prediction (regression).
Texts are masked with :func:`qattn_hybrid.serving.masking.mask_pii` unless masking is turned off
(``--no-mask``). The file is bounded: it keeps the first ``max_samples`` texts (lines already
in the file count, so a restart carries on) and then stores nothing more, saying so once in
the log. Append-safe: each request's lines go out in one ``write`` on a file opened for
appending, so two processes never interleave inside a line, and a torn last line (a crash
mid-write) is ended before the next record so every complete line stays valid JSON.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from pathlib import Path

from qattn_hybrid.serving.masking import mask_pii

__all__ = ["SampleStore", "sample_record"]

log = logging.getLogger(__name__)


def sample_record(text: str, result: dict, mask: bool = True, now: float | None = None) -> dict:
    """The stored form of one served text and its result (a /v1/predict prediction)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() if now is None else now))
    tasks = {name: entry.get("label", entry.get("prediction"))
             for name, entry in result.get("tasks", {}).items()}
    return {"time": stamp, "text": mask_pii(text) if mask else text, "tasks": tasks}


class SampleStore:
    """Appends sample records to a JSONL file, at most `max_samples` lines in all."""

    def __init__(self, path, max_samples: int = 1000, mask: bool = True):
        if isinstance(max_samples, bool) or not isinstance(max_samples, int) or max_samples < 1:
            raise ValueError(f"max-samples must be a positive int; got {max_samples!r}")
        self.path, self.max_samples, self.mask = Path(path), max_samples, mask
        if self.path.is_dir():
            raise ValueError(f"store-samples must be a file path; got the folder {self.path}")
        if not self.path.parent.is_dir():
            raise FileNotFoundError(f"store-samples folder {self.path.parent} does not exist")
        self._lock = threading.Lock()
        self.count, self._torn = self._scan()
        self._said_full = False
        if self.full:
            log.warning("Sample file %s already holds %d samples (max %d): none will be added",
                        self.path, self.count, max_samples)
            self._said_full = True

    @property
    def full(self) -> bool:
        return self.count >= self.max_samples

    def _scan(self) -> tuple[int, bool]:
        """(lines in the file, a torn last one included; whether the last lacks its newline)."""
        if not self.path.exists():
            return 0, False
        data = self.path.read_bytes()
        torn = bool(data) and not data.endswith(b"\n")
        return data.count(b"\n") + torn, torn

    def add(self, texts: list[str], results: list[dict]) -> int:
        """Store one request's texts (as many as fit); returns how many were stored."""
        with self._lock:
            room = self.max_samples - self.count
            if room <= 0:
                self._say_full()
                return 0
            lines = [json.dumps(sample_record(t, r, self.mask), ensure_ascii=False)
                     for t, r in list(zip(texts, results))[:room]]
            payload = ("\n" if self._torn else "") + "\n".join(lines) + "\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                view = memoryview(payload.encode("utf-8"))
                while view:  # one write in practice; a short write is carried on
                    view = view[os.write(fd, view):]
            finally:
                os.close(fd)
            self._torn = False
            self.count += len(lines)
            if self.full:
                self._say_full()
            return len(lines)

    def _say_full(self) -> None:
        if not self._said_full:
            log.warning("Sample file %s is full (%d samples): no more are stored", self.path,
                        self.max_samples)
            self._said_full = True
