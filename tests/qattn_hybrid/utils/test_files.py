import pytest

from qattn_hybrid.utils.files import atomic_file, atomic_write_text


class TestAtomicFile:
    def test_success_replaces_the_target(self, tmp_path):
        target = tmp_path / "sub" / "out.txt"
        atomic_write_text(target, "old")
        with atomic_file(target, suffix=".txt") as tmp:
            assert tmp.parent == target.parent and tmp.suffix == ".txt"
            tmp.write_text("new")
            assert target.read_text() == "old"  # untouched until the block succeeds
        assert target.read_text() == "new"
        assert sorted(p.name for p in target.parent.iterdir()) == ["out.txt"]

    def test_failure_keeps_the_old_file_and_leaves_no_temporary(self, tmp_path):
        target = tmp_path / "out.txt"
        atomic_write_text(target, "old")
        with pytest.raises(RuntimeError, match="disk full"):
            with atomic_file(target) as tmp:
                tmp.write_text("half")
                raise RuntimeError("disk full")
        assert target.read_text() == "old"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


class TestModes:
    """tempfile makes 0600 files and 0700 folders; finished files follow the umask instead."""

    @pytest.mark.parametrize("umask, file_mode, dir_mode", [(0o022, 0o644, 0o755),
                                                           (0o027, 0o640, 0o750),
                                                           (0o077, 0o600, 0o700)])
    def test_files_and_folders_follow_the_umask(self, tmp_path, umask, file_mode, dir_mode):
        import os
        import stat

        from qattn_hybrid.utils.files import atomic_directory, current_umask

        old = os.umask(umask)
        try:
            assert current_umask() == umask
            atomic_write_text(tmp_path / "a.txt", "x")
            with atomic_file(tmp_path / "b.bin") as tmp:
                tmp.write_bytes(b"y")
            with atomic_directory(tmp_path / "folder") as tmp:
                (tmp / "inner.txt").write_text("z")
                fd = os.open(tmp / "private.bin", os.O_CREAT | os.O_WRONLY, 0o600)  # as
                os.close(fd)  # safetensors' writer does
        finally:
            os.umask(old)
        mode = lambda p: stat.S_IMODE(p.stat().st_mode)  # noqa: E731
        assert mode(tmp_path / "a.txt") == file_mode
        assert mode(tmp_path / "b.bin") == file_mode
        assert mode(tmp_path / "folder") == dir_mode
        assert mode(tmp_path / "folder" / "inner.txt") == file_mode
        assert mode(tmp_path / "folder" / "private.bin") == file_mode


class TestRecovery:
    def test_a_folder_moved_aside_by_a_killed_replace_comes_back(self, tmp_path):
        from qattn_hybrid.utils.files import recover_directory

        aside = tmp_path / ".old-best-x1" / "best"  # what atomic_directory leaves if killed
        aside.mkdir(parents=True)                   # between moving the old folder aside and
        (aside / "model.safetensors").write_text("w")  # putting the new one in place
        assert recover_directory(tmp_path / "best")
        assert (tmp_path / "best" / "model.safetensors").read_text() == "w"
        assert sorted(p.name for p in tmp_path.iterdir()) == ["best"]
        assert not recover_directory(tmp_path / "best")  # present: nothing to do
