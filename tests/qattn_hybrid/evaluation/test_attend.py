"""Word attention: token weights summed to words (hand-worked), on a tiny model, and errors."""

from __future__ import annotations

import pytest
import torch

from qattn_hybrid.config.sections import ModelConfig
from qattn_hybrid.evaluation.attend import (
    aggregate_words,
    task_weights,
    token_words,
    word_attention,
    word_spans,
)
from qattn_hybrid.modeling.model import MultiTaskModel
from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask

# "unbelievable pasta here" as a word-piece tokenizer cuts it, with its character offsets
TEXT = "unbelievable pasta here"
OFFSETS = [(0, 0), (0, 2), (2, 8), (8, 12), (13, 18), (19, 23), (0, 0)]  # [CLS] un ##believ ...
SPECIAL = [True, False, False, False, False, False, True]
WEIGHTS = torch.tensor([[0.05, 0.10, 0.20, 0.15, 0.30, 0.10, 0.10],
                        [0.50, 0.00, 0.00, 0.25, 0.05, 0.05, 0.15]])


@pytest.fixture
def model(make_encoder):
    torch.manual_seed(0)
    config = ModelConfig(encoder="tiny", circuit={"n_qubits": 2, "n_layers": 1}, n_heads=2,
                         max_length=16)
    tasks = [ClassificationTask("intent", ("card", "travel", "payment")),
             ClassificationTask("sentiment", ("neg", "pos")), RegressionTask("score")]
    model = MultiTaskModel(config, tasks, make_encoder())
    with torch.no_grad():  # every attention starts as the mean: make it attend somewhere
        for p in model.attention.parameters():
            p.normal_(0.0, 1.0)
    return model


class TestAggregation:
    def test_word_spans_are_the_split_words(self):
        text = "  The pasta,  was\tgreat! "
        assert [text[a:b] for a, b in word_spans(text)] == text.split()
        assert word_spans(TEXT) == [(0, 12), (13, 18), (19, 23)]

    def test_tokens_go_to_the_word_holding_their_characters(self):
        assert token_words(OFFSETS, SPECIAL, word_spans(TEXT)) == [None, 0, 0, 0, 1, 2, None]

    def test_tokens_without_characters_count_as_special(self):
        words = token_words([(0, 0), (0, 3), (3, 3)], [True, False, False], [(0, 3)])
        assert words == [None, 0, None]

    def test_sums_by_hand(self):
        words, specials = aggregate_words(WEIGHTS, [None, 0, 0, 0, 1, 2, None], 3)
        # word 0 = un + ##believ + ##able; specials = [CLS] + [SEP]
        torch.testing.assert_close(words, torch.tensor([[0.45, 0.30, 0.10],
                                                        [0.25, 0.05, 0.05]]))
        torch.testing.assert_close(specials, torch.tensor([0.15, 0.65]))

    def test_token_count_must_match(self):
        with pytest.raises(ValueError, match=r"weights must be \(R, T\) with T = 3 tokens; "
                                             r"got shape \(2, 7\)"):
            aggregate_words(WEIGHTS, [None, 0, None], 1)
        with pytest.raises(ValueError, match="offsets and special must have one entry per "
                                             "token; got 2 and 1"):
            token_words([(0, 0), (0, 1)], [True], [(0, 1)])


class TestOnAModel:
    def test_words_and_shares(self, model):
        text = "what is my card balance"
        amap = word_attention(model, text)
        assert amap.words == text.split() and amap.tasks == ["intent", "sentiment", "score"]
        assert amap.n_tokens == 7 and amap.n_read == 5
        assert amap.weights.shape == (3, 5) and (amap.weights >= 0).all()
        assert amap.weights.std(1).min() > 1e-3  # not the uniform mean
        torch.testing.assert_close(amap.weights.sum(1) + amap.specials, torch.ones(3))

    def test_sub_words_are_summed_and_heads_averaged(self, model):
        """"xyz" is three word pieces (x ##y ##z) of the tiny vocabulary; the reference is
        the model's own forward pass, read by hand."""
        text = "check xyz card"
        tokenizer = model.encoder.tokenizer
        tokens = tokenizer.convert_ids_to_tokens(tokenizer(text)["input_ids"])
        assert tokens == ["[CLS]", "check", "x", "##y", "##z", "card", "[SEP]"]
        model.eval()
        with torch.no_grad():
            w = model([text], "sentiment").weights[0].mean(0)  # (T,) head mean
        amap = word_attention(model, text, ["sentiment"])
        expected = torch.stack([w[1], w[2] + w[3] + w[4], w[5]])
        torch.testing.assert_close(amap.weights[0], expected)
        torch.testing.assert_close(amap.specials[0], w[0] + w[6])

    def test_predictions(self, model):
        text = "book a flight"
        amap = word_attention(model, text, ["intent", "score"])
        model.eval()
        with torch.no_grad():
            probs = torch.softmax(model([text], "intent").logits[0], -1)
            value = float(model([text], "score").logits[0])
        assert amap.labels[0] == ("card", "travel", "payment")[int(probs.argmax())]
        assert amap.probabilities[0] == pytest.approx(float(probs.max()))
        assert amap.labels[1] == pytest.approx(value) and amap.probabilities[1] is None
        assert amap.prediction(0) == f"{amap.labels[0]} ({float(probs.max()):.2f})"
        assert amap.prediction(1) == f"{value:.4g}"

    def test_words_past_max_length_get_nothing(self, model):
        text = " ".join(["card"] * 20)  # 22 tokens with [CLS] / [SEP]; max_length is 16
        amap = word_attention(model, text, ["intent"])
        assert len(amap.words) == 20 and amap.n_read == 14
        assert (amap.weights[0, 14:] == 0).all() and (amap.weights[0, :14] > 0).all()

    def test_top_words_and_json(self, model):
        amap = word_attention(model, "what is my card balance", ["intent"])
        top = amap.top_words(0, 2)
        weights = amap.weights[0].tolist()
        assert len(set(weights)) == len(weights)  # no ties: one right order
        ranked = sorted(zip(weights, amap.words), reverse=True)[:2]
        assert [w for w, _ in top] == [w for _, w in ranked]
        d = amap.to_dict(top=2)
        assert d["words"] == amap.words and d["tasks"][0]["task"] == "intent"
        assert [t["word"] for t in d["tasks"][0]["top_words"]] == [w for w, _ in top]
        assert sum(d["tasks"][0]["weights"]) + d["tasks"][0]["special_weight"] == \
            pytest.approx(1.0, abs=1e-5)

    def test_leaves_the_training_mode(self, model):
        model.train()
        task_weights(model, "hello", ["intent"])
        assert model.training


class TestErrors:
    @pytest.mark.parametrize("text", ["", "   \t"])
    def test_blank_text(self, model, text):
        with pytest.raises(ValueError, match="text must be a non-empty str"):
            word_attention(model, text)

    def test_unknown_task(self, model):
        with pytest.raises(KeyError, match="Unknown task 'food'. Available: intent, "
                                           "sentiment, score"):
            word_attention(model, "hello", ["intent", "food"])

    def test_no_task(self, model):
        with pytest.raises(ValueError, match=r"tasks must name at least one task; got \[\]"):
            word_attention(model, "hello", [])

    def test_slow_tokenizer(self, model):
        class SlowTokenizer:  # a Python tokenizer: no offset mapping
            is_fast = False

        model.encoder.tokenizer = SlowTokenizer()  # (the feature cache keeps its own)
        with pytest.raises(TypeError, match="needs a fast tokenizer .*; got SlowTokenizer"):
            word_attention(model, "hello")
