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


@pytest.mark.parametrize("data, message", [
    ({"model": {"encoder": ""}}, "model.encoder must be a non-empty str; got ''"),
    ({"model": {"encoder_quantize": "int4"}}, "model.encoder_quantize must be one of 'int8'; "
                                              "got 'int4'"),
    ({"model": {"prune_heads": 1}}, "model.prune_heads must be < 1; got 1"),
    ({"model": {"max_length": 1}}, "model.max_length must be >= 2; got 1"),
    ({"model": {"n_heads": 0}}, "model.n_heads must be >= 1; got 0"),
    ({"model": {"dropout": -0.1}}, "model.dropout must be >= 0; got -0.1"),
    ({"model": {"head_hidden": -1}}, "model.head_hidden must be >= 0; got -1"),
    ({"model": {"regression_loss": "l1"}}, "model.regression_loss must be one of 'mse', "
                                           "'huber'; got 'l1'"),
    ({"model": {"value": "mlp"}}, "model.value must be one of 'identity', 'linear'; got 'mlp'"),
    ({"data": {"max_examples": 0}}, "data.max_examples must be >= 1; got 0"),
    ({"data": {"cache_dir": ""}}, "data.cache_dir must be a non-empty str; got ''"),
    ({"training": {"batch_size": 0}}, "training.batch_size must be >= 1; got 0"),
    ({"training": {"eval_batch_size": 0}}, "training.eval_batch_size must be >= 1; got 0"),
    ({"training": {"encoder_lr": 0}}, "training.encoder_lr must be > 0; got 0"),
    ({"training": {"schedule": "step"}}, "training.schedule must be one of 'cosine', 'linear', "
                                         "'constant'; got 'step'"),
    ({"training": {"warmup": 1.0}}, "training.warmup must be < 1; got 1.0"),
    ({"training": {"head_lr": -1}}, "training.head_lr must be >= 0; got -1"),
    ({"training": {"head_weight_decay": -1}}, "training.head_weight_decay must be >= 0; got -1"),
    ({"training": {"weight_decay": -0.5}}, "training.weight_decay must be >= 0; got -0.5"),
    ({"training": {"grad_clip": 0}}, "training.grad_clip must be > 0; got 0"),
    ({"training": {"length_buckets": -1}}, "training.length_buckets must be >= 0; got -1"),
    ({"training": {"steps_per_epoch": 0}}, "training.steps_per_epoch must be >= 1; got 0"),
    ({"training": {"tasks_per_step": 0}}, "training.tasks_per_step must be >= 1; got 0"),
    ({"training": {"patience": 0}}, "training.patience must be >= 1; got 0"),
    ({"training": {"monitor": ""}}, "training.monitor must be a non-empty str; got ''"),
    ({"training": {"selection": "best"}}, "training.selection must be one of 'joint', "
                                          "'per_task'; got 'best'"),
    ({"training": {"init_heads": "zero"}}, "training.init_heads must be one of 'random', "
                                           "'probe'; got 'zero'"),
    ({"training": {"output_dir": ""}}, "training.output_dir must be a non-empty str; got ''"),
    ({"training": {"torch_device": ""}}, "training.torch_device must be a non-empty str; "
                                         "got ''"),
    ({"training": {"keep_checkpoints": 0}}, "training.keep_checkpoints must be >= 1; got 0"),
    ({"training": {"num_threads": 0}}, "training.num_threads must be >= 1; got 0"),
    ({"training": {"encode_threads": 0}}, "training.encode_threads must be >= 1; got 0"),
    ({"training": {"tracking": "tensorboard", "tracking_dir": ""}},
     "training.tracking_dir must be a non-empty str; got ''"),
    ({"weighting": {"method": "average"}}, "weighting.method must be one of 'equal', "),
    ({"sampling": {"method": "uniform"}}, "sampling.method must be one of 'proportional', "),
    ({"sampling": {"temperature": -1}}, "sampling.temperature must be > 0; got -1"),
])
def test_each_bound_of_the_config_is_checked(data, message):
    with pytest.raises(ConfigError, match="^" + re.escape(message)):
        Config.from_dict(data)


def test_checks_that_relate_fields_still_run():
    with pytest.raises(ConfigError, match="training.tracking_dir is set but training.tracking "
                                          "is None"):
        Config.from_dict({"training": {"tracking_dir": "tb"}})
    with pytest.raises(ConfigError, match="model.encoder_quantize must be None when "
                                          "freeze_encoder is false"):
        Config.from_dict({"model": {"encoder_quantize": "int8", "freeze_encoder": False}})
