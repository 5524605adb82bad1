"""Loss weightings against hand-worked gradients."""

import math
import sys

import pytest
import torch

from qattn_hybrid.training.weighting import WEIGHTINGS, make_weighting


def toy_losses(p):
    # at p = (1, 1): L_a = 3, L_b = 1; dL_a/dp = (3, 0), dL_b/dp = (0, 1)
    return {"a": 3 * p[0], "b": p[1]}


def param():
    return torch.nn.Parameter(torch.ones(2))


class TestSimpleWeightings:
    def test_equal(self):
        p = param()
        stats = make_weighting("equal", ["a", "b"]).backward(toy_losses(p))
        assert p.grad.tolist() == [3.0, 1.0]
        assert stats == {"loss": 4.0, "weight/a": 1.0, "weight/b": 1.0}

    def test_uncertainty(self):
        p, w = param(), make_weighting("uncertainty", ["a", "b"])
        with torch.no_grad():
            w.log_var.copy_(torch.tensor([0.0, math.log(2.0)]))
        stats = w.backward(toy_losses(p))
        # total = 3/2 + 0 + 1/(2*2) + log(2)/2; d/dp = (3/2, 1/4); d/ds_k = -L_k/(2 e^s_k) + 1/2
        assert stats["loss"] == pytest.approx(1.5 + 0.25 + math.log(2) / 2)
        assert p.grad.tolist() == pytest.approx([1.5, 0.25])
        assert w.log_var.grad.tolist() == pytest.approx([-1.5 + 0.5, -0.25 + 0.5])
        assert stats["weight/a"] == pytest.approx(0.5) and stats["weight/b"] == pytest.approx(0.25)

    def test_dwa(self):
        w = make_weighting("dwa", ["a", "b"])
        for losses in ([2.0, 4.0], [1.0, 4.0]):  # epoch means; weights stay 1 meanwhile
            for _ in range(2):
                p = torch.nn.Parameter(torch.tensor(losses))
                assert w.backward({"a": p[0], "b": p[1]})["weight/a"] == 1.0
            w.end_epoch()
        # ratios (1/2, 4/4) = (0.5, 1); w = 2 softmax(r / 2)
        e = torch.exp(torch.tensor([0.25, 0.5]))
        expected = (2 * e / e.sum()).tolist()
        stats = w.backward(toy_losses(param()))
        assert [stats["weight/a"], stats["weight/b"]] == pytest.approx(expected)
        restored = make_weighting("dwa", ["a", "b"])
        restored.load_state_dict(w.state_dict())
        assert restored.backward(toy_losses(param()))["weight/a"] == pytest.approx(expected[0])

    def test_gradnorm(self):
        p, w = param(), make_weighting("gradnorm", ["a", "b"], alpha=1.5)
        stats = w.backward(toy_losses(p), [p])
        # g = (3, 1), G = (3, 1), mean 2, rates 1 -> target 2; aux = |3-2| + |1-2|
        # d aux / d w = (sign(1)*3, sign(-1)*1); model gets w . grad = (3, 1)
        assert w.loss_weight.grad.tolist() == pytest.approx([3.0, -1.0])
        assert p.grad.tolist() == pytest.approx([3.0, 1.0])
        assert stats["weight/a"] == 1.0

    def test_gradnorm_renormalises_and_uses_initial_loss(self):
        p, w = param(), make_weighting("gradnorm", ["a", "b"], alpha=1.0)
        w.backward({"a": 2 * p[0], "b": 2 * p[1]}, [p])  # L(0) = (2, 2)
        with torch.no_grad():
            w.loss_weight.copy_(torch.tensor([3.0, 1.0]))
        w.loss_weight.grad, p.grad = None, None
        stats = w.backward({"a": 1 * p[0], "b": 2 * p[1]}, [p])
        assert [stats["weight/a"], stats["weight/b"]] == pytest.approx([1.5, 0.5])  # sum = K
        # G = (1.5*1, 0.5*2) = (1.5, 1); rates (1/2, 1) / 0.75 = (2/3, 4/3); target 1.25 r
        # = (5/6, 5/3); signs (+, -) -> grad (1, -2)
        assert w.loss_weight.grad.tolist() == pytest.approx([1.0, -2.0])

    def test_gradnorm_needs_shared_params(self):
        with pytest.raises(ValueError, match=r"shared_params must be given for gradnorm"):
            make_weighting("gradnorm", ["a", "b"]).backward(toy_losses(param()))
        frozen = torch.ones(2)
        with pytest.raises(ValueError, match=r"shared_params must hold at least one parameter with "
                                             r"requires_grad for gradnorm; got none"):
            make_weighting("gradnorm", ["a", "b"]).backward(toy_losses(param()), [frozen])


