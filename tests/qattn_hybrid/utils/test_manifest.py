"""Saved model folders carry manifest.json (SHA-256 of every file); loading verifies it and
refuses non-finite weights, naming the file, in the library and in `qattn eval` / `predict`."""

from __future__ import annotations

import hashlib
import json
import shutil
import struct

import pytest
import torch

from qattn_hybrid.cli.parser import main
from qattn_hybrid.config.sections import ModelConfig
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.tasks.kinds import ClassificationTask
from qattn_hybrid.utils.files import CheckpointError
from qattn_hybrid.utils.manifest import MANIFEST_NAME, check_finite, write_manifest

TASKS = [ClassificationTask("intent", ("card", "payment", "travel"))]


def nan_bytes_in_place(path, tensor: str | None = None) -> str:
    """Overwrite one float32 tensor's bytes with NaN without changing the file's layout."""
    data = bytearray(path.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + n])
    name = tensor or next(k for k, v in header.items()
                          if k != "__metadata__" and v["dtype"] == "F32")
    start, end = header[name]["data_offsets"]
    nan = struct.pack("<f", float("nan"))
    data[8 + n + start : 8 + n + end] = nan * ((end - start) // 4)
    path.write_bytes(bytes(data))
    return name


@pytest.fixture
def saved(make_encoder, tmp_path):
    torch.manual_seed(0)
    config = ModelConfig(encoder="tiny", circuit={"n_qubits": 2, "n_layers": 1}, max_length=16)
    model = MultiTaskModel(config, TASKS, make_encoder())
    return model.save_pretrained(tmp_path / "model")


class TestManifest:
    def test_lists_every_file_with_its_sha256(self, saved):
        manifest = json.loads((saved / MANIFEST_NAME).read_text())
        files = {p.relative_to(saved).as_posix() for p in saved.rglob("*")
                 if p.is_file() and p.name != MANIFEST_NAME}
        assert set(manifest["files"]) == files and "model.safetensors" in files
        for rel, digest in manifest["files"].items():  # an independent hash of each file
            assert hashlib.sha256((saved / rel).read_bytes()).hexdigest() == digest

    def test_nan_bytes_are_refused_naming_the_file(self, saved):
        nan_bytes_in_place(saved / "model.safetensors")
        with pytest.raises(CheckpointError, match=r"model file .*model.safetensors is corrupt"):
            MultiTaskModel.from_pretrained(saved)

    def test_non_finite_weights_are_refused_even_with_a_matching_manifest(self, saved):
        name = nan_bytes_in_place(saved / "model.safetensors")
        write_manifest(saved)  # the digests now match the damaged file
        with pytest.raises(CheckpointError, match=rf"weights file .*model.safetensors holds "
                                                  rf"non-finite values .*{name}"):
            MultiTaskModel.from_pretrained(saved)

    @pytest.mark.parametrize("victim", ["config.json", "tokenizer/tokenizer_config.json"])
    def test_any_changed_file_is_refused(self, saved, victim):
        path = saved / victim
        path.write_bytes(path.read_bytes().replace(b"a", b"b", 1))
        with pytest.raises(CheckpointError, match=rf"{victim} is corrupt or truncated"):
            MultiTaskModel.from_pretrained(saved)

    def test_missing_file_or_manifest(self, saved):
        (saved / "tokenizer" / "tokenizer_config.json").unlink()
        with pytest.raises(CheckpointError, match="tokenizer_config.json is missing"):
            MultiTaskModel.from_pretrained(saved)
        (saved / MANIFEST_NAME).unlink()
        with pytest.raises(CheckpointError, match="has no manifest.json"):
            MultiTaskModel.from_pretrained(saved)

    def test_check_finite_names_tensors(self, tmp_path):
        state = {"a": torch.ones(2), "b": torch.tensor([1.0, float("inf")]),
                 "ids": torch.tensor([1, 2])}
        with pytest.raises(CheckpointError, match=r"w.safetensors holds non-finite .* in b$"):
            check_finite(state, tmp_path / "w.safetensors")
        check_finite({"a": torch.ones(2)}, tmp_path / "w.safetensors")


class TestCommandLine:
    @pytest.fixture(scope="class")
    def run_dir(self, tmp_path_factory, encoder_dir, make_config_dict):
        root = tmp_path_factory.mktemp("manifest_cli")
        config = make_config_dict(root / "data", root / "run")
        config["model"]["encoder"] = str(encoder_dir)
        config["training"]["epochs"] = 1
        (root / "config.json").write_text(json.dumps(config))
        assert main(["train", str(root / "config.json"), "--quiet", "--no-plots"]) == 0
        return root / "run"

    @pytest.mark.parametrize("command", [["eval"], ["predict", "book a flight", "--task",
                                                    "intent"]])
    def test_nan_weights_exit_2_naming_the_file(self, run_dir, tmp_path, capsys, command):
        copy = tmp_path / "run"
        shutil.copytree(run_dir, copy)
        nan_bytes_in_place(copy / "best" / "model.safetensors")
        capsys.readouterr()
        code = main([command[0], str(copy), *command[1:]])
        out, err = capsys.readouterr()
        assert code == 2 and out == ""
        assert "best/model.safetensors is corrupt or truncated" in err
