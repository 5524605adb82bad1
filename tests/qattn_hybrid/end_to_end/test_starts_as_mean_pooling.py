"""Every attention kind starts as masked mean pooling (issue #11), checked against a hand-written
masked mean; the mean-pool baseline and the normalised pooled features of the model."""

import pytest
import torch

from qattn_hybrid import QuantumAttention
from qattn_hybrid.config.sections import ModelConfig
from qattn_hybrid.layers.classical import ClassicalAttention, MeanPooling, count_parameters


def masked_mean(x, mask):
    """Reference: the mean of each row's real tokens, by a plain loop."""
    rows = []
    for b in range(x.shape[0]):
        real = [x[b, t] for t in range(x.shape[1]) if mask[b, t]]
        rows.append(sum(real) / len(real))
    return torch.stack(rows)


@pytest.fixture
def features():
    g = torch.Generator().manual_seed(3)
    x = torch.randn(3, 7, 8, generator=g, dtype=torch.float64) * 3
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0]],
                        dtype=torch.bool)
    return x, mask


def check_mean(out, x, mask, n_heads=1):
    expected = masked_mean(x, mask)
    assert (out.pooled - expected).abs().max() < 1e-6
    uniform = mask[:, None, :].to(x.dtype) / mask.sum(1)[:, None, None]
    assert out.weights.shape == (x.shape[0], n_heads, x.shape[1])
    assert (out.weights - uniform).abs().max() < 1e-6


class TestStartsAsMeanPooling:
    @pytest.mark.parametrize("value", ["identity", "linear"])
    @pytest.mark.parametrize("conditioning", ["per_task_weights", "task_rotations"])
    @pytest.mark.parametrize("ansatz", ["hardware_efficient", "no_entanglement"])
    def test_quantum(self, features, value, conditioning, ansatz):
        x, mask = features
        torch.manual_seed(0)
        layer = QuantumAttention(8, 3, n_qubits=3, n_layers=2, n_heads=2, value=value,
                                 conditioning=conditioning, ansatz=ansatz).double()
        check_mean(layer(x, torch.tensor([0, 2, 1]), mask), x, mask, n_heads=2)

    def test_quantum_float32(self, features):
        x, mask = features
        layer = QuantumAttention(8, 2, n_qubits=2, n_layers=1)
        out = layer(x.float(), 1, mask)
        assert (out.pooled.double() - masked_mean(x, mask)).abs().max() < 1e-5  # float32 sums

    @pytest.mark.parametrize("value", ["identity", "linear"])
    def test_classical(self, features, value):
        x, mask = features
        layer = ClassicalAttention(8, 3, n_heads=2, hidden=5, value=value).double()
        check_mean(layer(x, torch.tensor([1, 0, 2]), mask), x, mask, n_heads=2)

    def test_self_attention_pooled_output(self, features):
        from qattn_hybrid.layers.registry import build_attention

        x, mask = features
        config = ModelConfig(attention="quantum_self", circuit={"n_qubits": 2, "n_layers": 1},
                             dropout=0.1)
        layer = build_attention(config, 8, 3).double().eval()
        out = layer(x, torch.tensor([0, 1, 2]), mask)
        assert (out.pooled - masked_mean(x, mask)).abs().max() < 1e-6

    def test_mean_pooling_has_no_parameters(self, features):
        x, mask = features
        layer = MeanPooling(8, 3)
        assert count_parameters(layer) == 0
        check_mean(layer(x, 1, mask), x, mask)

    def test_training_moves_away_from_uniform(self, features):
        """Zero readout is not a dead end: one step gives the circuit and angles gradients."""
        x, mask = features
        x = x / 3  # unsaturated angles
        torch.manual_seed(0)
        layer = QuantumAttention(8, 2, n_qubits=2, n_layers=1).double()
        opt = torch.optim.SGD(layer.parameters(), lr=0.5)
        target = x[:, 0]  # pool toward the first token
        for _ in range(2):
            opt.zero_grad()
            (layer(x, 0, mask).pooled - target).pow(2).sum().backward()
            opt.step()
        assert layer.readout.weight.abs().sum() > 0
        assert layer.to_angles.weight.grad.abs().sum() > 0
        assert (layer(x, 0, mask).pooled - masked_mean(x, mask)).abs().max() > 1e-3

    def test_unknown_value_path(self):
        with pytest.raises(ValueError, match="value must be one of 'identity', 'linear'; "
                                             "got 'proj'"):
            QuantumAttention(8, 2, n_qubits=2, n_layers=1, value="proj")


class TestModel:
    def _model(self, make_encoder, **options):
        from qattn_hybrid.modeling.model import MultiTaskModel
        from qattn_hybrid.tasks.kinds import ClassificationTask

        config = ModelConfig(encoder="tiny", circuit={"n_qubits": 2, "n_layers": 1},
                             max_length=16, **options)
        tasks = [ClassificationTask("a", ("x", "y", "z")), ClassificationTask("b", ("p", "q"))]
        return MultiTaskModel(config, tasks, make_encoder())

    @pytest.mark.parametrize("normalize", [True, False])
    def test_head_sees_normalised_mean(self, make_encoder, normalize):
        model = self._model(make_encoder, attention="mean", normalize_pooled=normalize).eval()
        assert count_parameters(model.attention) == 0
        texts = ["my card bank", "book flight today please"]
        features, mask = model.encode(texts)
        pooled = masked_mean(features.double(), mask).float()
        if normalize:
            pooled = pooled / pooled.norm(dim=-1, keepdim=True)
        expected = model.heads["a"](pooled)
        assert torch.allclose(model(texts, "a").logits, expected, atol=1e-5)

    def test_value_option_from_config(self, make_encoder):
        linear = self._model(make_encoder, value="linear")
        identity = self._model(make_encoder)
        assert count_parameters(linear.attention) - count_parameters(identity.attention) \
            == 32 * 33

    def test_config_rejects_unknown_value(self):
        from qattn_hybrid.config.checks import ConfigError
        from qattn_hybrid.config.sections import Config

        with pytest.raises(ConfigError, match="model.value must be one of 'identity', "
                                              "'linear'; got 'none'"):
            Config.from_dict({"model": {"value": "none"}})
