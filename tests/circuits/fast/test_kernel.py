"""The kernel's two ways through unbroadcast gates (one fused unitary; gate by gate with
one-qubit layers as Kronecker products) against ``default.qubit``, and the rule between them."""

import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from circuits.fast.kernel import FUSE_WIRES, WIDE_FUSE_ROWS, fuses


class TestFusionRule:
    def test_measured_rule(self):
        assert not fuses(4, 15)  # fewer rows than the unitary has
        assert fuses(4, 16) and fuses(FUSE_WIRES, 2**FUSE_WIRES)
        wide = FUSE_WIRES + 2
        assert not fuses(wide, 4 * 2**wide)
        assert fuses(wide, WIDE_FUSE_ROWS * 2**wide)

    def test_limit_replaces_the_rule(self):
        assert not fuses(4, 1000, max_fused_wires=3)
        assert fuses(8, 256, max_fused_wires=8)


@pytest.mark.parametrize("max_fused_wires", [0, 20])  # gate by gate; fused
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_both_ways_match_default_qubit(max_fused_wires, dtype):
    spec = CircuitSpec(n_qubits=5, n_layers=2, ansatz="strongly_entangling", readout="z_zz")
    params = {k: v.requires_grad_() for k, v in init_parameters(spec, dtype=dtype).items()}
    angles = torch.rand(40, 5, dtype=dtype, requires_grad=True)  # 40 >= 2**5: may fuse
    results = []
    for device, options in (("default.qubit", None),
                            ("qattn.torch", {"max_fused_wires": max_fused_wires})):
        qnode = build_qnode(spec, device=device, diff_method="backprop", device_options=options)
        out = expectations(qnode, angles, select(spec, params, 0))
        grads = torch.autograd.grad((out * torch.cos(out.detach())).mean(),
                                    [angles, *params.values()])
        results.append((out.detach(), grads))
    tol = 1e-10 if dtype == torch.float64 else 1e-5
    (ref, ref_grads), (fast, fast_grads) = results
    torch.testing.assert_close(fast, ref, atol=tol, rtol=0)
    for g_f, g_r in zip(fast_grads, ref_grads):
        torch.testing.assert_close(g_f, g_r, atol=tol, rtol=0)


class TestFunctorch:
    """torchjd's Jacobian weightings (upgrad, mgda, ...) vmap the backward pass: the kernel's
    custom autograd functions must work under torch.func transforms."""

    def test_batched_gradients_equal_plain_autograd(self):
        from circuits.fast.kernel import permute_columns
        from circuits.fast.measure import probabilities

        torch.manual_seed(0)
        psi = torch.randn(3, 8, dtype=torch.complex128, requires_grad=True)
        src = torch.randperm(8)
        out = probabilities(permute_columns(psi, src))
        ref = (psi.abs() ** 2)[:, src]  # the same values through torch's own operations
        assert torch.allclose(out, ref, atol=1e-12)
        rows = torch.eye(24, dtype=torch.float64).reshape(24, 3, 8)  # one cotangent per output
        (jac,) = torch.autograd.grad(out, psi, rows, is_grads_batched=True)
        (jac_ref,) = torch.autograd.grad(ref, psi, rows, is_grads_batched=True)
        assert torch.allclose(jac, jac_ref, atol=1e-12)
