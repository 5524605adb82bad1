"""The main job's speed paths: the feature cache filled once, training.encode_threads batches
at once (count printed), and one probe fit per run shared by the heads and the baselines."""

from __future__ import annotations

import json

import pytest
import torch

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config
from qattn_hybrid.data.loading import load_tasks


def distinct_texts(config_dict) -> int:
    """Reference count: every text of every task and split, read straight from the data."""
    tasks = load_tasks(Config.from_dict(config_dict).data.task_specs())
    return len({t for task in tasks.values() for split in task.splits.values()
                for t in split.texts})


class TestEncodeThreads:
    @pytest.mark.parametrize("value, message", [
        (0, "training.encode_threads must be >= 1; got 0"),
        (-2, "training.encode_threads must be >= 1; got -2"),
    ])
    def test_invalid(self, value, message):
        with pytest.raises(ConfigError, match=message):
            Config.from_dict({"training": {"encode_threads": value}})

    def test_wrong_type(self):
        with pytest.raises((ConfigError, TypeError), match="training.encode_threads"):
            Config.from_dict({"training": {"encode_threads": "two"}})

    def test_batches_run_in_parallel_threads_then_training_gets_its_own(self, make_trainer,
                                                                         monkeypatch):
        import threading

        import qattn_hybrid.modeling.encoders as encoders

        seen = []
        forward = encoders.hidden_states

        def spy(model, layers, **inputs):
            seen.append((threading.get_ident(), torch.get_num_threads(), torch.is_grad_enabled()))
            return forward(model, layers, **inputs)

        monkeypatch.setattr(encoders, "hidden_states", spy)
        before = torch.get_num_threads()
        try:
            trainer = make_trainer(training={"epochs": 1, "num_threads": 2,
                                             "encode_threads": 2, "batch_size": 8})
            trainer.model.encoder.cache.batch_size = 4  # several batches from the tiny data
            stats = trainer.warm_features()
            assert stats.threads == 2 and len(seen) > 2
            assert len({ident for ident, _, _ in seen}) == 2  # two worker threads
            assert threading.get_ident() not in {ident for ident, _, _ in seen}
            assert {(n, grad) for _, n, grad in seen} == {(1, False)}  # 1 torch thread each
            assert torch.get_num_threads() == 2  # training's count back after encoding
            assert trainer.model.encoder.cache.workers == 1
        finally:
            torch.set_num_threads(before)

    def test_parallel_batches_give_the_sequential_features(self, make_encoder, config_dict):
        from qattn_hybrid.modeling.encoders import TokenFeatureCache

        tasks = load_tasks(Config.from_dict(config_dict).data.task_specs())
        texts = sorted({t for task in tasks.values() for t in task.train.texts})
        encoder = make_encoder()
        one = TokenFeatureCache(encoder.model, encoder.tokenizer, max_length=16, batch_size=4,
                                storage_dtype=torch.float32)
        two = TokenFeatureCache(encoder.model, encoder.tokenizer, max_length=16, batch_size=4,
                                storage_dtype=torch.float32)
        two.workers = 2
        a, b = one.encode(texts), two.encode(texts)
        assert torch.equal(a.mask, b.mask)
        assert torch.allclose(a.features, b.features, atol=1e-6)

    def test_none_keeps_the_training_threads(self, make_trainer):
        before = torch.get_num_threads()
        try:
            trainer = make_trainer(training={"epochs": 1, "num_threads": 1})
            assert trainer.warm_features().threads == 1 and torch.get_num_threads() == 1
        finally:
            torch.set_num_threads(before)

    def test_counts_distinct_texts_once(self, make_trainer, config_dict):
        trainer = make_trainer(training={"epochs": 1})
        n = distinct_texts(config_dict)
        first = trainer.warm_features()
        assert (first.distinct, first.encoded) == (n, n)
        assert len(trainer.model.encoder.cache) == n
        trainer.fit()  # finds the cache warm: encodes nothing more
        assert trainer.model.encoder.cache.misses == 0
        assert trainer.warm_features() == first


class TestPrintedCount:
    def test_train_prints_the_distinct_texts_on_stdout(self, tmp_path, config_dict, encoder_dir,
                                                       capsys):
        from qattn_hybrid.cli.parser import main

        config_dict["model"]["encoder"] = str(encoder_dir)
        config_dict["training"]["epochs"] = 1
        path = tmp_path / "config.json"
        path.write_text(json.dumps(config_dict))
        assert main(["train", str(path), "--quiet", "--no-plots", "--no-baselines"]) == 0
        out = capsys.readouterr().out
        n = distinct_texts(config_dict)
        assert f"Encoded {n:,} distinct texts in " in out


class TestOneProbeFit:
    def test_heads_table_and_mean_pool_share_one_fit(self, make_trainer, monkeypatch):
        pytest.importorskip("sklearn")
        import qattn_hybrid.evaluation.probe as probe
        import qattn_hybrid.training.baselines as comparison

        calls = []
        run_probe = probe.run_probe

        def counting(*args, **kwargs):
            calls.append(1)
            return run_probe(*args, **kwargs)

        monkeypatch.setattr(probe, "run_probe", counting)
        monkeypatch.setattr(comparison, "run_probe", counting)
        trainer = make_trainer(training={"epochs": 1, "init_heads": "probe"},
                               model={"dropout": 0.0})
        trainer.fit()
        baselines = comparison.train_baselines(trainer)
        assert len(calls) == 1  # not three (heads, table, the mean-pool run's heads)
        reference = run_probe(trainer.config, trainer.tasks, trainer.model.encoder)  # a refit
        for name, result in reference.items():
            assert baselines["probe"][name]["test"] == pytest.approx(result.metrics["test"])
        assert set(baselines["mean"]) == set(trainer.tasks)


class TestLengthSortedBatches:
    def test_batches_follow_token_counts_not_characters(self, make_encoder, monkeypatch):
        """Texts whose character and token counts disagree (long words vs many short ones):
        the encoder sees them in token order, so a batch pads to nearly its own length."""
        import qattn_hybrid.modeling.encoders as encoders

        encoder = make_encoder()
        tokenizer = encoder.tokenizer
        texts = ["a b c d e f g h i j k", "supercalifragilistic", "x y", "hello world again",
                 "z", "one two three four five six seven eight"]
        tokens = {t: len(tokenizer(t)["input_ids"]) for t in texts}  # reference, one at a time
        seen = []
        tokenize = encoders.tokenize_batch

        def spy(tok, batch, max_length, device):
            seen.append([tokens[t] for t in batch])
            return tokenize(tok, batch, max_length, device)

        monkeypatch.setattr(encoders, "tokenize_batch", spy)
        cache = encoders.TokenFeatureCache(encoder.model, tokenizer, max_length=64, batch_size=2)
        cache.warm(texts)
        flat = [n for batch in seen for n in batch]
        assert sorted(flat) == flat and len(flat) == len(texts)
        alone = encoders.TokenFeatureCache(encoder.model, tokenizer, max_length=64, batch_size=1)
        for text in texts:  # padding never changes a text's features
            a, b = cache.encode([text]), alone.encode([text])
            assert torch.allclose(a.features, b.features, atol=1e-2)
