"""Encoder pruning (qattn_hybrid.modeling.prune, model.encoder_layers / model.prune_heads):
kept layers against the full model's hidden states and a by-hand forward, pruned heads against
the full model with those heads' output columns zeroed, exact parameter counts, bad inputs,
the config, the feature cache and save / load."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config, ModelConfig
from qattn_hybrid.modeling.prune import (
    head_ablation_importance,
    head_importance,
    keep_layers,
    kept_heads,
    prune_encoder,
    prune_heads,
    restore_pruned_shape,
)

D, H, LAYERS, INTERMEDIATE = 32, 4, 4, 37
d = D // H  # head size 8
# parameters of one BertLayer: q, k, v, attention output (D x D + D each), two LayerNorms
# (2D each), intermediate (D x I + I), output (I x D + D)
LAYER_PARAMS = 4 * (D * D + D) + 2 * 2 * D + (D * INTERMEDIATE + INTERMEDIATE) \
    + (INTERMEDIATE * D + D)
assert LAYER_PARAMS == 6789
# one head: d rows (and d biases) of q, k and v, d columns of the attention output
HEAD_PARAMS = 3 * (d * D + d) + D * d
assert HEAD_PARAMS == 1048
TEXTS = ["my card is bad", "book a flight today please", "the market shares rise",
         "can you check my balance", "pay bill"]


def tiny_bert(tokenizer_dir, seed: int = 0):
    from transformers import BertConfig

    from qattn_hybrid.modeling.encoders import load_encoder

    config = BertConfig(vocab_size=99, hidden_size=D, num_hidden_layers=LAYERS,
                        num_attention_heads=H, intermediate_size=INTERMEDIATE,
                        max_position_embeddings=64)
    torch.manual_seed(seed)
    model, tokenizer = load_encoder(config=config, tokenizer=str(tokenizer_dir))
    return model.eval(), tokenizer


@pytest.fixture
def bert(tokenizer_dir):
    return tiny_bert(tokenizer_dir)


@pytest.fixture(scope="module")
def bert_dir(tmp_path_factory, tokenizer_dir):
    """The 4-layer, 4-head tiny BERT as a local transformers folder."""
    directory = tmp_path_factory.mktemp("tiny_bert4")
    model, tokenizer = tiny_bert(tokenizer_dir)
    model.save_pretrained(str(directory))
    tokenizer.save_pretrained(str(directory))
    return directory


def inputs(tokenizer, texts=TEXTS) -> dict:
    return dict(tokenizer(texts, padding=True, return_tensors="pt"))


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@torch.no_grad()
def by_hand(model, enc: dict, layers) -> torch.Tensor:
    """Embeddings, then the BertLayers ``layers`` called one by one with an additive mask."""
    hidden = model.embeddings(input_ids=enc["input_ids"], token_type_ids=enc["token_type_ids"])
    mask = enc["attention_mask"][:, None, None, :].float()  # (B, 1, 1, T)
    additive = (1 - mask) * torch.finfo(torch.float32).min
    for i in layers:
        hidden = model.encoder.layer[i](hidden, additive)
    return hidden


def zero_heads(model, heads: dict[int, list[int]]):
    """The reference for removed heads: the full model with those heads' columns of the
    attention output projection zeroed (their context vectors then add nothing)."""
    import copy

    ref = copy.deepcopy(model)
    with torch.no_grad():
        for i, hs in heads.items():
            for h in hs:
                ref.encoder.layer[i].attention.output.dense.weight[:, h * d:(h + 1) * d] = 0
    return ref


class TestKeepLayers:
    @pytest.mark.parametrize("n", [1, 2, 3, 4])
    def test_first_n_layers_give_hidden_state_n(self, bert, n):
        model, tokenizer = bert
        enc = inputs(tokenizer)
        with torch.no_grad():
            reference = model(**enc, output_hidden_states=True).hidden_states[n]
            got = keep_layers(model, n)(**enc).last_hidden_state
        torch.testing.assert_close(got, reference, rtol=0, atol=1e-5)

    def test_a_list_of_layers_equals_running_them_by_hand(self, bert):
        model, tokenizer = bert
        enc = inputs(tokenizer)
        reference = by_hand(model, enc, [0, 2, 3])
        with torch.no_grad():
            got = keep_layers(model, [0, 2, 3])(**enc).last_hidden_state
        torch.testing.assert_close(got, reference, rtol=0, atol=1e-5)
        # and the hand-run check itself tells layers apart
        assert not torch.allclose(by_hand(model, enc, [0, 1, 3]), reference, atol=1e-3)

    def test_parameters_config_and_original(self, bert):
        model, _ = bert
        pruned = keep_layers(model, [1, 3])
        assert n_params(model) - n_params(pruned) == 2 * LAYER_PARAMS
        assert pruned.config.num_hidden_layers == 2 and len(pruned.encoder.layer) == 2
        assert model.config.num_hidden_layers == 4 and len(model.encoder.layer) == 4  # a copy
        torch.testing.assert_close(pruned.encoder.layer[0].attention.self.query.weight,
                                   model.encoder.layer[1].attention.self.query.weight)

    @pytest.mark.parametrize("layers, message", [
        (0, r"layers must be between 1 and the encoder's 4 layers; got 0"),
        (5, r"layers must be between 1 and the encoder's 4 layers; got 5"),
        ([], r"layers must be a number of layers in \[1, 4\] or a non-empty list of "
             r"increasing layer indices in \[0, 3\]; got \[\]"),
        ([0, 4], r"increasing layer indices in \[0, 3\]; got \[0, 4\]"),
        ([2, 1], r"increasing layer indices in \[0, 3\]; got \[2, 1\]"),
        ([1, 1], r"increasing layer indices in \[0, 3\]; got \[1, 1\]"),
        (True, r"got True"),
        ("2", r"got '2'"),
    ])
    def test_bad_layers(self, bert, layers, message):
        with pytest.raises(ValueError, match=message):
            keep_layers(bert[0], layers)


class TestPruneHeads:
    def test_explicit_heads_equal_zeroed_output_columns(self, bert):
        model, tokenizer = bert
        heads = {0: [1], 1: [0, 3], 3: [0, 1, 2]}
        enc = inputs(tokenizer)
        pruned = prune_heads(model, heads)
        with torch.no_grad():
            got = pruned(**enc).last_hidden_state
            reference = zero_heads(model, heads)(**enc).last_hidden_state
            full = model(**enc).last_hidden_state
        torch.testing.assert_close(got, reference, rtol=0, atol=1e-5)
        assert (got - full).abs().max() > 1e-2  # the heads did matter
        assert [layer.attention.self.query.out_features // d
                for layer in pruned.encoder.layer] == [3, 2, 4, 1]
        assert pruned.encoder.layer[3].attention.self.num_attention_heads == 1
        assert pruned.encoder.layer[1].attention.self.all_head_size == 2 * d
        assert pruned.config.pruned_heads == {"0": [1], "1": [0, 3], "3": [0, 1, 2]}
        assert n_params(model) - n_params(pruned) == 6 * HEAD_PARAMS

    def test_importance_is_the_output_column_norm(self, bert):
        model, _ = bert
        with torch.no_grad():  # head (i + 1) % 4 of layer i made the smallest by far
            for i, layer in enumerate(model.encoder.layer):
                h = (i + 1) % H
                layer.attention.output.dense.weight[:, h * d:(h + 1) * d] *= 0.01
        scores = head_importance(model)
        w = model.encoder.layer[2].attention.output.dense.weight.detach()
        hand = [float(sum(w[r, c] ** 2 for r in range(D) for c in range(h * d, (h + 1) * d))
                      ** 0.5) for h in range(H)]
        torch.testing.assert_close(scores[2], torch.tensor(hand), rtol=1e-5, atol=0)
        pruned = prune_heads(model, 0.25)  # floor(0.25 * 4) = 1 head per layer
        assert pruned.config.pruned_heads == {str(i): [(i + 1) % H] for i in range(LAYERS)}
        assert n_params(model) - n_params(pruned) == LAYERS * HEAD_PARAMS

    def test_fraction_rounds_down_per_layer(self, bert):
        model, _ = bert
        pruned = prune_heads(model, 0.74)  # floor(2.96) = 2 of 4
        assert kept_heads(pruned) == [sorted(h) for h in kept_heads(pruned)]
        assert [len(h) for h in kept_heads(pruned)] == [2, 2, 2, 2]
        assert prune_heads(model, 0.2) is not model  # floor(0.8) = 0: a plain copy
        assert n_params(prune_heads(model, 0.2)) == n_params(model)

    def test_pruning_twice_numbers_heads_as_they_are_now(self, bert):
        model, tokenizer = bert
        once = prune_heads(model, {0: [0, 1]})  # layer 0 keeps heads 2, 3
        twice = prune_heads(once, {0: [0]})  # removes original head 2
        assert kept_heads(twice)[0] == [3]
        assert twice.config.pruned_heads == {"0": [0, 1, 2]}
        enc = inputs(tokenizer)
        with torch.no_grad():
            torch.testing.assert_close(twice(**enc).last_hidden_state,
                                       zero_heads(model, {0: [0, 1, 2]})(**enc).last_hidden_state,
                                       rtol=0, atol=1e-5)

    def test_layers_then_heads(self, bert):
        model, tokenizer = bert
        pruned = prune_encoder(model, layers=[1, 2], heads={1: [3]})
        enc = inputs(tokenizer)
        reference = zero_heads(model, {2: [3]})
        with torch.no_grad():
            expected = reference(**enc, output_hidden_states=True).hidden_states
        # layers 1 and 2 of the reference, from the embeddings
        torch.testing.assert_close(pruned(**enc).last_hidden_state,
                                   by_hand(reference, enc, [1, 2]), rtol=0, atol=1e-5)
        assert pruned.config.pruned_heads == {"1": [3]}
        assert n_params(model) - n_params(pruned) == 2 * LAYER_PARAMS + HEAD_PARAMS
        assert expected[3].shape == pruned(**enc).last_hidden_state.shape
        assert prune_encoder(model) is model

    def test_keep_layers_renumbers_the_record(self, bert):
        model, _ = bert
        pruned = keep_layers(prune_heads(model, {1: [0], 3: [2]}), [1, 3])
        assert pruned.config.pruned_heads == {"0": [0], "1": [2]}

    @pytest.mark.parametrize("heads, message", [
        (1.0, r"heads must be a fraction in \[0, 1\) or a mapping layer -> heads; got 1.0"),
        (-0.1, r"heads must be a fraction in \[0, 1\).*got -0.1"),
        (float("nan"), r"heads must be a fraction in \[0, 1\).*got nan"),
        ("half", r"heads must be a fraction in \[0, 1\).*got 'half'"),
        ({4: [0]}, r"heads' layer indices must be in \[0, 3\]; got 4"),
        ({0: [4]}, r"heads\[0\] must be distinct head indices in \[0, 3\] \(layer 0 has 4 "
                   r"heads\); got \[4\]"),
        ({0: [1, 1]}, r"heads\[0\] must be distinct head indices.*got \[1, 1\]"),
        ({2: [0, 1, 2, 3]}, r"heads\[2\] removes all 4 heads of layer 2; a layer must keep at "
                            r"least one"),
    ])
    def test_bad_heads(self, bert, heads, message):
        with pytest.raises(ValueError, match=message):
            prune_heads(bert[0], heads)

    def test_all_remaining_heads_of_a_pruned_layer(self, bert):
        once = prune_heads(bert[0], {0: [0, 1, 2]})
        with pytest.raises(ValueError, match=r"heads\[0\] removes all 1 heads of layer 0"):
            prune_heads(once, {0: [0]})


class TestAblationImportance:
    @staticmethod
    def sentence_embeddings(model, tokenizer) -> torch.Tensor:
        enc = inputs(tokenizer)
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state
        m = enc["attention_mask"][..., None].float()
        return torch.nn.functional.normalize((hidden * m).sum(1) / m.sum(1), dim=-1)

    def test_scores_are_the_embedding_shift_without_each_head(self, bert):
        model, tokenizer = bert
        before = {k: v.clone() for k, v in model.state_dict().items()}
        scores = head_ablation_importance(model, tokenizer, TEXTS, max_length=16, batch_size=2)
        full = self.sentence_embeddings(model, tokenizer)
        for i, h in [(0, 0), (1, 2), (3, 3)]:
            without = self.sentence_embeddings(zero_heads(model, {i: [h]}), tokenizer)
            expected = ((without - full) ** 2).sum(-1).mean()
            torch.testing.assert_close(scores[i][h], expected, rtol=1e-4, atol=1e-9)
        assert [len(s) for s in scores] == [H] * LAYERS and min(map(min, scores)) > 0
        for k, v in model.state_dict().items():  # the weights are put back
            torch.testing.assert_close(v, before[k], rtol=0, atol=0)

    def test_scores_pick_the_heads(self, bert):
        model, _ = bert
        scores = [torch.tensor([3.0, 1.0, 2.0, 4.0]), torch.tensor([0.5, 0.1, 0.2, 0.3]),
                  torch.tensor([1.0, 1.0, 1.0, 1.0]), torch.tensor([4.0, 3.0, 2.0, 1.0])]
        pruned = prune_heads(model, 0.5, scores=scores)
        assert pruned.config.pruned_heads == {"0": [1, 2], "1": [1, 2], "2": [0, 1],
                                              "3": [2, 3]}

    @pytest.mark.parametrize("texts", [[], "one text", [1, 2]])
    def test_texts_must_be_strings(self, bert, texts):
        with pytest.raises(ValueError, match=r"texts must be a non-empty sequence of str; got"):
            head_ablation_importance(bert[0], bert[1], texts)

    def test_scores_must_match_the_heads(self, bert):
        with pytest.raises(ValueError, match=r"scores must give one score per head of each "
                                             r"layer \[4, 4, 4, 4\]; got \[4, 4\]"):
            prune_heads(bert[0], 0.5, scores=[torch.ones(4), torch.ones(4)])


class TestNotBert:
    def test_other_modules_are_refused(self):
        with pytest.raises(TypeError, match=r"encoder pruning needs a float BERT-style "
                                            r"transformers encoder .*got Linear"):
            keep_layers(nn.Linear(2, 2), 1)

    def test_a_quantized_encoder_is_refused(self, bert):
        from qattn_hybrid.modeling.quantize import quantize_encoder

        quantized = quantize_encoder(bert[0], bert[1], "int8")
        with pytest.raises(TypeError, match=r"prune before quantizing\); got BertModel"):
            prune_heads(quantized, 0.5)

    def test_a_distilbert_is_refused(self):
        from transformers import DistilBertConfig, DistilBertModel

        model = DistilBertModel(DistilBertConfig(vocab_size=99, dim=32, n_layers=2, n_heads=2,
                                                 hidden_dim=37))
        with pytest.raises(TypeError, match=r"got DistilBertModel"):
            prune_heads(model, 0.5)


class TestRestoreShape:
    def test_a_model_from_the_saved_config_takes_the_saved_weights(self, bert, tokenizer_dir):
        from transformers import AutoConfig

        from qattn_hybrid.modeling.encoders import load_encoder

        model, tokenizer = bert
        pruned = prune_encoder(model, layers=3, heads={0: [2], 2: [0, 3]})
        hf = pruned.config.to_dict()
        fresh, _ = load_encoder(config=AutoConfig.for_model(hf.pop("model_type"), **hf),
                                tokenizer=str(tokenizer_dir))
        with pytest.raises(RuntimeError, match="size mismatch"):
            fresh.load_state_dict(pruned.state_dict())
        restore_pruned_shape(fresh).load_state_dict(pruned.state_dict())
        enc = inputs(tokenizer)
        with torch.no_grad():
            torch.testing.assert_close(fresh.eval()(**enc).last_hidden_state,
                                       pruned(**enc).last_hidden_state, rtol=0, atol=0)


class TestConfig:
    def test_defaults_prune_nothing(self):
        config = ModelConfig()
        assert config.encoder_layers is None and config.prune_heads == 0.0

    @pytest.mark.parametrize("model", [{"encoder_layers": 4}, {"encoder_layers": [0, 2]},
                                       {"prune_heads": 0.5}, {"prune_heads": 0},
                                       {"encoder_layers": 3, "prune_heads": 0.25}])
    def test_accepted(self, model):
        config = Config.from_dict({"model": model})
        assert {k: getattr(config.model, k) for k in model} == model

    @pytest.mark.parametrize("value", [0, -1, [], [1, 1], [2, 0], [-1, 2]])
    def test_bad_layers(self, value):
        with pytest.raises(ConfigError, match=r"model.encoder_layers must be a number of layers "
                                              r">= 1 \(the first ones are kept\), a non-empty "
                                              r"list of increasing layer indices >= 0, or absent "
                                              r"for all; got " + repr(value).replace("[", r"\[")
                                              .replace("]", r"\]")):
            Config.from_dict({"model": {"encoder_layers": value}})

    @pytest.mark.parametrize("value, kind", [(True, "bool True"), ("4", "str '4'"),
                                             (2.0, "float 2.0")])
    def test_wrong_layer_types(self, value, kind):
        with pytest.raises(ConfigError, match=r"model.encoder_layers must be an int or list "
                                              r"or None; got " + kind):
            Config.from_dict({"model": {"encoder_layers": value}})

    @pytest.mark.parametrize("value, message", [(1.0, r"must be < 1; got 1.0"),
                                                (1, r"must be < 1; got 1"),
                                                (-0.25, r"must be >= 0; got -0.25")])
    def test_bad_head_fractions(self, value, message):
        with pytest.raises(ConfigError, match=r"model.prune_heads " + message):
            Config.from_dict({"model": {"prune_heads": value}})

    def test_toml_round_trip(self, tmp_path):
        from qattn_hybrid.config.sections import load_config

        path = tmp_path / "c.toml"
        path.write_text("[model]\nencoder_layers = [0, 1, 3]\nprune_heads = 0.5\n")
        config = load_config(path)
        assert config.model.encoder_layers == [0, 1, 3] and config.model.prune_heads == 0.5
        again = Config.from_dict(config.to_dict())
        assert again.model.encoder_layers == [0, 1, 3] and again.model.prune_heads == 0.5


class TestBuiltEncoder:
    """load_text_encoder honours the config; the feature cache keeps pruned features apart."""

    def direct(self, bert_dir, **prune) -> list[torch.Tensor]:
        """Masked token features of TEXTS from the folder's model pruned here by hand."""
        from qattn_hybrid.modeling.encoders import load_encoder

        model, tokenizer = load_encoder(bert_dir)
        model = prune_encoder(model.eval(), **prune)
        enc = tokenizer(TEXTS, padding=True, truncation=True, max_length=16,
                        return_tensors="pt")
        with torch.no_grad():
            hidden = model(**enc).last_hidden_state
        return [hidden[i, enc["attention_mask"][i].bool()] for i in range(len(TEXTS))]

    def test_config_prunes_and_the_cache_is_apart(self, bert_dir, tmp_path):
        from qattn_hybrid.modeling.model import load_text_encoder

        cache = str(tmp_path / "cache")
        full = load_text_encoder(ModelConfig(encoder=str(bert_dir), max_length=16), cache)
        full.cache.encode(TEXTS)  # unpruned features on disk first
        config = ModelConfig(encoder=str(bert_dir), max_length=16, encoder_layers=2,
                             prune_heads=0.5)
        pruned = load_text_encoder(config, cache)
        assert len(pruned.model.encoder.layer) == 2
        assert [h for h in kept_heads(pruned.model)] and all(
            len(h) == 2 for h in kept_heads(pruned.model))
        assert pruned.cache.dir != full.cache.dir and len(pruned.cache) == 0
        features, mask = pruned(TEXTS)
        expected = self.direct(bert_dir, layers=2, heads=0.5)
        for i, rows in enumerate(expected):
            torch.testing.assert_close(features[i, mask[i]], rows, rtol=0, atol=2e-3)  # fp16
        unpruned, _ = full(TEXTS)
        assert (unpruned - features).abs().max() > 0.02  # 10x the fp16 tolerance
        # the same pruning again reads the pruned folder back
        again = load_text_encoder(config, cache)
        assert again.cache.dir == pruned.cache.dir and len(again.cache) == len(TEXTS)

    def test_heads_alone_change_the_cache_folder(self, bert_dir, tmp_path):
        from qattn_hybrid.modeling.model import load_text_encoder

        folders = {load_text_encoder(ModelConfig(encoder=str(bert_dir), max_length=16,
                                                 prune_heads=f), str(tmp_path)).cache.dir
                   for f in (0.0, 0.25, 0.5)}
        assert len(folders) == 3

    def test_too_many_layers(self, bert_dir):
        from qattn_hybrid.modeling.model import load_text_encoder

        with pytest.raises(ValueError, match=r"model.encoder_layers: layers must be between 1 "
                                             r"and the encoder's 4 layers; got 5"):
            load_text_encoder(ModelConfig(encoder=str(bert_dir), encoder_layers=5))

    def test_feature_layers_are_checked_against_the_kept_layers(self, bert_dir):
        from qattn_hybrid.modeling.model import load_text_encoder

        with pytest.raises(ValueError, match=r"model.feature_layers must be distinct "
                                             r"hidden-state indices in \[0, 2\]"):
            load_text_encoder(ModelConfig(encoder=str(bert_dir), encoder_layers=2,
                                          feature_layers=[0, 3]))


