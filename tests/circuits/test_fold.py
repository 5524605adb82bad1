"""The folded form against PennyLane's default.qubit: every ansatz x conditioning x readout x
rotation, fresh random weights each run (the seed is in the failure message)."""

import itertools
import math
import secrets

import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from circuits.fold import check_foldable, fold_coefficients, folded_expectations, trig_features

COMBINATIONS = list(itertools.product(
    ("hardware_efficient", "strongly_entangling", "no_entanglement"),
    ("per_task_weights", "task_rotations"), ("z", "z_zz"), ("X", "Y", "Z")))


def fresh(spec: CircuitSpec):
    seed = secrets.randbits(32)
    g = torch.Generator().manual_seed(seed)
    params = init_parameters(spec, generator=g, dtype=torch.float64)
    if "task_angles" in params:  # beyond the N(0, 0.5²) start: anywhere on the circle
        params["task_angles"] = (torch.rand(params["task_angles"].shape, generator=g,
                                            dtype=torch.float64) - 0.5) * 2 * math.pi
    angles = (torch.rand(7, spec.n_qubits, generator=g, dtype=torch.float64) - 0.5) * 2 * math.pi
    return seed, params, angles


class TestParity:
    @pytest.mark.parametrize("ansatz,conditioning,readout,rotation", COMBINATIONS)
    def test_matches_default_qubit(self, ansatz, conditioning, readout, rotation):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2, ansatz=ansatz,
                           conditioning=conditioning, readout=readout, rotation=rotation)
        seed, params, angles = fresh(spec)
        qnode = build_qnode(spec, device="default.qubit")
        coefficients = fold_coefficients(spec, params)
        assert coefficients.shape == (2, spec.n_outputs, 27)
        for task in range(2):
            reference = expectations(qnode, angles, select(spec, params, task))
            folded = folded_expectations(angles, coefficients[task])
            assert torch.allclose(folded, reference, atol=1e-10, rtol=0), f"seed {seed}"

    @pytest.mark.parametrize("n_qubits", [1, 2, 5])
    def test_other_sizes(self, n_qubits):
        spec = CircuitSpec(n_qubits=n_qubits, n_layers=3, n_tasks=1, readout="z_zz")
        seed, params, angles = fresh(spec)
        reference = expectations(build_qnode(spec, device="default.qubit"), angles,
                                 select(spec, params, 0))
        folded = folded_expectations(angles, fold_coefficients(spec, params)[0])
        assert torch.allclose(folded, reference, atol=1e-10, rtol=0), f"seed {seed}"

    def test_float32(self):
        spec = CircuitSpec(n_qubits=4, n_layers=2, n_tasks=2)
        seed, params, angles = fresh(spec)
        reference = expectations(build_qnode(spec, device="default.qubit"), angles,
                                 select(spec, params, 1))
        c32 = fold_coefficients(spec, params, dtype=torch.float32)
        assert c32.dtype == torch.float32
        folded = folded_expectations(angles.float(), c32[1])
        assert folded.dtype == torch.float32
        assert torch.allclose(folded.double(), reference, atol=1e-5, rtol=0), f"seed {seed}"

    def test_trig_features_by_hand(self):
        a = torch.tensor([[0.3, -1.1]], dtype=torch.float64)
        f0, f1 = [1, math.cos(0.3), math.sin(0.3)], [1, math.cos(-1.1), math.sin(-1.1)]
        expected = torch.tensor([[x * y for x in f0 for y in f1]], dtype=torch.float64)
        assert torch.allclose(trig_features(a), expected, atol=1e-15)

    def test_ry_coefficients_by_hand(self):
        # One wire, RY(a) then RZ(w1), RY(w0): the Bloch vector (sin a, 0, cos a) turns to
        # z = cos a cos w0 - sin a cos w1 sin w0, so c = (0, cos w0, -cos w1 sin w0).
        spec = CircuitSpec(n_qubits=1, n_layers=1, ansatz="no_entanglement")
        w = torch.tensor([[[[0.7, 0.2]]]], dtype=torch.float64)  # (K, L, Q, 2): RY, RZ
        c = fold_coefficients(spec, {"weights": w})[0, 0]
        expected = torch.tensor([0.0, math.cos(0.7), -math.cos(0.2) * math.sin(0.7)],
                                dtype=torch.float64)
        assert torch.allclose(c, expected, atol=1e-14)


class TestGradients:
    def test_coefficients_are_differentiable(self):
        spec = CircuitSpec(n_qubits=2, n_layers=2, n_tasks=2, conditioning="task_rotations")
        seed, params, angles = fresh(spec)
        params = {k: v.requires_grad_() for k, v in params.items()}

        def loss(p):
            return (folded_expectations(angles, fold_coefficients(spec, p)[1]) ** 2).sum()

        assert torch.autograd.gradcheck(
            lambda w, t: loss({"weights": w, "task_angles": t}),
            (params["weights"], params["task_angles"]), atol=1e-7), f"seed {seed}"


class TestRefusals:
    def test_reupload(self):
        spec = CircuitSpec(n_qubits=2, reupload=True)
        with pytest.raises(ValueError, match="reupload must be False to fold"):
            fold_coefficients(spec, init_parameters(spec))

    def test_shots(self):
        with pytest.raises(ValueError, match="shots must be None to fold"):
            check_foldable(CircuitSpec(), "default.qubit", shots=100)

    def test_qpu_device(self):
        with pytest.raises(ValueError, match="device must be an exact simulator to fold"):
            check_foldable(CircuitSpec(), "braket.aws.qubit")

    def test_wrong_parameter_shape(self):
        spec = CircuitSpec(n_qubits=2, n_tasks=2)
        with pytest.raises(ValueError, match=r"params\['weights'\] must have shape"):
            fold_coefficients(spec, {"weights": torch.zeros(3, 2, 2, 2)})
