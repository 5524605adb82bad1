"""The factory builds every part of a run from a Config; the Trainer takes parts it is given and
asks the weighting what it needs, never its class."""

from __future__ import annotations

import ast
import inspect

import pytest
import torch

from qattn_hybrid.training import factory
from qattn_hybrid.training import trainer as training
from qattn_hybrid.training.sampling import SAMPLERS, TaskSampler, TemperatureSampler
from qattn_hybrid.training.trainer import Trainer
from qattn_hybrid.training.weighting import WEIGHTINGS, EqualWeighting


@pytest.fixture
def parts(tiny_config, make_encoder):
    """(config, tasks, model, weighting) as build_trainer makes them."""
    from qattn_hybrid.data.loading import load_tasks

    tasks = load_tasks(tiny_config.data.task_specs())
    model = factory.build_model(tiny_config, tasks, make_encoder())
    return tiny_config, tasks, model, factory.build_weighting(tiny_config, tasks)


class TestBuildTrainer:
    def test_every_part_follows_the_config(self, tiny_config, make_encoder):
        config = tiny_config.replace(weighting={"method": "uncertainty"},
                                     sampling={"method": "temperature", "temperature": 3.0},
                                     training={"lr": 0.02})
        trainer = factory.build_trainer(config, encoder=make_encoder())
        assert list(trainer.model.heads) == list(trainer.tasks) == ["intent", "sentiment"]
        assert trainer.model.metadata["data"]["tasks"][0]["name"] == "intent"
        assert type(trainer.weighting) is WEIGHTINGS["uncertainty"]
        assert type(trainer.sampler) is TemperatureSampler and trainer.sampler.temperature == 3.0
        assert trainer.sampler.batch_size == config.training.batch_size
        in_optimizer = {id(p) for g in trainer.optimizer.param_groups for p in g["params"]}
        assert {id(p) for p in trainer.weighting.parameters()} <= in_optimizer  # log-variances
        assert all(g["base_lr"] == 0.02 for g in trainer.optimizer.param_groups)
        assert trainer.init_heads is None and (trainer.rank, trainer.world_size) == (0, 1)

    def test_probe_heads_are_a_hook_of_the_run(self, tiny_config, make_encoder):
        from qattn_hybrid.evaluation.probe import init_heads_from_probe

        trainer = factory.build_trainer(tiny_config.replace(training={"init_heads": "probe"}),
                                        encoder=make_encoder())
        assert trainer.init_heads is init_heads_from_probe

    def test_the_same_config_builds_the_same_model(self, tiny_config, make_encoder):
        a = factory.build_trainer(tiny_config, encoder=make_encoder()).model.state_dict()
        torch.manual_seed(99)  # the factory seeds from training.seed itself
        b = factory.build_trainer(tiny_config, encoder=make_encoder()).model.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)


class TestBuildSampler:
    def test_options_come_from_what_the_class_names(self, tiny_config, monkeypatch):
        class Picky(TaskSampler):
            name, options = "picky", ("temperature",)

            def __init__(self, sizes, batch_size, *, temperature, **kwargs):
                super().__init__(sizes, batch_size, **kwargs)
                self.temperature = temperature

            def probabilities(self):
                return {t: 1 / len(self.tasks) for t in self.tasks}

        monkeypatch.setitem(SAMPLERS, "picky", Picky)
        tasks = {"a": _Rows(10), "b": _Rows(20)}
        config = tiny_config.replace(sampling={"method": "picky", "temperature": 5.0})
        assert factory.build_sampler(config, tasks).temperature == 5.0
        plain = factory.build_sampler(tiny_config.replace(sampling={"method": "proportional"}),
                                      tasks)
        assert plain.probabilities() == pytest.approx({"a": 1 / 3, "b": 2 / 3})

    def test_global_batch_split_over_ranks(self, tiny_config):
        tasks = {"a": _Rows(10)}
        sampler = factory.build_sampler(tiny_config, tasks, rank=1, world_size=2)
        assert (sampler.batch_size, sampler.rank, sampler.world_size) == (4, 1, 2)
        with pytest.raises(ValueError, match=r"training.batch_size \(the global batch\) must be "
                                             r"divisible by the world size 3; got 8"):
            factory.build_sampler(tiny_config, tasks, rank=0, world_size=3)


