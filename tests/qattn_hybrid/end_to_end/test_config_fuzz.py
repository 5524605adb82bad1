"""Config fuzzing through `qattn train CONFIG --dry-run`: a few hundred broken configs (wrong
types, out-of-range numbers, unknown keys, bad paths, bad task tables, bad files) each give
exit status 2 and exactly one error line naming the field, and never a traceback.

Each example is a valid tiny config with one defect drawn by hypothesis; the test knows which
field it broke and checks that the message names it.
"""

from __future__ import annotations

import copy
import json
import math

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from qattn_hybrid.cli.parser import main  # noqa: E402

N_EXAMPLES = 320

# field -> accepted Python types (the config's documented types) and out-of-range values
FIELDS = {
    "model.encoder": ((str,), []),
    "model.freeze_encoder": ((bool,), []),
    "model.max_length": ((int,), [0, 1, -5]),
    "model.attention": ((str,), ["transformer", ""]),
    "model.circuit.n_qubits": ((int,), [0, -1, 21, 10**6]),
    "model.circuit.n_layers": ((int,), [0, -2]),
    "model.n_heads": ((int,), [0, -1, 5, 64]),  # 5 and 64 do not divide the tiny hidden size 32
    "model.circuit.ansatz": ((str,), ["hardware", "HARDWARE_EFFICIENT "]),
    "model.circuit.conditioning": ((str,), ["per_task", ""]),
    "model.circuit.rotation": ((str,), ["W", "xy"]),
    "model.circuit.reupload": ((bool,), []),
    "model.circuit.readout": ((str,), ["zz", "x"]),
    "model.execution.qml_device": ((str, type(None)), ["lightning.gpx", "", "no.such.device"]),
    "model.execution.shots": ((int, type(None)), [0, -100]),
    "model.execution.device_options": ((dict,), []),
    "model.execution.diff_method": ((str,), ["magic", ""]),
    "model.dropout": ((float, int), [1.0, -0.1, 7, math.inf, math.nan]),
    "model.head_hidden": ((int,), [-1, -64]),
    "data.tasks": ((list,), [[]]),
    "data.max_examples": ((int, type(None)), [0, -3]),
    "data.cache_dir": ((str, type(None)), []),
    "data.seed": ((int,), [-1, 2**64]),
    "training.epochs": ((int,), [0, -1]),
    "training.batch_size": ((int,), [0, -8]),
    "training.eval_batch_size": ((int,), [0]),
    "training.lr": ((float, int), [0, -0.1, math.inf, math.nan]),
    "training.encoder_lr": ((float, int), [0.0, -1e-5, math.nan]),
    "training.weight_decay": ((float, int), [-0.01, math.inf]),
    "training.grad_clip": ((float, int, type(None)), [0.0, -1.0, math.nan]),
    "training.steps_per_epoch": ((int, type(None)), [0, -4]),
    "training.tasks_per_step": ((int,), [0, -1]),
    "training.patience": ((int, type(None)), [0, -2]),
    "training.monitor": ((str,), ["", "no_such_task"]),
    "training.seed": ((int,), [-1, 2**64]),
    "training.output_dir": ((str,), [""]),
    "training.torch_device": ((str,), ["tpu9", "cuda:99", ""]),
    "training.keep_checkpoints": ((int,), [0, -1]),
    "training.progress": ((bool, type(None)), []),
    "training.num_threads": ((int, type(None)), [0, -2]),
    "weighting.method": ((str,), ["median", ""]),
    "weighting.options": ((dict,), []),
    "sampling.method": ((str,), ["random", ""]),
    "sampling.temperature": ((float, int), [0, -2.0, math.inf, math.nan]),
}
# keys of the old flat layout, refused with where they moved
# (tests/qattn_hybrid/config/test_sections.py)
MOVED = {"model": {"n_qubits", "n_layers", "ansatz", "conditioning", "rotation", "reupload",
                   "readout", "device", "shots", "diff_method", "device_options"},
         "training": {"device"}}
