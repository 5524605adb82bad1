"""Config: files in three formats, defaults, validation that names the field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config, load_config

CONFIGS = Path(__file__).resolve().parents[3] / "configs"


class TestLoading:
    def test_defaults_are_valid(self):
        config = Config()
        assert config.model.attention == "quantum" and config.training.lr > 0

    def test_toml_yaml_and_json_agree(self, tmp_path):
        (tmp_path / "c.toml").write_text('[training]\nlr = 0.01\nepochs = 3\n'
                                         '[model.circuit]\nconditioning = "task_rotations"\n')
        (tmp_path / "c.yaml").write_text("training:\n  lr: 0.01\n  epochs: 3\n"
                                         "model:\n  circuit:\n    conditioning: task_rotations\n")
        (tmp_path / "c.json").write_text(json.dumps(
            {"training": {"lr": 0.01, "epochs": 3},
             "model": {"circuit": {"conditioning": "task_rotations"}}}))
        configs = [load_config(tmp_path / f"c.{ext}") for ext in ("toml", "yaml", "json")]
        assert configs[0] == configs[1] == configs[2]
        assert configs[0].training.epochs == 3 and configs[0].training.lr == 0.01

    def test_round_trip_through_dict(self):
        config = Config.from_dict({"training": {"epochs": 2}, "weighting": {"method": "dwa"}})
        assert Config.from_dict(config.to_dict()) == config

    def test_replace(self):
        config = Config().replace(training={"epochs": 1})
        assert config.training.epochs == 1

    @pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.toml")))
    def test_shipped_configs_are_valid(self, name):
        config = load_config(CONFIGS / name)
        assert len(config.data.task_specs()) >= 1

    def test_task_tables_and_presets(self):
        config = Config.from_dict({"data": {"max_examples": 50, "tasks": [
            "clinc_oos", {"preset": "clinc_intent", "max_examples": 10},
            {"name": "mine", "file": "x.csv", "text_field": "sentence"}]}})
        specs = config.data.task_specs()
        assert [s.name for s in specs] == ["clinc_oos", "clinc_intent", "mine"]
        assert [s.max_examples for s in specs] == [50, 10, 50]


class TestValidation:
    @pytest.mark.parametrize("data, message", [
        ({"training": {"lr": -1}}, r"training\.lr must be > 0; got -1"),
        ({"training": {"epochs": 0}}, r"training\.epochs must be >= 1; got 0"),
        ({"training": {"epochs": 1.5}}, r"training\.epochs must be an int; got float 1\.5"),
        ({"training": {"patience": "3"}}, r"training\.patience must be an int or None"),
        ({"model": {"dropout": 1.0}}, r"model\.dropout must be < 1; got 1\.0"),
        ({"model": {"circuit": {"ansatz": "magic"}}},
         r"model\.circuit\.ansatz must be one of 'hardware_efficient'"),
        ({"model": {"attention": "sparse"}}, r"model\.attention must be one of 'quantum'"),
        ({"model": {"n_circuits": 0}}, r"model\.n_circuits must be >= 1; got 0"),
        ({"model": {"feature_layers": [2, 2]}},
         r"model\.feature_layers must be a non-empty list of distinct hidden-state indices "
         r">= 0 \(0 = the embeddings\), or absent for the last layer; got \[2, 2\]"),
        ({"model": {"feature_layers": []}}, r"model\.feature_layers must be a non-empty list"),
        ({"model": {"feature_layers": "last"}}, r"model\.feature_layers must be list or None; got str"),
        ({"model": {"circuit": {"n_qubits": 0}}},
         r"model\.circuit\.n_qubits must be between 1 and 20; got 0"),
        ({"model": {"execution": {"device_options": "arn"}}},
         r"model\.execution\.device_options must be a dict \(a table in a config\); got str"),
        ({"sampling": {"temperature": 0}}, r"sampling\.temperature must be > 0; got 0"),
        ({"training": {"grad_clip": float("nan")}}, r"training\.grad_clip must be finite"),
        ({"data": {"tasks": []}}, r"data\.tasks must name at least one task"),
        ({"data": {"tasks": ["weather"]}}, r"data\.tasks\[0\]: Unknown task 'weather'"),
        ({"data": {"tasks": ["clinc_oos", "clinc_oos"]}}, r"names must be unique"),
        # holes the config fuzz test (test_config_fuzz.py) found: each crashed later
        ({"training": {"seed": -1}}, r"training\.seed must be >= 0; got -1"),
        ({"data": {"seed": 2**64}}, r"data\.seed must be <= 9223372036854775807"),
        ({"model": {"execution": {"diff_method": "magic"}}},
         r"model\.execution\.diff_method must be one of 'best', 'device', 'backprop'"),
        ({"data": {"tasks": [{"preset": "clinc_oos", "split_values": "train"}]}},
         r"data\.tasks\[0\]: Task 'clinc_oos': split_values must be None or a table of str values"),
        ({"data": {"tasks": [{"preset": "clinc_oos", "label_map": [1, 2]}]}},
         r"data\.tasks\[0\]: Task 'clinc_oos': label_map must be a table of str values"),
        ({"data": {"tasks": [{"preset": "clinc_oos", "test_from_train": "half"}]}},
         r"data\.tasks\[0\]: Task 'clinc_oos': test_from_train must be a number in \[0, 1\)"),
        ({"data": {"tasks": [{"preset": "clinc_oos", "text_field": 3}]}},
         r"data\.tasks\[0\]: Task 'clinc_oos': text_field must be a non-empty str"),
    ])
    def test_invalid_value_names_the_field(self, data, message):
        with pytest.raises(ConfigError, match=message):
            Config.from_dict(data)

    def test_unknown_key_lists_the_valid_ones(self):
        with pytest.raises(ConfigError, match=r"Unknown key 'lrr' in training\. "
                                              r"Valid keys: epochs, batch_size, .*lr"):
            Config.from_dict({"training": {"lrr": 0.1}})

    def test_unknown_section(self):
        with pytest.raises(ConfigError, match=r"Unknown key 'optimiser' in config\. "
                                              r"Valid keys: model, data, training"):
            Config.from_dict({"optimiser": {}})

    def test_unknown_task_field(self):
        with pytest.raises(ConfigError, match=r"Unknown key 'txt' in data\.tasks\[0\]\. "
                                              r"Valid keys: preset, name, file"):
            Config.from_dict({"data": {"tasks": [{"preset": "clinc_oos", "txt": "x"}]}})

    def test_syntax_error_names_the_file(self, tmp_path):
        (tmp_path / "bad.toml").write_text("[training\nlr = 1\n")
        with pytest.raises(ConfigError, match="bad.toml could not be parsed"):
            load_config(tmp_path / "bad.toml")

    def test_unsupported_suffix(self, tmp_path):
        (tmp_path / "c.ini").write_text("")
        with pytest.raises(ConfigError, match="must end in .toml, .yaml, .yml or .json"):
            load_config(tmp_path / "c.ini")

    def test_missing_file(self, tmp_path):
        with pytest.raises(FileNotFoundError, match="does not exist"):
            load_config(tmp_path / "nope.toml")


def test_cache_dir_comment_says_what_none_does():
    """None keeps features in memory only (every run re-encodes); the comment said otherwise."""
    import inspect

    from qattn_hybrid.config.sections import DataConfig

    source = inspect.getsource(DataConfig)
    lines = source.splitlines()
    i = next(n for n, line in enumerate(lines) if "cache_dir: str | None" in line)
    comment = " ".join(line.strip(" #") for line in lines[i - 2 : i + 1])
    assert "in memory only" in comment and "every run encodes every text again" in comment
    assert "the encoders module's default" not in source


def test_cache_dir_none_keeps_features_in_memory_only(make_encoder, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    encoder = make_encoder()
    encoder(["the card", "a bank"])
    assert encoder.cache.dir is None and len(encoder.cache) == 2
    assert list(tmp_path.rglob("*")) == []  # nothing written anywhere near
    again = make_encoder()
    again(["the card"])
    assert again.cache.misses == 1  # a second run encodes again