class _Rows:
    """A stand-in task with ``len(task.train)`` train rows (all build_sampler reads)."""

    def __init__(self, n: int):
        self.train = range(n)


class TestTrainerTakesParts:
    def test_own_optimizer_builder_and_a_weighting_that_writes_grads(self, parts):
        config, tasks, model, _ = parts
        seen = []

        class Manual(EqualWeighting):  # not a torchjd class: only the attribute says it
            writes_grads_itself = True

            def backward(self, losses, shared_params=None, **kwargs):
                seen.append(sorted(losses))
                return super().backward(losses, shared_params, **kwargs)

        def sgd(model, weighting):
            return torch.optim.SGD(model.parameters(), lr=0.1)

        trainer = Trainer(config.replace(training={"epochs": 1}), model=model, tasks=tasks,
                          weighting=Manual(list(tasks)), optimizer=sgd,
                          sampler=factory.build_sampler(config, tasks))
        assert trainer.sync_by_hand and trainer.net is model
        assert trainer.optimizer.param_groups[0]["base_lr"] == 0.1
        before = [p.detach().clone() for p in model.heads.parameters()]
        result = trainer.fit()
        assert len(result.history) == 1 and len(seen) == len(trainer.sampler)
        assert any(not torch.equal(a, b) for a, b in zip(before, model.heads.parameters()))

    def test_parts_must_cover_the_same_tasks(self, parts):
        config, tasks, model, weighting = parts
        optimizer = factory.build_optimizer(config.training, model, weighting)
        other = factory.build_sampler(config, {"intent": tasks["intent"]})
        with pytest.raises(ValueError, match=r"sampler must draw the trainer's tasks "
                                             r"\['intent', 'sentiment'\]; got \['intent'\]"):
            Trainer(config, model=model, tasks=tasks, weighting=weighting, optimizer=optimizer,
                    sampler=other)
        with pytest.raises(ValueError, match=r"weighting must weigh the trainer's tasks "
                                             r"\['intent', 'sentiment'\]; got \['sentiment'\]"):
            Trainer(config, model=model, tasks=tasks, weighting=EqualWeighting(["sentiment"]),
                    optimizer=optimizer, sampler=factory.build_sampler(config, tasks))

    def test_sampler_must_draw_this_ranks_shard(self, parts):
        config, tasks, model, weighting = parts
        with pytest.raises(ValueError, match=r"sampler must draw rank 0 of 1's shard; "
                                             r"got rank 1 of 2"):
            Trainer(config, model=model, tasks=tasks, weighting=weighting,
                    optimizer=factory.build_optimizer(config.training, model, weighting),
                    sampler=factory.build_sampler(config, tasks, rank=1, world_size=2))


def test_the_trainer_builds_nothing_and_names_no_weighting_class():
    """training.py imports no builder (make_*, load_tasks, the model's constructors) and of the
    weighting module only the base class, for annotations."""
    tree = ast.parse(inspect.getsource(training))
    imported = {(node.module, alias.name) for node in ast.walk(tree)
                if isinstance(node, ast.ImportFrom) for alias in node.names}
    assert ("qattn_hybrid.training.weighting", "LossWeighting") in imported
    from_weighting = {name for module, name in imported
                      if module == "qattn_hybrid.training.weighting"}
    assert from_weighting == {"LossWeighting"}
    assert not [name for _, name in imported if name.startswith(("make_", "build_", "load_task"))]
    calls = {node.func.id for node in ast.walk(tree)
             if isinstance(node, ast.Call) and isinstance(node.func, ast.Name)}
    assert "isinstance" not in calls and "MultiTaskModel" not in calls
