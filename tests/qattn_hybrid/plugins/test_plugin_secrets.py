"""Credentials never reach a config, a saved model, a pickle or a log line.

Secret spellings (tests/conftest.py) on every device path and attention kind are refused,
by the config check and by the model itself, with an error naming the key, never the value;
then everything written or logged is searched for the value.
"""

import copy
import json
import logging
import pickle

import pytest
import torch

from circuits.plugins import PROFILES
from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config, ModelConfig
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.tasks.kinds import ClassificationTask

DEVICES = sorted({*PROFILES, "default.qubit", "qattn.torch", None}, key=str)
KINDS = ("quantum", "classical", "quantum_self")
TASKS = [ClassificationTask("intent", ("card", "payment", "travel"))]


def model_config(**changes) -> ModelConfig:
    return ModelConfig(**{"encoder": "tiny", "circuit": {"n_qubits": 2, "n_layers": 1},
                          "max_length": 16, **changes})


def test_secrets_are_refused_everywhere(config_dict, make_encoder, tmp_path, caplog,
                                        secret_spellings, secret_value):
    caplog.set_level(logging.DEBUG)
    encoder = make_encoder()
    for name in secret_spellings:
        # every spelling on one plugin path, three spellings on every path
        devices = DEVICES if name in secret_spellings[:3] else ["braket.aws.qubit"]
        for device in devices:
            for kind in KINDS:
                data = copy.deepcopy(config_dict)
                data["model"].update(attention=kind, execution={
                    "qml_device": device, "device_options": {name: secret_value}})
                with pytest.raises(ConfigError, match=rf"model\.execution\.device_options must "
                                                      rf"not contain "
                                                      rf"credentials; got \['{name}'\]") as error:
                    Config.from_dict(data)
                assert secret_value not in str(error.value)
        for kind in KINDS:  # a ModelConfig built directly refuses too (its ExecutionSpec)
            with pytest.raises(ValueError, match="must not contain credentials") as error:
                config = model_config(attention=kind, execution={
                    "qml_device": "default.qubit", "device_options": {name: secret_value}})
                MultiTaskModel(config, TASKS, encoder)
            assert secret_value not in str(error.value)

    # What does get built keeps only known, non-secret options, in every form it is kept in.
    torch.manual_seed(0)
    model = MultiTaskModel(model_config(execution={"qml_device": "default.qubit",
                                                   "device_options": {"seed": 7}}),
                           TASKS, encoder)
    model.save_pretrained(tmp_path / "saved")
    written = b"".join(p.read_bytes() for p in tmp_path.rglob("*") if p.is_file())
    saved = json.loads((tmp_path / "saved" / "config.json").read_text())
    assert saved["model"]["execution"]["device_options"] == {"seed": 7}
    assert secret_value.encode() not in written
    assert secret_value.encode() not in pickle.dumps(model)
    assert secret_value not in caplog.text


@pytest.mark.parametrize("device", ["default.qubit", "braket.local.qubit"])
def test_unknown_options_are_refused_by_the_config(config_dict, device):
    pytest.importorskip("braket.pennylane_plugin")
    config_dict["model"]["execution"] = {"qml_device": device, "device_options": {"pw": "x"}}
    with pytest.raises(ConfigError, match=rf"model\.execution\.device_options for '{device}' "
                                          rf"must be "
                                          rf"among .*; got \['pw'\]"):
        Config.from_dict(config_dict)
