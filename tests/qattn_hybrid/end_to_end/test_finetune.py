"""Fine-tuning the encoder with the attention and heads (issue #11 item 5): which weights train,
gradient clipping, length-bucketed batches, LP-FT on a fine-tuned encoder, config checks."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config
from qattn_hybrid.modeling.encoders import token_lengths
from qattn_hybrid.training.sampling import bucket_order, make_sampler


@pytest.fixture
def make_ft_trainer(config_dict, make_encoder):
    """A Trainer on the tiny tasks; ``finetune`` picks the encoder kind (and the config's)."""
    def make(finetune: bool = True, **sections):
        from qattn_hybrid.training.factory import build_trainer

        data = json.loads(json.dumps(config_dict))
        data["model"]["freeze_encoder"] = not finetune
        data["model"]["dropout"] = 0.0
        for name, changes in sections.items():
            data.setdefault(name, {}).update(changes)
        return build_trainer(Config.from_dict(data), encoder=make_encoder(finetune=finetune))
    return make


def _snapshot(module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def _one_step(trainer) -> None:
    task, indices = next(iter(trainer.sampler))
    trainer.model.train()
    trainer.step([(task, indices)])


# --------------------------------------------------------------------------- which weights train
class TestWhichWeightsTrain:
    def test_finetuned_encoder_layers_change_after_a_step(self, make_ft_trainer):
        trainer = make_ft_trainer(training={"encoder_lr": 1e-3})
        encoder = trainer.model.encoder.model
        before = _snapshot(encoder)
        _one_step(trainer)
        after = _snapshot(encoder)
        layers = [n for n in before if n.startswith("encoder.layer.")]
        assert layers and all(not torch.equal(before[n], after[n]) for n in layers
                              if "weight" in n and "LayerNorm" not in n)
        # the embeddings stay as they were (model.finetune_embeddings = false, the default)
        embeddings = [n for n in before if n.startswith("embeddings.")]
        assert embeddings and all(torch.equal(before[n], after[n]) for n in embeddings)

    def test_finetune_embeddings_trains_them_too(self, make_ft_trainer):
        trainer = make_ft_trainer(model={"finetune_embeddings": True},
                                  training={"encoder_lr": 1e-3})
        encoder = trainer.model.encoder.model
        before = encoder.embeddings.word_embeddings.weight.detach().clone()
        _one_step(trainer)
        assert not torch.equal(before, encoder.embeddings.word_embeddings.weight)

    def test_frozen_encoder_never_changes(self, make_ft_trainer):
        trainer = make_ft_trainer(finetune=False)
        encoder = trainer.model.encoder.model
        before = _snapshot(encoder)
        heads_before = _snapshot(trainer.model.heads)
        _one_step(trainer)
        assert all(torch.equal(before[n], p) for n, p in encoder.named_parameters())
        assert not all(torch.equal(heads_before[n], p)
                       for n, p in trainer.model.heads.named_parameters())

    def test_encoder_has_its_own_learning_rate_on_the_same_schedule(self, make_ft_trainer):
        trainer = make_ft_trainer(training={"lr": 0.01, "encoder_lr": 3e-5, "warmup": 0.5})
        groups = trainer.optimizer.param_groups
        encoder_ids = {id(p) for p in trainer.model.encoder.parameters() if p.requires_grad}
        enc = [g for g in groups if {id(p) for p in g["params"]} == encoder_ids]
        assert len(enc) == 1 and enc[0]["base_lr"] == 3e-5
        _one_step(trainer)
        other = next(g for g in groups if g is not enc[0])
        # both scaled by one warm-up factor: lr / base_lr equal, and below 1 (warming up)
        assert enc[0]["lr"] / 3e-5 == pytest.approx(other["lr"] / 0.01)
        assert 0 < enc[0]["lr"] < 3e-5


# --------------------------------------------------------------------------- gradient clipping
class TestGradientClipping:
    def test_clipping_caps_the_total_norm_like_torch(self, make_ft_trainer, monkeypatch):
        max_norm = 1e-3
        trainer = make_ft_trainer(training={"grad_clip": max_norm})
        params = [p for g in trainer.optimizer.param_groups for p in g["params"]]
        raw, clipped = {}, {}
        backward = trainer.weighting.backward

        def record_raw(*args, **kwargs):  # gradients as backward left them, before clipping
            out = backward(*args, **kwargs)
            raw.update({i: p.grad.detach().clone() for i, p in enumerate(params)
                        if p.grad is not None})
            return out

        def record_clipped(*args, **kwargs):
            clipped.update({i: p.grad.detach().clone() for i, p in enumerate(params)
                            if p.grad is not None})

        monkeypatch.setattr(trainer.weighting, "backward", record_raw)
        monkeypatch.setattr(trainer.optimizer, "step", record_clipped)
        _one_step(trainer)
        encoder_ids = {i for i, p in enumerate(params)
                       if any(p is q for q in trainer.model.encoder.parameters())}
        assert encoder_ids & set(raw)  # the encoder's gradients are part of the clipped norm
        raw_norm = torch.linalg.vector_norm(torch.stack([g.norm() for g in raw.values()]))
        assert raw_norm > 10 * max_norm  # clipping had something to do
        # reference: torch's own clip_grad_norm_ on copies of the raw gradients
        copies = [torch.nn.Parameter(torch.zeros_like(g)) for g in raw.values()]
        for c, g in zip(copies, raw.values()):
            c.grad = g.clone()
        torch.nn.utils.clip_grad_norm_(copies, max_norm)
        for c, i in zip(copies, raw):
            torch.testing.assert_close(clipped[i], c.grad, rtol=1e-6, atol=1e-12)
        total = torch.linalg.vector_norm(torch.stack([g.norm() for g in clipped.values()]))
        assert float(total) == pytest.approx(max_norm, rel=1e-4)


# --------------------------------------------------------------------------- bucketed batches
def _random_lengths(n: int, seed: int = 0) -> torch.Tensor:
    return torch.randint(3, 60, (n,), generator=torch.Generator().manual_seed(seed))


class TestBucketOrder:
    def test_every_row_once_and_batches_sorted_within_chunks(self):
        lengths = _random_lengths(1000)
        perm = torch.randperm(1000, generator=torch.Generator().manual_seed(1))
        order = bucket_order(perm, lengths, batch_size=32, chunk_batches=5,
                             generator=torch.Generator().manual_seed(2))
        assert sorted(order.tolist()) == list(range(1000))
        batches = order.split(32)
        assert [len(b) for b in batches[:-1]] == [32] * 31 and len(batches[-1]) == 1000 % 32
        spread = np.mean([float(lengths[b].max() - lengths[b].min()) for b in batches[:-1]])
        random_spread = np.mean([float(lengths[b].max() - lengths[b].min())
                                 for b in perm.split(32)[:-1]])
        assert spread < random_spread / 3  # similar lengths in each batch

    def test_seeded(self):
        lengths, perm = _random_lengths(300), torch.arange(300)

        def order(seed):
            return bucket_order(perm, lengths, 16, 4, torch.Generator().manual_seed(seed))
        assert torch.equal(order(0), order(0)) and not torch.equal(order(0), order(1))

    @pytest.mark.parametrize("field, value", [("batch_size", 0), ("chunk_batches", -1)])
    def test_bad_arguments(self, field, value):
        kwargs = {"batch_size": 4, "chunk_batches": 2, field: value}
        with pytest.raises(ValueError, match=f"{field} must be an int >= 1; got {value}"):
            bucket_order(torch.arange(8), [1] * 8, generator=torch.Generator(), **kwargs)


class TestBucketedSampler:
    def _sampler(self, sizes, seed=0, batch_size=8, **kwargs):
        lengths = {t: _random_lengths(n, seed=k) for k, (t, n) in enumerate(sizes.items())}
        return make_sampler("proportional", sizes, batch_size, seed=seed, lengths=lengths,
                            length_buckets=3, **kwargs), lengths

    def test_one_epoch_shows_every_row_exactly_once(self):
        sampler, lengths = self._sampler({"a": 101})  # 13 batches, the last one of 5 rows
        for _ in range(3):  # each epoch is one full pass, reshuffled
            rows = [i for task, idx in sampler for i in idx.tolist()]
            assert sorted(rows) == list(range(101))
        assert len(sampler) == 13

    def test_batches_have_similar_lengths_and_are_seeded(self):
        sampler, lengths = self._sampler({"a": 240, "b": 96})
        plain = make_sampler("proportional", {"a": 240, "b": 96}, 8, seed=0)

        def spread(s):
            return np.mean([float(lengths[t][i].max() - lengths[t][i].min()) for t, i in s])
        assert spread(sampler) < spread(plain) / 2
        again, _ = self._sampler({"a": 240, "b": 96})
        other, _ = self._sampler({"a": 240, "b": 96}, seed=1)
        first = [(t, i.tolist()) for t, i in again]
        assert first == [(t, i.tolist()) for t, i in self._sampler({"a": 240, "b": 96})[0]]
        assert first != [(t, i.tolist()) for t, i in other]

    def test_resumes_mid_epoch(self):
        sampler, _ = self._sampler({"a": 50, "b": 30})
        full = [(t, i.tolist()) for t, i in sampler]
        fresh, _ = self._sampler({"a": 50, "b": 30})
        it = iter(fresh)
        head = [(t, i.tolist()) for t, i in (next(it) for _ in range(4))]
        state = fresh.state_dict()
        resumed, _ = self._sampler({"a": 50, "b": 30})
        resumed.load_state_dict(state)
        assert head + [(t, i.tolist()) for t, i in resumed] == full

    def test_state_of_another_bucketing_is_refused(self):
        sampler, _ = self._sampler({"a": 50})
        plain = make_sampler("proportional", {"a": 50}, 8, seed=0)
        with pytest.raises(ValueError, match="length_buckets must match this sampler's"):
            plain.load_state_dict(sampler.state_dict())

    def test_lengths_must_cover_every_row(self):
        with pytest.raises(ValueError, match=r"Task 'a': lengths must have one entry per row "
                                             r"\(10\); got 9"):
            make_sampler("proportional", {"a": 10}, 4, lengths={"a": [1] * 9}, length_buckets=2)
        with pytest.raises(ValueError, match="lengths must be given"):
            make_sampler("proportional", {"a": 10}, 4, length_buckets=2)
        with pytest.raises(ValueError, match="length_buckets must be an int >= 0; got -1"):
            make_sampler("proportional", {"a": 10}, 4, length_buckets=-1)

    def test_trainer_buckets_only_a_finetuned_encoder(self, make_ft_trainer):
        tuned = make_ft_trainer(training={"length_buckets": 2})
        assert tuned.sampler.length_buckets == 2
        encoder = tuned.model.encoder
        expected = token_lengths(encoder.tokenizer, tuned.tasks["intent"].train.texts,
                                 encoder.max_length)
        assert tuned.sampler.lengths["intent"].tolist() == expected
        assert make_ft_trainer(training={"length_buckets": 0}).sampler.length_buckets == 0
        assert make_ft_trainer(finetune=False).sampler.length_buckets == 0


# --------------------------------------------------------------------------- LP-FT, evaluation
class TestFinetunedRuns:
    def test_heads_start_as_the_probe_of_the_pretrained_weights(self, make_ft_trainer,
                                                                make_encoder):
        pytest.importorskip("sklearn")
        from qattn_hybrid.evaluation.probe import init_heads_from_probe, run_probe

        trainer = make_ft_trainer(training={"init_heads": "probe"})
        init_heads_from_probe(trainer)
        frozen = run_probe(trainer.config, trainer.tasks, make_encoder(finetune=False))
        for name, result in frozen.items():
            coef = np.atleast_2d(result.model.coef_)
            head = trainer.model.heads[name].weight.detach().numpy()
            np.testing.assert_allclose(head[-coef.shape[0]:], coef, rtol=1e-4, atol=1e-5)

    def test_fit_with_a_finetuned_encoder_saves_and_reloads_it(self, make_ft_trainer):
        from qattn_hybrid.modeling.model import MultiTaskModel

        trainer = make_ft_trainer(training={"epochs": 1, "encoder_lr": 1e-3})
        pretrained = _snapshot(trainer.model.encoder.model)
        result = trainer.fit()
        best = MultiTaskModel.from_pretrained(result.output_dir / "best")
        tuned = dict(best.encoder.model.named_parameters())
        assert best.encoder.finetune
        assert any(not torch.equal(pretrained[n], tuned[n]) for n in pretrained)
        texts = list(trainer.tasks["intent"].split("test").texts[:5])
        assert best.predict(texts, "intent") == trainer.model.predict(texts, "intent")

    def test_baselines_of_a_finetuned_run_are_the_pretrained_probe(self, make_ft_trainer,
                                                                   make_encoder):
        pytest.importorskip("sklearn")
        from qattn_hybrid.evaluation.probe import init_heads_from_probe, run_probe
        from qattn_hybrid.training.baselines import train_baselines

        trainer = make_ft_trainer(training={"init_heads": "probe"})
        init_heads_from_probe(trainer)  # what fit does first with LP-FT
        with torch.no_grad():  # then training moves the encoder away from the pretrained one
            for p in trainer.model.encoder.parameters():
                p.add_(0.1)
        trainer.output_dir.mkdir(parents=True)
        baselines = train_baselines(trainer)
        assert "mean" not in baselines  # no second fine-tuning run
        frozen = run_probe(trainer.config, trainer.tasks, make_encoder(finetune=False))
        for name, result in frozen.items():
            assert baselines["probe"][name]["test"] == pytest.approx(result.metrics["test"])
        # an in-memory encoder fine-tuned without LP-FT: its pretrained weights are gone
        assert train_baselines(make_ft_trainer()) == {"probe": {}}

    def test_evaluation_in_length_order_gives_row_order_results(self, make_ft_trainer):
        from qattn_hybrid.evaluation.evaluator import evaluate

        trainer = make_ft_trainer()
        batched = evaluate(trainer.model, trainer.tasks, "test", batch_size=4)
        one_by_one = evaluate(trainer.model, trainer.tasks, "test", batch_size=1)
        for task, metrics in batched.items():
            for key, value in metrics.items():
                assert value == pytest.approx(one_by_one[task][key], rel=1e-5, abs=1e-6)


# --------------------------------------------------------------------------- config
class TestConfig:
    def test_defaults(self):
        config = Config()
        assert config.training.length_buckets == 50 and config.training.grad_clip == 1.0
        assert config.model.finetune_embeddings is False

    @pytest.mark.parametrize("section, field, value, message", [
        ("training", "length_buckets", -1, "training.length_buckets must be >= 0; got -1"),
        ("training", "length_buckets", 2.5, "training.length_buckets must be an int; got float"),
        ("model", "finetune_embeddings", "yes",
         "model.finetune_embeddings must be a bool; got str 'yes'"),
        ("training", "grad_clip", 0, "training.grad_clip must be > 0; got 0"),
    ])
    def test_bad_values(self, section, field, value, message):
        with pytest.raises(ConfigError, match=message):
            Config.from_dict({section: {field: value}})