@pytest.mark.parametrize("freeze", [True, False])
def test_model_with_a_pruned_encoder_saves_and_reloads(bert_dir, tmp_path, freeze):
    """Frozen: the encoder is saved as a reference and pruned again on load (same fingerprint);
    fine-tuned: its pruned weights are saved and the shapes rebuilt from its config."""
    from qattn_hybrid.modeling.model import MultiTaskModel
    from qattn_hybrid.tasks.kinds import ClassificationTask

    config = ModelConfig(encoder=str(bert_dir), attention="mean", max_length=16,
                         encoder_layers=[0, 2, 3], prune_heads=0.5, freeze_encoder=freeze)
    torch.manual_seed(0)
    model = MultiTaskModel(config, [ClassificationTask("intent", ("card", "payment", "travel"))],
                           cache_dir=str(tmp_path / "cache")).eval()
    with torch.no_grad():
        before = model(TEXTS, "intent").logits
    path = model.save_pretrained(tmp_path / "saved")
    loaded = MultiTaskModel.from_pretrained(path, cache_dir=str(tmp_path / "cache2"))
    assert loaded.config.encoder_layers == [0, 2, 3] and loaded.config.prune_heads == 0.5
    assert kept_heads(loaded.encoder.model) == kept_heads(model.encoder.model)
    assert len(loaded.encoder.model.encoder.layer) == 3
    with torch.no_grad():
        after = loaded(TEXTS, "intent").logits
    torch.testing.assert_close(after, before, rtol=0, atol=1e-3)  # float16 cache rounding


