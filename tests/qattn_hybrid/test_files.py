import pytest

from qattn_hybrid.files import atomic_file, atomic_write_text


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
