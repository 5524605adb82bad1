"""The run folder: a used folder is refused, pruning goes by epoch number, latest.json only
names complete checkpoints, and files get the modes the umask gives."""

from __future__ import annotations

import json
import os
import stat

import pytest

from qattn_hybrid.training.checkpoints import (
    checkpoint_epoch,
    latest_checkpoint,
    load_checkpoint_state,
    prepare_output_dir,
    prune_checkpoints,
)


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


class TestUsedOutputFolder:
    def test_second_fresh_run_is_refused_and_nothing_is_touched(self, make_trainer):
        first = make_trainer(training={"epochs": 2})
        out = first.fit().output_dir
        before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
        second = make_trainer(training={"epochs": 1})
        with pytest.raises(ValueError, match=r"training.output_dir must be empty or new .*"
                                             r"--resume .*--overwrite"):
            second.fit()
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before

    def test_overwrite_replaces_the_old_run(self, make_trainer):
        """The issue's case: an old run at epoch 6 and a new one; nothing stale survives."""
        out = make_trainer(training={"epochs": 6}).fit().output_dir
        (out / "notes.txt").write_text("mine")
        assert names(out / "checkpoints") == ["epoch-0005", "epoch-0006"]
        result = make_trainer(training={"epochs": 1}).fit(overwrite=True)
        assert names(out / "checkpoints") == ["epoch-0001"]
        assert latest_checkpoint(out) == out / "checkpoints" / "epoch-0001"
        assert json.loads((out / "test_metrics.json").read_text())["best_epoch"] == 1
        assert result.best_epoch == 1 and (out / "notes.txt").read_text() == "mine"
        resumed = make_trainer(training={"epochs": 2}).fit(resume=True)
        assert [r["epoch"] for r in resumed.history] == [1, 2]

    def test_resume_and_overwrite_exclude_each_other(self, tmp_path):
        with pytest.raises(ValueError, match="resume and overwrite exclude each other"):
            prepare_output_dir(tmp_path, resume=True, overwrite=True)

    def test_output_dir_that_is_a_file(self, tmp_path):
        (tmp_path / "f").write_text("x")
        with pytest.raises(ValueError, match="training.output_dir must be a folder; got .*f"):
            prepare_output_dir(tmp_path / "f", resume=False, overwrite=False)

    def test_empty_or_missing_folder_is_fine(self, tmp_path):
        prepare_output_dir(tmp_path, resume=False, overwrite=False)
        prepare_output_dir(tmp_path / "new", resume=False, overwrite=False)


class TestPruning:
    @staticmethod
    def fake_run(tmp_path, epochs, latest):
        for n in epochs:
            (tmp_path / "checkpoints" / f"epoch-{n:04d}").mkdir(parents=True)
        (tmp_path / "latest.json").write_text(
            json.dumps({"checkpoint": f"checkpoints/epoch-{latest:04d}"}))

    def test_stale_later_epochs_never_outlive_the_current_one(self, tmp_path):
        """Sorting by name kept epoch-0005/6 of an old run and deleted the new epoch-0001."""
        self.fake_run(tmp_path, [1, 5, 6], latest=1)
        prune_checkpoints(tmp_path, epoch=1, keep=2)
        assert names(tmp_path / "checkpoints") == ["epoch-0001"]
        assert latest_checkpoint(tmp_path).is_dir()

    def test_orders_by_epoch_number_not_name(self, tmp_path):
        self.fake_run(tmp_path, [9998, 9999, 10000], latest=10000)
        prune_checkpoints(tmp_path, epoch=10000, keep=2)
        assert names(tmp_path / "checkpoints") == ["epoch-10000", "epoch-9999"]

    def test_the_checkpoint_latest_names_is_kept_and_leftovers_go(self, tmp_path):
        self.fake_run(tmp_path, [1, 2, 3], latest=1)
        (tmp_path / "checkpoints" / ".tmp-epoch-0004-abc").mkdir()
        prune_checkpoints(tmp_path, epoch=3, keep=1)
        assert names(tmp_path / "checkpoints") == ["epoch-0001", "epoch-0003"]

    def test_checkpoint_epoch(self, tmp_path):
        assert checkpoint_epoch(tmp_path / "epoch-0012") == 12
        assert checkpoint_epoch(tmp_path / ".tmp-epoch-0012-x") is None


class TestLatestPointer:
    def test_every_pointer_written_names_a_complete_checkpoint(self, make_trainer):
        seen = []
        trainer = make_trainer(training={"epochs": 4, "keep_checkpoints": 1})

        def check(epoch, record):
            folder = latest_checkpoint(trainer.output_dir)
            seen.append(folder.name)
            assert load_checkpoint_state(folder)["epoch"] == epoch

        trainer.fit(on_epoch_end=check)
        assert seen == [f"epoch-{n:04d}" for n in range(1, 5)]


class TestFileModes:
    @pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                           (0o002, 0o664, 0o775)])
    def test_run_files_follow_the_umask(self, umask, file_mode, dir_mode, make_trainer):
        old = os.umask(umask)
        try:
            out = make_trainer(training={"epochs": 1}).fit().output_dir
        finally:
            os.umask(old)
        paths = [out, *out.rglob("*")]
        assert len(paths) > 10
        for p in paths:
            mode = stat.S_IMODE(p.stat().st_mode)
            assert mode == (dir_mode if p.is_dir() else file_mode), (p, oct(mode))


def test_pruning_renames_before_deleting(tmp_path, monkeypatch):
    """A kill during the delete of an old checkpoint (found by the fault-injection test) left
    a half-deleted folder under its final name; now only a `.old-*` leftover can remain."""
    import shutil

    import qattn_hybrid.training.checkpoints as checkpoints

    TestPruning.fake_run(tmp_path, [1, 2], latest=2)
    (tmp_path / "checkpoints" / "epoch-0001" / "model").mkdir()
    deleted = []

    def killed_midway(path, ignore_errors=False):  # the process dies inside rmtree
        deleted.append(path.name)
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        prune_checkpoints(tmp_path, epoch=2, keep=1)
    assert deleted and deleted[0].startswith(".old-epoch-0001-")
    monkeypatch.undo()
    assert [p.name for p in (tmp_path / "checkpoints").glob("epoch-*")] == ["epoch-0002"]
    prune_checkpoints(tmp_path, epoch=2, keep=1)  # the next prune removes the leftover
    assert names(tmp_path / "checkpoints") == ["epoch-0002"]