class TestDryRun:
    """``qattn train --dry-run`` checks encoder_layers against the encoder's layer count."""

    def config(self, config_dict, encoder, layers) -> Config:
        data = {**config_dict, "model": {**config_dict["model"], "encoder": encoder,
                                         "encoder_layers": layers}}
        return Config.from_dict(data)

    @pytest.mark.parametrize("layers", [5, [0, 4]])
    def test_too_many_layers_of_a_local_encoder(self, config_dict, bert_dir, layers):
        from qattn_hybrid.cli.plan import plan_run

        with pytest.raises(ConfigError, match=r"model.encoder_layers must name layers the "
                                              r"encoder has \(its 4 layers: at most 4, indices "
                                              r"0 to 3\); got " + str(layers).replace("[", r"\[")
                                              .replace("]", r"\]")):
            plan_run(self.config(config_dict, str(bert_dir), layers))

    def test_too_many_layers_of_minilm(self, config_dict):
        import json

        from qattn_hybrid.cli.plan import plan_run
        from qattn_hybrid.modeling.encoders import default_encoder_path

        config_json = json.loads((default_encoder_path() / "config.json").read_text())
        assert config_json["num_hidden_layers"] == 6  # what the dry run assumes, unloaded

        with pytest.raises(ConfigError, match=r"its 6 layers: at most 6, indices 0 to 5\); "
                                              r"got 7"):
            plan_run(self.config(config_dict, "minilm", 7))

    def test_layers_it_has_pass(self, config_dict, bert_dir):
        from qattn_hybrid.cli.plan import plan_run

        lines = plan_run(self.config(config_dict, str(bert_dir), [1, 3]))
        assert lines[0].startswith("Dry run: the config is valid")
