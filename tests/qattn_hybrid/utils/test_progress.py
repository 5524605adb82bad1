"""progress(): a bar, log lines or nothing; ProgressLog: periodic lines off a terminal."""

from __future__ import annotations

import logging
from types import SimpleNamespace

from qattn_hybrid.utils.progress import ProgressLog


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records]


def test_every_ten_percent_when_fast(caplog):
    clock = Clock()
    progress = ProgressLog(100, "Encoding texts", "texts", clock=clock, quiet_s=0.0)
    with caplog.at_level(logging.INFO, logger="qattn_hybrid.utils.progress"):
        for _ in range(100):
            clock.now += 0.05  # 5 s in all: only the 10 % steps report
            progress.update(1)
    got = lines(caplog)
    assert len(got) == 10
    assert got[0] == "Encoding texts: 10/100 texts (10%), 0 s elapsed, ~4 s left"
    assert got[-1].startswith("Encoding texts: 100/100 texts (100%), 5 s elapsed")


def test_every_ten_seconds_when_slow(caplog):
    clock = Clock()
    progress = ProgressLog(10_000, "epoch 1/3", "steps", clock=clock)
    with caplog.at_level(logging.INFO, logger="qattn_hybrid.utils.progress"):
        for _ in range(300):  # 3 % done in 300 s: no 10 % step, one line per ~10 s
            clock.now += 1.0
            progress.update(1)
    got = lines(caplog)
    assert len(got) == 30 and got[0].startswith("epoch 1/3: 10/10000 steps (0%), 10 s elapsed")
    assert "~2.7 h left" in got[-1]


def test_short_jobs_and_disabled_are_silent(caplog):
    clock = Clock()
    with caplog.at_level(logging.INFO, logger="qattn_hybrid.utils.progress"):
        quick = ProgressLog(10, "quick", clock=clock)
        off = ProgressLog(10, "off", clock=clock, enabled=False)
        for _ in range(10):
            clock.now += 0.1  # the whole job takes 1 s < quiet_s
            quick.update(1)
            off.update(1)
    assert lines(caplog) == []


class TestPick:
    """progress(): a bar when wanted (or None on a terminal), log lines (None elsewhere),
    nothing when not wanted; one interface, so callers never branch."""

    def run(self, wanted, caplog, monkeypatch, tty: bool):
        import sys

        import qattn_hybrid.utils.progress as module

        monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
        clock = iter(range(1000))
        monkeypatch.setattr(module, "time", SimpleNamespace(monotonic=lambda: float(next(clock))))
        with caplog.at_level("INFO", logger="qattn_hybrid.utils.progress"):
            with module.progress(4, "epoch 1/1", "steps", wanted=wanted) as p:
                for _ in range(4):
                    p.update(1, postfix="a loss 0.5")
        return [r.getMessage() for r in caplog.records if r.name == "qattn_hybrid.utils.progress"]

    def test_lines_off_a_terminal(self, caplog, monkeypatch, capsys):
        lines = self.run(None, caplog, monkeypatch, tty=False)
        assert lines[-1].startswith("epoch 1/1: 4/4 steps (100%)")
        assert "epoch 1/1" not in capsys.readouterr().err  # no bar drawn

    def test_bar_on_a_terminal_or_when_wanted(self, caplog, monkeypatch, capsys):
        for wanted, tty in ((None, True), (True, False)):
            assert self.run(wanted, caplog, monkeypatch, tty=tty) == []
            err = capsys.readouterr().err
            assert "epoch 1/1" in err and "4/4" in err and "a loss 0.5" in err

    def test_nothing_when_not_wanted(self, caplog, monkeypatch, capsys):
        for tty in (True, False):
            assert self.run(False, caplog, monkeypatch, tty=tty) == []
            assert capsys.readouterr().err == ""
