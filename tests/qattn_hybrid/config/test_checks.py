"""Field bounds beside the fields (``bounded``) and the one checker that reads them."""

from __future__ import annotations

import dataclasses
import re
import typing
from dataclasses import dataclass

import pytest

from qattn_hybrid.config.checks import Bounds, ConfigError, bounded, check_bounds
from qattn_hybrid.config.sections import SECTIONS, Config


@dataclass
class Toy:
    count: int = bounded(1, low=1)
    rate: float = bounded(0.5, low=0, high=1, low_open=True, high_open=True)
    share: float | None = bounded(None, low=0, high=1)
    mode: str = bounded("a", one_of=("a", "b"))
    name: str = bounded("x", nonempty=True)
    items: list = bounded(default_factory=list)


class TestBounds:
    @pytest.mark.parametrize("changes, message", [
        ({"count": 0}, "toy.count must be >= 1; got 0"),
        ({"rate": 0}, "toy.rate must be > 0; got 0"),
        ({"rate": 1.0}, "toy.rate must be < 1; got 1.0"),
        ({"rate": float("inf")}, "toy.rate must be finite; got inf"),
        ({"share": 1.5}, "toy.share must be <= 1; got 1.5"),
        ({"share": -0.0001}, "toy.share must be >= 0; got -0.0001"),
        ({"mode": "c"}, "toy.mode must be one of 'a', 'b'; got 'c'"),
        ({"name": ""}, "toy.name must be a non-empty str; got ''"),
    ])
    def test_out_of_bounds_names_the_field_and_the_bound(self, changes, message):
        with pytest.raises(ConfigError, match=re.escape(message) + "$"):
            check_bounds("toy", Toy(**changes))

    @pytest.mark.parametrize("changes", [
        {}, {"count": 10**12}, {"rate": 0.999}, {"share": None}, {"share": 0}, {"share": 1},
        {"mode": "b"}, {"name": "y"}, {"items": [1]},
    ])
    def test_within_bounds_and_none_pass(self, changes):
        check_bounds("toy", Toy(**changes))

    def test_choices_from_a_function_are_read_when_checked(self):
        registry = ["a"]

        @dataclass
        class Grows:
            kind: str = bounded("a", one_of=lambda: tuple(registry))

        with pytest.raises(ConfigError, match="kind must be one of 'a'; got 'b'"):
            check_bounds("grows", Grows("b"))
        registry.append("b")
        check_bounds("grows", Grows("b"))

    def test_default_factory_and_metadata(self):
        field = {f.name: f for f in dataclasses.fields(Toy)}
        assert Toy().items == [] and Toy().items is not Toy().items
        assert field["count"].metadata["bounds"] == Bounds(low=1)
        assert "bounds" in field["items"].metadata


def _numeric(hint) -> bool:
    args = typing.get_args(hint) or (hint,)
    return any(a in (int, float) for a in args) and list not in {
        typing.get_origin(a) or a for a in args}


@pytest.mark.parametrize("section", sorted(SECTIONS))
def test_every_number_field_of_the_config_has_bounds(section):
    """A new int or float field cannot go unchecked: it says its bounds beside it."""
    cls = SECTIONS[section]
    hints = typing.get_type_hints(cls)
    unbounded = [f.name for f in dataclasses.fields(cls)
                 if _numeric(hints[f.name]) and "bounds" not in f.metadata]
    assert unbounded == []


@pytest.mark.parametrize("field, value, bound", [
    ("model.encoder", "", "a non-empty str"),
    ("model.encoder_quantize", "int4", "one of 'int8'"),
    ("model.prune_heads", 1, "< 1"),
    ("model.max_length", 1, ">= 2"),
    ("model.n_heads", 0, ">= 1"),
    ("model.dropout", -0.1, ">= 0"),
    ("model.head_hidden", -1, ">= 0"),
    ("model.regression_loss", "l1", "one of 'mse', 'huber'"),
    ("model.value", "mlp", "one of 'identity', 'linear'"),
    ("data.max_examples", 0, ">= 1"),
    ("data.cache_dir", "", "a non-empty str"),
    ("training.batch_size", 0, ">= 1"),
    ("training.eval_batch_size", 0, ">= 1"),
    ("training.encoder_lr", 0, "> 0"),
    ("training.schedule", "step", "one of 'cosine', 'linear', 'constant'"),
    ("training.warmup", 1.0, "< 1"),
    ("training.head_lr", -1, ">= 0"),
    ("training.head_weight_decay", -1, ">= 0"),
    ("training.weight_decay", -0.5, ">= 0"),
    ("training.grad_clip", 0, "> 0"),
    ("training.length_buckets", -1, ">= 0"),
    ("training.steps_per_epoch", 0, ">= 1"),
    ("training.tasks_per_step", 0, ">= 1"),
    ("training.patience", 0, ">= 1"),
    ("training.monitor", "", "a non-empty str"),
    ("training.selection", "best", "one of 'joint', 'per_task'"),
    ("training.init_heads", "zero", "one of 'random', 'probe'"),
    ("training.output_dir", "", "a non-empty str"),
    ("training.torch_device", "", "a non-empty str"),
    ("training.keep_checkpoints", 0, ">= 1"),
    ("training.num_threads", 0, ">= 1"),
    ("training.encode_threads", 0, ">= 1"),
    ("weighting.method", "average", "one of 'equal', "),
    ("sampling.method", "uniform", "one of 'proportional', "),
    ("sampling.temperature", -1, "> 0"),
])
def test_each_bound_of_the_config_is_checked(field, value, bound):
    """The message names the field, the bound and the value given."""
    section, name = field.split(".")
    message = re.escape(f"{field} must be {bound}") + ".*" + re.escape(f"; got {value!r}")
    with pytest.raises(ConfigError, match=f"^{message}$"):
        Config.from_dict({section: {name: value}})


def test_a_bound_is_checked_with_the_fields_it_needs():
    with pytest.raises(ConfigError, match="^" + re.escape(
            "training.tracking_dir must be a non-empty str; got ''")):
        Config.from_dict({"training": {"tracking": "tensorboard", "tracking_dir": ""}})


def test_checks_that_relate_fields_still_run():
    with pytest.raises(ConfigError, match="training.tracking_dir is set but training.tracking "
                                          "is None"):
        Config.from_dict({"training": {"tracking_dir": "tb"}})
    with pytest.raises(ConfigError, match="model.encoder_quantize must be None when "
                                          "freeze_encoder is false"):
        Config.from_dict({"model": {"encoder_quantize": "int8", "freeze_encoder": False}})