WRONG_VALUES = ["word", "", 3, -7, 2.5, True, False, None, [1, 2], [], {"a": 1}, {}]


def accepted(value, types) -> bool:
    """Is ``value`` of one of the documented types (bool is not an int; int is a float)?"""
    if isinstance(value, bool):
        return bool in types
    if isinstance(value, int) and float in types:
        return True
    return isinstance(value, types)


def set_field(config: dict, dotted: str, value) -> None:
    *tables, name = dotted.split(".")  # "model.circuit.n_qubits": a table inside a section
    for table in tables:
        config = config.setdefault(table, {})
    config[name] = value


@pytest.fixture(scope="module")
def base(tmp_path_factory, encoder_dir, make_config_dict):
    root = tmp_path_factory.mktemp("fuzz")
    config = make_config_dict(root / "data", root / "out")
    config["model"]["encoder"] = str(encoder_dir)
    config["training"]["epochs"] = 1
    (root / "a_file").write_text("not a folder")
    (root / "used").mkdir()
    (root / "used" / "latest.json").write_text("{}")
    (root / "no_model").mkdir()
    return root, config


def broken(base, data) -> tuple[str, object, str]:
    """(file name, content, expected text in the error) for one drawn defect."""
    root, good = base
    config = copy.deepcopy(good)
    kind = data.draw(st.sampled_from(["type", "range", "unknown_key", "path", "task", "file"]),
                     label="kind")
    if kind == "type":
        dotted = data.draw(st.sampled_from(sorted(FIELDS)), label="field")
        types = FIELDS[dotted][0]
        value = data.draw(st.sampled_from([v for v in WRONG_VALUES if not accepted(v, types)]),
                          label="value")
        set_field(config, dotted, value)
        return "c.json", config, dotted
    if kind == "range":
        dotted = data.draw(st.sampled_from(sorted(f for f, (_, bad) in FIELDS.items() if bad)),
                           label="field")
        value = data.draw(st.sampled_from(FIELDS[dotted][1]), label="value")
        set_field(config, dotted, value)
        return "c.json", config, dotted
    if kind == "unknown_key":
        name = data.draw(st.from_regex(r"[a-z][a-z_]{2,12}", fullmatch=True), label="key")
        where = data.draw(st.sampled_from(["top", "model", "model.circuit", "model.execution",
                                           "data", "training", "weighting", "sampling",
                                           "task"]), label="where")
        valid = {"top": {"model", "data", "training", "weighting", "sampling"}}
        if where == "top":
            if name in valid["top"]:
                name += "_x"
            config[name] = {}
        elif where == "task":
            if name in {"name", "file", "text_field", "label_field", "task_type", "format",
                        "split_field", "split_values", "label_map", "max_examples",
                        "test_from_train", "seed", "preset"}:
                name += "_x"
            config["data"]["tasks"][0][name] = 1
        else:
            depth = where.count(".") + 1
            fields = {f.split(".")[depth] for f in FIELDS if f.startswith(where + ".")}
            if name in fields | MOVED.get(where, set()) | {"n_tasks"}:
                name += "_x"  # a valid key, or one of the old layout (its own error)
            set_field(config, f"{where}.{name}", 1)
        return "c.json", config, repr(name)
    if kind == "path":
        case = data.draw(st.sampled_from(["data_file", "encoder_missing", "encoder_no_config",
                                          "output_file", "output_under_file", "output_used",
                                          "cache_file"]), label="path")
        target = {
            "data_file": ("data.tasks[0]", lambda: config["data"]["tasks"][0].update(
                file=str(root / "missing.jsonl"))),
            "encoder_missing": ("model.encoder", lambda: set_field(
                config, "model.encoder", str(root / "no_such_encoder"))),
            "encoder_no_config": ("model.encoder", lambda: set_field(
                config, "model.encoder", str(root / "no_model"))),
            "output_file": ("training.output_dir", lambda: set_field(
                config, "training.output_dir", str(root / "a_file"))),
            "output_under_file": ("training.output_dir", lambda: set_field(
                config, "training.output_dir", str(root / "a_file" / "run"))),
            "output_used": ("training.output_dir", lambda: set_field(
                config, "training.output_dir", str(root / "used"))),
            "cache_file": ("data.cache_dir", lambda: set_field(
                config, "data.cache_dir", str(root / "a_file"))),
        }[case]
        target[1]()
        return "c.json", config, target[0]
    if kind == "task":
        i = data.draw(st.sampled_from([0, 1]), label="task")
        task = config["data"]["tasks"][i]
        case = data.draw(st.sampled_from(["no_name", "no_file", "preset", "dupe", "task_type",
                                          "text_field", "label_field", "split_values",
                                          "label_map", "max_examples", "test_from_train",
                                          "not_a_table", "format"]), label="case")
        where = f"data.tasks[{i}]"
        if case == "no_name":
            del task["name"]
        elif case == "no_file":
            del task["file"]
        elif case == "preset":
            task["preset"] = data.draw(st.sampled_from(["clinc_nope", "", "x"]))
        elif case == "dupe":
            task["name"] = config["data"]["tasks"][1 - i]["name"]
            where = "data.tasks names must be unique"
        elif case == "task_type":
            task["task_type"] = data.draw(st.sampled_from(["classify", "", 3]))
        elif case == "text_field":
            task["text_field"] = "no_such_field"
        elif case == "label_field":
            task["label_field"] = "no_such_field"
        elif case == "split_values":
            task["split_values"] = data.draw(st.sampled_from(["train", [1], {"train": "nope"}]))
        elif case == "label_map":
            task["label_map"] = data.draw(st.sampled_from(["x", [1, 2], {"card": 5}]))
        elif case == "max_examples":
            task["max_examples"] = data.draw(st.sampled_from([0, -1, "all", 2.5]))
        elif case == "test_from_train":
            task["test_from_train"] = data.draw(st.sampled_from([1.5, -0.1, 1.0, "half"]))
        elif case == "format":
            task["format"] = "parquet"
        else:
            config["data"]["tasks"][i] = data.draw(st.sampled_from([3, None, [], ""]))
        return "c.json", config, where
    case = data.draw(st.sampled_from(["json_syntax", "toml_syntax", "not_a_table", "section",
                                      "suffix"]), label="file")
    if case == "json_syntax":
        return "c.json", json.dumps(config)[:-3], "could not be parsed"
    if case == "toml_syntax":
        return "c.toml", "[training\nlr = 1\n", "could not be parsed"
    if case == "not_a_table":
        return "c.json", "[1, 2]", "a config must be a table of sections"
    if case == "section":
        name = data.draw(st.sampled_from(["model", "data", "training", "weighting", "sampling"]))
        config[name] = data.draw(st.sampled_from([3, "x", [1]]))
        return "c.json", config, f"{name} must be a table"
    return "c.txt", json.dumps(config), "config file must end in"


def test_broken_configs_give_one_line_naming_the_field(base, capsys):
    root, _ = base
    seen: list[str] = []

    @settings(max_examples=N_EXAMPLES, deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def one(data):
        name, content, expected = broken(base, data)
        path = root / name
        path.write_text(content if isinstance(content, str) else json.dumps(content))
        capsys.readouterr()
        code = main(["train", str(path), "--dry-run"])
        out, err = capsys.readouterr()
        lines = err.strip().splitlines()
        assert code == 2, (expected, out, err)
        assert "Traceback" not in err and out == ""
        assert len(lines) == 1 and lines[0].startswith("qattn train: error: "), err
        assert expected in lines[0], (expected, lines[0])
        seen.append(expected)

    one()
    assert len(seen) >= 300  # a few hundred configs, each refused as it should be
    assert len(set(seen)) >= 40  # spread over many fields


def test_the_base_config_is_valid(base, capsys):
    root, good = base
    (root / "good.json").write_text(json.dumps(good))
    assert main(["train", str(root / "good.json"), "--dry-run"]) == 0, capsys.readouterr().err
