"""The circuit's place in a config: [model.circuit] builds one CircuitSpec and
[model.execution] one ExecutionSpec, each validated by the record itself; keys of the old flat
layout (and saved models written with it) are refused with where each one moved."""

from __future__ import annotations

import json

import pytest

from circuits import CircuitSpec, ExecutionSpec
from circuits.spec import MAX_QUBITS
from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config, ModelConfig

CIRCUIT_KEYS = ("n_qubits", "n_layers", "ansatz", "conditioning", "rotation", "reupload",
                "readout")
OLD_VALUES = {"n_qubits": 3, "n_layers": 1, "ansatz": "no_entanglement",
              "conditioning": "task_rotations", "rotation": "X", "reupload": True,
              "readout": "z_zz", "device": "default.qubit", "shots": 10,
              "diff_method": "parameter-shift", "device_options": {}}


class TestTables:
    def test_tables_build_the_records(self):
        config = Config.from_dict({"model": {
            "circuit": {"n_qubits": 3, "n_layers": 1, "ansatz": "strongly_entangling",
                        "conditioning": "task_rotations", "rotation": "X", "reupload": True,
                        "readout": "z_zz"},
            "execution": {"qml_device": "default.qubit", "shots": 50,
                          "diff_method": "parameter-shift", "device_options": {"seed": 2}}}})
        assert config.model.circuit == CircuitSpec(
            n_qubits=3, n_layers=1, ansatz="strongly_entangling", conditioning="task_rotations",
            rotation="X", reupload=True, readout="z_zz")
        assert config.model.execution == ExecutionSpec("default.qubit", 50, "parameter-shift",
                                                       {"seed": 2})

    def test_defaults_are_the_records_defaults(self):
        model = Config().model
        assert model.circuit == CircuitSpec() and model.execution == ExecutionSpec()

    def test_model_circuit_has_one_task_per_model_task(self):
        config = Config.from_dict({"model": {"circuit": {"n_qubits": 2}}})
        assert config.model.circuit_spec(3) == CircuitSpec(n_qubits=2, n_tasks=3)

    def test_round_trip_and_replace_merges_a_table(self):
        config = Config.from_dict({"model": {"circuit": {"n_qubits": 3, "readout": "z_zz"},
                                             "execution": {"shots": 100}}})
        data = config.to_dict()
        assert data["model"]["circuit"]["readout"] == "z_zz"  # plain strings: JSON/TOML-able
        assert json.loads(json.dumps(data)) == data
        assert Config.from_dict(data) == config
        changed = config.replace(model={"circuit": {"n_layers": 4}})
        assert changed.model.circuit == CircuitSpec(n_qubits=3, n_layers=4, readout="z_zz")

    def test_model_config_takes_tables_or_records(self):
        assert ModelConfig(circuit={"n_qubits": 2}).circuit == CircuitSpec(n_qubits=2)
        spec = CircuitSpec(n_qubits=2)
        assert ModelConfig(circuit=spec).circuit is spec


class TestValidation:
    """The circuit is checked by CircuitSpec itself, so the config and the library agree."""

    @pytest.mark.parametrize("field, value", [
        ("n_qubits", 25), ("n_qubits", MAX_QUBITS + 1), ("n_qubits", 0), ("n_layers", 0),
        ("n_qubits", 2.5), ("reupload", "yes"), ("ansatz", "qaoa"), ("readout", "x"),
    ])
    def test_circuit_errors_are_circuitspecs_own(self, field, value):
        with pytest.raises((TypeError, ValueError)) as reference:
            CircuitSpec(**{field: value})
        expected = f"model.circuit.{reference.value}"
        with pytest.raises(ConfigError) as error:
            Config.from_dict({"model": {"circuit": {field: value}}})
        assert str(error.value) == expected

    def test_25_qubits_are_refused(self):
        with pytest.raises(ConfigError, match=r"^model\.circuit\.n_qubits must be between 1 and "
                                              r"20; got 25$"):
            Config.from_dict({"model": {"circuit": {"n_qubits": 25}}})

    @pytest.mark.parametrize("field, value", [
        ("shots", 0), ("diff_method", "magic"), ("qml_device", ""), ("device_options", "arn"),
        ("device_options", {"token": "x"}),
    ])
    def test_execution_errors_are_executionspecs_own(self, field, value):
        with pytest.raises((TypeError, ValueError)) as reference:
            ExecutionSpec(**{field: value})
        with pytest.raises(ConfigError) as error:
            Config.from_dict({"model": {"execution": {field: value}}})
        assert str(error.value) == f"model.execution.{reference.value}"

    def test_n_tasks_comes_from_the_data(self):
        with pytest.raises(ConfigError, match=r"model\.circuit\.n_tasks is not a config key: "
                                              r"the model's circuit has one task per entry"):
            Config.from_dict({"model": {"circuit": {"n_tasks": 2}}})
        with pytest.raises(ConfigError, match=r"model\.circuit\.n_tasks must be 1 \(the model "
                                              r"sets it to its number of tasks\); got 2"):
            Config(model=ModelConfig(circuit=CircuitSpec(n_tasks=2)))

    @pytest.mark.parametrize("table", ["circuit", "execution"])
    def test_unknown_keys_in_a_table(self, table):
        with pytest.raises(ConfigError, match=rf"Unknown key 'qubits' in model\.{table}\. "
                                              r"Valid keys: "):
            Config.from_dict({"model": {table: {"qubits": 2}}})

    @pytest.mark.parametrize("table", ["circuit", "execution"])
    def test_a_table_must_be_a_table(self, table):
        with pytest.raises(ConfigError, match=rf"model\.{table} must be a table of \w+ fields; "
                                              r"got 4"):
            Config.from_dict({"model": {table: 4}})


