"""Classical attention control: same interface as QuantumAttention, matched parameter count."""

import pytest
import torch

from qattn_hybrid.layers.classical import ClassicalAttention, count_parameters, matched_hidden
from qattn_hybrid.layers.common import AttentionOutput

DT = torch.float64


def make_layer(**kwargs):
    """A layer as after training: random task weights and value map (both start as mean
    pooling, see end_to_end/test_starts_as_mean_pooling.py)."""
    torch.manual_seed(0)
    options = dict(d_model=6, n_tasks=3, n_heads=2, hidden=5, value="linear")
    options.update(kwargs)
    layer = ClassicalAttention(**options).double()
    with torch.no_grad():
        for p in (layer.task_weight, *layer.value.parameters()):
            p.uniform_(-1.0, 1.0)
    return layer


def reference(layer, x, task, mask):
    """Independent per-row, per-head loop."""
    B, T, D = x.shape
    H = layer.n_heads
    pooled, weights = torch.zeros(B, D, dtype=x.dtype), torch.zeros(B, H, T, dtype=x.dtype)
    for b in range(B):
        k = task if isinstance(task, int) else int(task[b])
        real = mask[b].nonzero().flatten()
        h = torch.tanh(x[b, real] @ layer.to_hidden.weight.T + layer.to_hidden.bias)  # (R, hidden)
        v = x[b, real] @ layer.value.weight.T + layer.value.bias  # (R, D)
        for head in range(H):
            s = h @ layer.task_weight[k, head]
            a = torch.exp(s - s.max()) / torch.exp(s - s.max()).sum()
            weights[b, head, real] = a
            cols = slice(head * D // H, (head + 1) * D // H)
            pooled[b, cols] = a @ v[:, cols]
    return pooled, weights


class TestForward:
    @pytest.mark.parametrize("task", [1, torch.tensor([2, 0])])
    def test_matches_reference(self, batch, task):
        layer = make_layer()
        x, mask = batch
        out = layer(x, task, mask)
        assert isinstance(out, AttentionOutput)
        pooled, weights = reference(layer, x, task, mask)
        assert torch.allclose(out.pooled, pooled, atol=1e-12)
        assert torch.allclose(out.weights, weights, atol=1e-12)

    def test_weights_normalised_and_masked_exactly_zero(self, batch):
        x, mask = batch
        out = make_layer()(x, 0, mask)
        assert out.pooled.shape == (2, 6) and out.weights.shape == (2, 2, 4)
        assert torch.allclose(out.weights.sum(-1), torch.ones(2, 2, dtype=DT))
        assert out.weights[0, :, 3].eq(0).all()

    def test_no_mask_means_all_tokens(self, batch):
        x, _ = batch
        layer = make_layer()
        full = torch.ones(2, 4, dtype=torch.bool)
        assert torch.equal(layer(x, 1, None).weights, layer(x, 1, full).weights)

    def test_task_changes_scores(self, batch):
        x, mask = batch
        layer = make_layer()
        assert not torch.allclose(layer(x, 0, mask).weights, layer(x, 1, mask).weights)

    def test_gradients_reach_every_parameter(self, batch):
        x, mask = batch
        layer = make_layer()
        layer(x, torch.tensor([0, 2]), mask).pooled.sum().backward()
        grads = {n: p.grad for n, p in layer.named_parameters()}
        assert all(g is not None for g in grads.values())
        assert grads["task_weight"][1].eq(0).all()  # task 1 unused in this batch
        assert grads["task_weight"][0].abs().sum() > 0


class TestParameterCount:
    def test_formula(self):
        layer = ClassicalAttention(d_model=8, n_tasks=3, n_heads=2, hidden=4, value="linear")
        # hidden (D + 1 + K H) + D (D + 1) = 4 * 15 + 72
        assert count_parameters(layer) == 132
        # the identity value path has no parameters: 4 * 15
        assert count_parameters(ClassicalAttention(d_model=8, n_tasks=3, n_heads=2, hidden=4)) == 60

    @pytest.mark.parametrize("value", ["identity", "linear"])
    @pytest.mark.parametrize("target", [100, 138, 150, 10_000])
    def test_matched_hidden_is_closest(self, target, value):
        h = matched_hidden(target, 8, 3, 2, value)
        counts = {k: count_parameters(ClassicalAttention(8, 3, 2, k, value))
                  for k in range(1, 700)}
        best = min(counts.values(), key=lambda c: abs(c - target))
        assert abs(counts[h] - target) == abs(best - target)

    @pytest.mark.parametrize("value", ["identity", "linear"])
    def test_matching_the_quantum_layer(self, value):
        from qattn_hybrid import QuantumAttention

        quantum = QuantumAttention(d_model=32, n_tasks=4, n_qubits=4, n_layers=2, n_heads=2,
                                   value=value)
        n = count_parameters(quantum)
        classical = ClassicalAttention.matching(n, d_model=32, n_tasks=4, n_heads=2, value=value)
        per_unit = 32 + 1 + 4 * 2
        assert abs(count_parameters(classical) - n) <= per_unit // 2 + 1

    def test_too_few_parameters(self):  # 1 * 15 + 72
        with pytest.raises(ValueError, match=r"n_params must be an int >= 87 \(the count at "
                                             r"hidden=1 for d_model=8, n_tasks=3, n_heads=2\); "
                                             r"got 50"):
            matched_hidden(50, 8, 3, 2, "linear")


class TestInputs:
    """The same checks (and messages) as QuantumAttention."""

    def test_x(self, batch):
        layer = make_layer()
        with pytest.raises(ValueError, match=r"x must be 3-D \(B, T, D\); got shape \(4, 6\)"):
            layer(torch.zeros(4, 6, dtype=DT), 0)
        with pytest.raises(TypeError, match=r"x must be a floating-point torch.Tensor .*; got list"):
            layer([[0.0]], 0)
        with pytest.raises(ValueError, match=r"x's last dimension must be d_model=6; got 5"):
            layer(torch.zeros(1, 2, 5, dtype=DT), 0)
        bad = torch.zeros(1, 2, 6, dtype=DT)
        bad[0, 1, 2] = float("nan")
        with pytest.raises(ValueError, match=r"x must contain only finite values; got NaN or inf"):
            layer(bad, 0)

    def test_task_id(self, batch):
        x, mask = batch
        layer = make_layer()
        with pytest.raises(ValueError, match=r"task_id must be in \[0, 3\); got 3"):
            layer(x, 3, mask)
        with pytest.raises(ValueError, match=r"task_id must be in \[0, 3\); got \[5\]"):
            layer(x, torch.tensor([0, 5]), mask)
        with pytest.raises(ValueError, match=r"task_id must have shape \(2,\) \(one task per row\); "
                                             r"got \(3,\)"):
            layer(x, torch.tensor([0, 1, 2]), mask)
        with pytest.raises(TypeError, match=r"task_id must be an int or an integer LongTensor"):
            layer(x, torch.tensor([0.0, 1.0]), mask)

    def test_mask(self, batch):
        x, _ = batch
        layer = make_layer()
        with pytest.raises(TypeError, match=r"mask must be a bool tensor \(B, T\).*got tensor of "
                                            r"dtype torch.int64"):
            layer(x, 0, torch.ones(2, 4, dtype=torch.long))
        with pytest.raises(ValueError, match=r"mask must have shape \(2, 4\) \(B, T\); got \(2, 3\)"):
            layer(x, 0, torch.ones(2, 3, dtype=torch.bool))
        empty = torch.ones(2, 4, dtype=torch.bool)
        empty[1] = False
        with pytest.raises(ValueError, match=r"every row of mask must keep at least one token; "
                                             r"rows \[1\]"):
            layer(x, 0, empty)

    @pytest.mark.parametrize("kwargs, message", [
        ({"d_model": 0}, r"d_model must be a positive int; got 0"),
        ({"hidden": 0}, r"hidden must be a positive int; got 0"),
        ({"n_heads": 4}, r"d_model must be divisible by n_heads=4; got 6"),
    ])
    def test_constructor(self, kwargs, message):
        with pytest.raises(ValueError, match=message):
            make_layer(**kwargs)
