"""Progress where a person waits: a bar on a terminal, log lines elsewhere, or nothing.

    with progress(len(sampler), "epoch 1/5", "steps", wanted=config.training.progress) as p:
        for ...:
            p.update(1, postfix="intent loss 0.412")

``progress`` picks: ``wanted=True`` a tqdm bar, ``False`` nothing, ``None`` a bar when stderr
is a terminal and :class:`ProgressLog` lines otherwise (log files, CI, ``nohup``):

    lines = ProgressLog(25_000, "Encoding texts", "texts")
    for batch in batches:
        ...
        lines.update(len(batch))     # INFO line every ~10 s or every 10 %, whichever comes first

A job that finishes within ``quiet_s`` (default 2 s) logs nothing: short jobs stay silent.
"""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Callable

__all__ = ["ProgressLog", "progress"]

log = logging.getLogger("qattn_hybrid.utils.progress")


class _Closing:
    """``with`` support for the progress kinds: close() on leaving."""

    def close(self) -> None:
        """Nothing to release by default."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class ProgressLog(_Closing):
    """Counts work done and logs ``what: done/total (pct), elapsed, ~left`` periodically."""

    def __init__(self, total: int, what: str, unit: str = "", *, interval_s: float = 10.0,
                 step_fraction: float = 0.1, quiet_s: float = 2.0, enabled: bool = True,
                 clock: Callable[[], float] | None = None,
                 logger: logging.Logger | None = None):
        self.total, self.what, self.unit = int(total), what, unit
        self.interval_s, self.step_fraction, self.quiet_s = interval_s, step_fraction, quiet_s
        self.enabled, self.log = enabled and total > 0, logger or log
        self.clock = clock or time.monotonic
        self.n_steps = max(1, round(1 / step_fraction))
        self.done = 0
        self.start = self.last = self.clock()
        self._last_step = 0  # the last 10 % step reported

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        """``n`` more done; ``postfix`` (a bar's trailing text) is not logged."""
        if not self.enabled:
            return
        self.done += n
        now = self.clock()
        step = self.done * self.n_steps // self.total  # 10 % steps completed
        if now - self.start < self.quiet_s:
            return
        if now - self.last >= self.interval_s or step > self._last_step:
            self._emit(now)
            self._last_step = step

    def _emit(self, now: float) -> None:
        self.last = now
        elapsed = now - self.start
        left = elapsed * (self.total - self.done) / self.done if self.done else float("nan")
        unit = f" {self.unit}" if self.unit else ""
        self.log.info("%s: %d/%d%s (%.0f%%), %s elapsed, ~%s left", self.what, self.done,
                      self.total, unit, 100 * self.done / self.total, _duration(elapsed),
                      _duration(left))


class _Bar(_Closing):
    """A tqdm bar with ProgressLog's interface (update with a postfix, close)."""

    def __init__(self, total: int, what: str):
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, desc=what, leave=False, dynamic_ncols=True)

    def update(self, n: int = 1, postfix: str | None = None) -> None:
        self.bar.update(n)
        if postfix is not None:
            self.bar.set_postfix_str(postfix)

    def close(self) -> None:
        self.bar.close()


def progress(total: int, what: str, unit: str = "", *, wanted: bool | None = None,
             logger: logging.Logger | None = None) -> ProgressLog | _Bar:
    """A bar (``wanted``, or None on a terminal), log lines (None elsewhere) or nothing
    (False); every kind has ``update(n, postfix=None)`` and ``close()``."""
    if wanted is None and not sys.stderr.isatty():
        return ProgressLog(total, what, unit, logger=logger)
    if wanted is False:
        return ProgressLog(total, what, unit, enabled=False)
    return _Bar(total, what)


def _duration(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "?"
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"
