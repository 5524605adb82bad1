"""model.encoder_quantize = "int8": config checks, the quantized encoder against float32, its
own feature-cache folder, and a saved model that reloads with the same quantized encoder."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config, ModelConfig
from qattn_hybrid.modeling.encoders import TokenFeatureCache, model_fingerprint
from qattn_hybrid.modeling.quantize import quantize_encoder

TEXTS = ["my card is bad", "book a flight today please", "the market shares rise",
         "can you check my balance", "pay bill"]


def features(model, tokenizer, texts=TEXTS) -> list[torch.Tensor]:
    cache = TokenFeatureCache(model, tokenizer, max_length=16, storage_dtype=torch.float32)
    feats, mask = cache.encode(list(texts))  # padded; the real tokens of each text
    return [f[m] for f, m in zip(feats, mask)]


class TestConfig:
    def test_default_is_float32(self):
        assert ModelConfig().encoder_quantize is None

    def test_unknown_mode_is_an_error(self):
        with pytest.raises(ConfigError, match=r"model.encoder_quantize must be one of 'int8'; "
                                              r"got 'int4'"):
            Config.from_dict({"model": {"encoder_quantize": "int4"}})

    def test_wrong_type_is_an_error(self):
        with pytest.raises(ConfigError, match=r"model.encoder_quantize must be a str or None; "
                                              r"got int 8"):
            Config.from_dict({"model": {"encoder_quantize": 8}})

    def test_fine_tuned_encoder_cannot_be_quantized(self):
        with pytest.raises(ConfigError, match=r"model.encoder_quantize must be None when "
                                              r"freeze_encoder is false.*got 'int8'"):
            Config.from_dict({"model": {"encoder_quantize": "int8", "freeze_encoder": False}})

    def test_int8_is_accepted(self):
        config = Config.from_dict({"model": {"encoder_quantize": "int8"}})
        assert config.model.encoder_quantize == "int8"


class TestQuantizedEncoder:
    @pytest.fixture
    def pair(self, make_encoder):
        fp32 = make_encoder()
        return fp32, quantize_encoder(fp32.model, fp32.tokenizer, "int8")

    def test_every_linear_layer_is_int8_and_the_original_is_untouched(self, pair):
        fp32, int8 = pair
        linears = [n for n, m in fp32.model.named_modules() if type(m) is nn.Linear]
        assert linears
        quantized = dict(int8.named_modules())
        for name in linears:
            layer = quantized[name]
            assert type(layer) is not nn.Linear
            assert layer.weight().dtype == torch.qint8
        assert all(type(m) is nn.Linear for n, m in fp32.model.named_modules() if n in linears)

    def test_features_close_to_float32_but_not_equal(self, pair):
        fp32, int8 = pair
        ref = features(fp32.model, fp32.tokenizer)
        got = features(int8, fp32.tokenizer)
        diffs = [float((a - b).abs().max()) for a, b in zip(ref, got)]
        scale = max(float(a.abs().max()) for a in ref)
        assert 0 < max(diffs) < 0.1 * scale
        # masked mean of each text: the cosine with float32 stays near 1
        cos = [float(torch.cosine_similarity(a.mean(0), b.mean(0), dim=0))
               for a, b in zip(ref, got)]
        assert min(cos) > 0.99

    def test_fingerprint_is_tagged_stable_and_apart(self, pair, tmp_path):
        fp32, int8 = pair
        again = quantize_encoder(fp32.model, fp32.tokenizer, "int8")
        base = model_fingerprint(fp32.model, fp32.tokenizer)
        assert model_fingerprint(int8, fp32.tokenizer) == model_fingerprint(again, fp32.tokenizer)
        assert model_fingerprint(int8, fp32.tokenizer) != base
        a = TokenFeatureCache(fp32.model, fp32.tokenizer, cache_dir=tmp_path, max_length=16)
        b = TokenFeatureCache(int8, fp32.tokenizer, cache_dir=tmp_path, max_length=16)
        assert a.dir != b.dir and a.dir.parent == b.dir.parent

    def test_unknown_mode(self, pair):
        with pytest.raises(ValueError, match=r"encoder_quantize must be one of \['int8'\]; "
                                             r"got 'fp16'"):
            quantize_encoder(pair[0].model, pair[0].tokenizer, "fp16")


def test_model_with_int8_encoder_saves_and_reloads(encoder_dir, tmp_path):
    """A local-folder encoder quantized by config: the saved model stores it as a reference and
    reloads it quantized again, giving the same outputs."""
    from qattn_hybrid.modeling.model import MultiTaskModel
    from qattn_hybrid.tasks.kinds import ClassificationTask

    config = ModelConfig(encoder=str(encoder_dir), encoder_quantize="int8", attention="mean",
                         max_length=16)
    torch.manual_seed(0)
    model = MultiTaskModel(config, [ClassificationTask("intent", ("card", "payment", "travel"))],
                           cache_dir=str(tmp_path / "cache"))
    assert type(model.encoder.model.encoder.layer[0].attention.self.query) is not nn.Linear
    model.eval()
    with torch.no_grad():
        before = model(TEXTS, "intent").logits
    path = model.save_pretrained(tmp_path / "saved")
    loaded = MultiTaskModel.from_pretrained(path, cache_dir=str(tmp_path / "cache2")).eval()
    assert loaded.config.encoder_quantize == "int8"
    with torch.no_grad():
        after = loaded(TEXTS, "intent").logits
    torch.testing.assert_close(after, before, rtol=0, atol=1e-3)  # float16 cache rounding