class TestMovedKeys:
    @pytest.mark.parametrize("key", CIRCUIT_KEYS)
    def test_circuit_keys_moved(self, key):
        with pytest.raises(ConfigError, match=rf"^model\.{key} moved to \[model\.circuit\] "
                                              rf"{key} \(the config layout changed"):
            Config.from_dict({"model": {key: OLD_VALUES[key]}})

    @pytest.mark.parametrize("key, new", [("device", "qml_device"), ("shots", "shots"),
                                          ("diff_method", "diff_method"),
                                          ("device_options", "device_options")])
    def test_execution_keys_moved(self, key, new):
        with pytest.raises(ConfigError, match=rf"^model\.{key} moved to \[model\.execution\] "
                                              rf"{new} \("):
            Config.from_dict({"model": {key: OLD_VALUES[key]}})

    def test_training_device_moved(self):
        with pytest.raises(ConfigError, match=r"^training\.device moved to "
                                              r"training\.torch_device \("):
            Config.from_dict({"training": {"device": "cpu"}})

    def test_every_moved_key_is_named_at_once(self):
        with pytest.raises(ConfigError, match=r"model\.n_qubits moved to \[model\.circuit\] "
                                              r"n_qubits; model\.device moved to "
                                              r"\[model\.execution\] qml_device"):
            Config.from_dict({"model": {"n_qubits": 3, "device": "default.qubit"}})

    def test_old_toml_file(self, tmp_path):
        (tmp_path / "old.toml").write_text('[model]\nn_qubits = 4\nshots = 100\n'
                                           '[training]\ndevice = "cpu"\n')
        from qattn_hybrid.config.sections import load_config

        with pytest.raises(ConfigError, match=r"model\.n_qubits moved to \[model\.circuit\] "
                                              r"n_qubits; model\.shots moved to "
                                              r"\[model\.execution\] shots; training\.device "
                                              r"moved to training\.torch_device \("):
            load_config(tmp_path / "old.toml")

    def test_torch_device(self):
        assert Config.from_dict({"training": {"torch_device": "cuda:1"}}).training.torch_device \
            == "cuda:1"


class TestSavedModels:
    def _saved(self, make_encoder, tmp_path):
        from qattn_hybrid.modeling.model import MultiTaskModel
        from qattn_hybrid.tasks.kinds import ClassificationTask

        config = ModelConfig(encoder="tiny", max_length=16,
                             circuit={"n_qubits": 2, "n_layers": 1, "readout": "z_zz"},
                             execution={"qml_device": "default.qubit"})
        model = MultiTaskModel(config, [ClassificationTask("a", ("x", "y")),
                                       ClassificationTask("b", ("p", "q"))],
                               make_encoder())
        return model.save_pretrained(tmp_path / "model")

    def test_config_json_has_the_new_layout(self, make_encoder, tmp_path):
        from qattn_hybrid.modeling.model import MultiTaskModel

        folder = self._saved(make_encoder, tmp_path)
        saved = json.loads((folder / "config.json").read_text())["model"]
        assert saved["circuit"] == {"n_qubits": 2, "n_layers": 1, "rotation": "Y",
                                    "reupload": False, "ansatz": "hardware_efficient",
                                    "conditioning": "per_task_weights", "readout": "z_zz"}
        assert saved["execution"] == {"qml_device": "default.qubit", "shots": None,
                                      "diff_method": "best", "device_options": {}}
        assert not set(saved) & {"n_qubits", "device", "shots"}
        loaded = MultiTaskModel.from_pretrained(folder)
        assert loaded.attention.spec == CircuitSpec(n_qubits=2, n_layers=1, n_tasks=2,
                                                    readout="z_zz")
        assert loaded.attention.qml_device == "default.qubit"

    def test_old_layout_is_refused_naming_the_moved_keys(self, make_encoder, tmp_path):
        from qattn_hybrid.modeling.model import MultiTaskModel
        from qattn_hybrid.utils.files import CheckpointError
        from qattn_hybrid.utils.manifest import write_manifest

        folder = self._saved(make_encoder, tmp_path)
        meta = json.loads((folder / "config.json").read_text())
        model = meta["model"]
        model.update(model.pop("circuit"))
        execution = model.pop("execution")
        model.update(device=execution["qml_device"], shots=None, diff_method="best",
                     device_options={})
        (folder / "config.json").write_text(json.dumps(meta))
        write_manifest(folder)  # a consistent folder, only the layout is old
        with pytest.raises(CheckpointError, match=r"config\.json was saved in an older config "
                                                  r"layout this version does not read: "
                                                  r"model\.n_qubits moved to \[model\.circuit\] "
                                                  r"n_qubits; .*model\.device moved to "
                                                  r"\[model\.execution\] qml_device"):
            MultiTaskModel.from_pretrained(folder)