class TestJacobianWeightings:
    @pytest.fixture(autouse=True)
    def _needs_torchjd(self):
        pytest.importorskip("torchjd")

    def test_pcgrad_hand_worked(self):
        # g1 = (1, 0), g2 = (-1, 1) conflict: g1' = g1 - (g1.g2/|g2|^2) g2 = (1/2, 1/2),
        # g2' = g2 - (g2.g1/|g1|^2) g1 = (0, 1); sum (1/2, 3/2)
        p = torch.nn.Parameter(torch.zeros(2))
        make_weighting("pcgrad", ["a", "b"]).backward({"a": p[0], "b": p[1] - p[0]}, [p])
        assert p.grad.tolist() == pytest.approx([0.5, 1.5])

    def test_upgrad_no_conflict_is_mean(self):
        p = param()
        stats = make_weighting("upgrad", ["a", "b"]).backward(toy_losses(p), [p])
        assert p.grad.tolist() == pytest.approx([1.5, 0.5], abs=1e-4)
        assert stats["weight/a"] == pytest.approx(0.5, abs=1e-4)

    def test_task_params_get_summed_gradients(self):
        shared, head_a, head_b = param(), torch.nn.Parameter(torch.tensor(2.0)), \
            torch.nn.Parameter(torch.tensor(5.0))
        losses = {"a": head_a * shared[0], "b": head_b * shared[1]}
        make_weighting("pcgrad", ["a", "b"]).backward(losses, [shared],
                                                      task_params=[head_a, head_b])
        assert head_a.grad.item() == 1.0 and head_b.grad.item() == 1.0
        assert shared.grad.tolist() == pytest.approx([2.0, 5.0])

    def test_parameter_no_loss_uses_gets_no_gradient(self):
        p, theta_c = param(), torch.nn.Parameter(torch.tensor(3.0))
        make_weighting("upgrad", ["a", "b", "c"]).backward(toy_losses(p), [p, theta_c])
        assert theta_c.grad is None and p.grad is not None

    def test_single_task_step(self):
        p = param()
        make_weighting("upgrad", ["a", "b"]).backward({"a": 3 * p[0]}, [p])
        assert p.grad.tolist() == pytest.approx([3.0, 0.0], abs=1e-4)

    def test_missing_torchjd(self, monkeypatch):
        monkeypatch.setitem(sys.modules, "torchjd.aggregation", None)
        with pytest.raises(ImportError, match=r"pip install 'qattn-hybrid\[mtl\]'"):
            make_weighting("pcgrad", ["a", "b"])


class TestErrors:
    def test_registry(self):
        assert {"equal", "uncertainty", "dwa", "gradnorm", "pcgrad", "upgrad"} <= set(WEIGHTINGS)
        with pytest.raises(KeyError, match=r"Unknown weighting 'nash'. Available: equal, "
                                           r"uncertainty, dwa, gradnorm, pcgrad"):
            make_weighting("nash", ["a"])

    def test_bad_losses(self):
        w = make_weighting("equal", ["a", "b"])
        with pytest.raises(KeyError, match=r"Unknown task 'c'. Available: a, b"):
            w.backward({"c": torch.tensor(1.0, requires_grad=True)})
        with pytest.raises(ValueError, match=r"losses must hold at least one task's loss"):
            w.backward({})
        with pytest.raises(ValueError, match=r"loss of task 'a' must be a scalar tensor; got "
                                             r"Tensor\(2,\)"):
            w.backward({"a": torch.ones(2, requires_grad=True)})

    def test_bad_tasks(self):
        with pytest.raises(ValueError, match=r"tasks must be a non-empty list of distinct names; "
                                             r"got \['a', 'a'\]"):
            make_weighting("equal", ["a", "a"])
