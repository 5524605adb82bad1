"""Folded circuits: the exact expectation values of a trained circuit as a real polynomial.

With one angle embedding (no re-upload) a token's state after the embedding is a product
state whose every wire is a trigonometric polynomial of its angle of degree one,

    ρ(a) = ⊗_q (A + cos a_q B + sin a_q C)      (RY on |0>: A = I/2, B = Z/2, C = X/2),

so for an observable O and the task's variational unitary V (everything after the embedding)

    ⟨O⟩(a) = Tr(ρ(a) V†OV) = Σ_s c[s] Π_q f_{s_q}(a_q),   f = (1, cos, sin),  s ∈ {0, 1, 2}^Q,
    c[s] = Tr((⊗_q E_{s_q}) V†OV),   E = (A, B, C).

The 3^Q real numbers c per task and observable depend only on the circuit's weights: a trained
circuit *folds* into a real tensor, and evaluating it is two real matrix products per batch,
no simulation (exportable to ONNX, which has no complex numbers).

Everything is read off the one circuit definition (``circuits.templates``): E from the
embedding's own gates, V from the variational part's gates (decomposed by PennyLane, applied
to the identity with the ``qattn.torch`` kernel), O from the readout. All in torch, so the
coefficients are differentiable in the weights (exact training through the folded form).
"""

from __future__ import annotations

import functools
import math

import numpy as np
import pennylane as qml
import torch

from circuits.conditioning import parameter_shapes
from circuits.devices import FAST_DEVICE, default_device
from circuits.embeddings import angle_embedding
from circuits.fast.gates import op_matrix
from circuits.fast.kernel import apply_matrix
from circuits.fold_unitary import compile_program, program_unitaries, variational_gates
from circuits.readout import readout
from circuits.spec import CircuitSpec, Conditioning, Rotation
from circuits.templates import make_variational

__all__ = [
    "EXACT_DEVICES",
    "FOLD_TRAINING_MAX_QUBITS",
    "check_foldable",
    "fold_coefficients",
    "folded_expectations",
    "resolve_exact_path",
    "task_expectations",
    "trig_features",
]

# Devices whose analytic results the folded form reproduces (exact state-vector simulators).
EXACT_DEVICES = frozenset({FAST_DEVICE, "default.qubit", "lightning.qubit", "lightning.gpu",
                           "lightning.kokkos", "qulacs.simulator"})


def check_foldable(spec: CircuitSpec, device: str | None = None, shots: int | None = None) -> None:
    """Raise a ValueError when the folded form would not be the circuit's exact output."""
    if spec.reupload:
        raise ValueError("reupload must be False to fold a circuit (re-uploading the angles "
                         "before every layer raises the polynomial's degree); got True")
    if shots is not None:
        raise ValueError(f"shots must be None to fold a circuit (folding is for exact "
                         f"inference); got {shots}")
    if device is not None and device not in EXACT_DEVICES:
        raise ValueError(f"device must be an exact simulator to fold a circuit "
                         f"({', '.join(sorted(EXACT_DEVICES))}); got {device!r}")


# Up to this many qubits, training through the folded form (fold every forward, then evaluate)
# measured faster than the qattn.torch simulation on batches whose rows have several tasks
# (forward+backward, 1,024 tokens, 4 tasks, 1 thread; benchmarks/RESULTS.md). With one task
# per batch the recorded qattn.torch path was as fast or faster (Q=4: 19 ms against 24 ms),
# so "auto" folds mixed-task batches only (the layer's exact_path reads "mixed").
FOLD_TRAINING_MAX_QUBITS = 4


def resolve_exact_path(path: str, spec: CircuitSpec, device: str | None,
                       shots: int | None) -> str:
    """"fold", "circuit" or "mixed" for a layer's `exact_path` setting ("auto", "fold",
    "circuit"); "mixed" folds the batches whose rows have several tasks, simulates the rest.

    `device` is the name the user gave (None: the default). "auto" gives "mixed" only when no
    device was named and the default is the fast exact one (a named device is always
    simulated), without shots or re-upload, up to FOLD_TRAINING_MAX_QUBITS qubits."""
    if path not in ("auto", "fold", "circuit"):
        raise ValueError(f"exact_path must be one of 'auto', 'fold', 'circuit'; got {path!r}")
    if path == "fold":
        check_foldable(spec, device, shots)
        return "fold"
    if path == "auto" and device is None and shots is None and not spec.reupload \
            and spec.n_qubits <= FOLD_TRAINING_MAX_QUBITS and default_device() == FAST_DEVICE:
        return "mixed"
    return "circuit"


# ----------------------------------------------------------------------------- the embedding
@functools.lru_cache(maxsize=8)
def _embedding_terms(rotation: Rotation) -> np.ndarray:
    """(3, 2, 2) complex: one wire's embedded state is A + cos(a) B + sin(a) C; rows A, B, C.

    Read off the embedding's own gates at a = 0, π/2, π: ρ(0) = A + B, ρ(π) = A - B,
    ρ(π/2) = A + C.
    """
    def rho(a: float) -> np.ndarray:
        gates = qml.matrix(lambda: angle_embedding(np.array([a]), [0], rotation), wire_order=[0])()
        psi = np.asarray(gates)[:, 0]  # the gates applied to |0>
        return np.outer(psi, psi.conj())

    r0, r1, r2 = rho(0.0), rho(math.pi / 2), rho(math.pi)
    a = (r0 + r2) / 2
    return np.stack([a, (r0 - r2) / 2, r1 - a])


def trig_features(angles: torch.Tensor) -> torch.Tensor:
    """(N, Q) angles -> (N, 3^Q) products Π_q f_{s_q}(a_q), f = (1, cos, sin); wire 0 most
    significant, the order of ``fold_coefficients``'s last axis. Q = 0 gives ones (N, 1)."""
    phi = angles.new_ones(angles.shape[0], 1)  # (N, 1)
    for q in range(angles.shape[-1]):
        a = angles[:, q:q + 1]
        f = torch.cat([torch.ones_like(a), torch.cos(a), torch.sin(a)], -1)  # (N, 3)
        phi = (phi.unsqueeze(-1) * f.unsqueeze(-2)).flatten(-2)  # (N, 3^(q+1))
    return phi


def folded_expectations(angles: torch.Tensor, coefficients: torch.Tensor) -> torch.Tensor:
    """Expectation values (N, J) of tokens `angles` (N, Q) under coefficients (J, 3^Q) (one
    task's readouts, or several tasks' stacked), in the angles' dtype.

    The 3^Q products are never formed: with the wires split in halves L and R,
    ⟨O_j⟩ = Σ_{l,r} φ_L[l] c_j[l, r] φ_R[r], i.e. one matrix product (N, 3^|L|) @ (3^|L|, J·3^|R|)
    and a row-wise dot product with φ_R."""
    n, q = angles.shape
    left = q // 2
    phi_l, phi_r = trig_features(angles[:, :left]), trig_features(angles[:, left:])
    c = coefficients.to(angles.dtype).reshape(-1, phi_l.shape[-1], phi_r.shape[-1])  # (J, L, R)
    y = phi_l @ c.transpose(0, 1).reshape(phi_l.shape[-1], -1)  # (N, J·R)
    return (y.reshape(n, c.shape[0], -1) * phi_r.unsqueeze(1)).sum(-1)  # (N, J)


def task_expectations(angles: torch.Tensor, coefficients: torch.Tensor, tasks) -> torch.Tensor:
    """(N, n_out) expectation values of rows `angles` (N, Q) under each task's coefficients
    (K, n_out, 3^Q); `tasks` an int (every row) or a LongTensor (N,) (one task per row)."""
    if isinstance(tasks, int):
        return folded_expectations(angles, coefficients[tasks])
    k, j, _ = coefficients.shape
    every = folded_expectations(angles, coefficients.reshape(k * j, -1)).reshape(-1, k, j)
    return every.gather(1, tasks.reshape(-1, 1, 1).expand(-1, 1, j)).squeeze(1)


# ----------------------------------------------------------------------------- the circuit
def _unitaries(spec: CircuitSpec, args: dict[str, torch.Tensor], n_tasks: int,
               c_dtype: torch.dtype, device) -> torch.Tensor:
    """(K, 2^Q, 2^Q) variational unitaries, one per task, differentiable in `args`.

    The identity's 2^Q columns are evolved together as one state of 2·Q wires (the first Q
    index the column), so each gate is one batched product whatever its broadcast."""
    n = spec.n_qubits
    dim = 2**n
    state = torch.eye(dim, dtype=c_dtype, device=device).reshape(1, dim * dim)
    state = state.expand(n_tasks, -1)
    for op in variational_gates(spec, args):
        mat = op_matrix(op, c_dtype, device)
        if mat.dim() == 3 and mat.shape[0] != n_tasks:
            raise ValueError(f"gate {op.name} must be broadcast over the {n_tasks} tasks; "
                             f"got batch {mat.shape[0]}")
        state = apply_matrix(state, mat, tuple(n + w for w in op.wires), 2 * n)
    return state.reshape(n_tasks, dim, dim).transpose(1, 2)  # U[k, x, b] = <x|U_k|b>


@functools.lru_cache(maxsize=32)
def _observables(spec: CircuitSpec) -> tuple[np.ndarray, bool]:
    """(n_out, 2^Q, 2^Q) readout matrices, or (n_out, 2^Q) diagonals; and which it is."""
    mats = np.stack([np.asarray(qml.matrix(mp.obs, wire_order=spec.wires))
                     for mp in readout(spec)])
    diagonal = np.allclose(mats, np.eye(mats.shape[-1]) * mats)
    return (np.diagonal(mats, axis1=-2, axis2=-1).real if diagonal else mats), diagonal


def _task_arguments(spec: CircuitSpec, params: dict[str, torch.Tensor]) -> dict:
    """The variational part's arguments with every task at once (a leading K axis)."""
    for name, shape in parameter_shapes(spec).items():
        if name not in params:
            raise ValueError(f"params must hold {name!r} of shape {shape}; got keys "
                             f"{sorted(params)}")
        if tuple(params[name].shape) != tuple(shape):
            raise ValueError(f"params[{name!r}] must have shape {tuple(shape)}; got "
                             f"{tuple(params[name].shape)}")
    if spec.conditioning is Conditioning.PER_TASK_WEIGHTS:
        return {"weights": params["weights"]}
    return {"weights": params["weights"], "task_angles": params["task_angles"]}


def fold_coefficients(spec: CircuitSpec, params: dict[str, torch.Tensor],
                      dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """(K, n_out, 3^Q) real coefficients of every task and readout, differentiable in
    `params` (the circuit's trainable tensors, `circuits.parameter_shapes(spec)`)."""
    check_foldable(spec)
    args = _task_arguments(spec, params)
    c_dtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    device = args["weights"].device
    n, k = spec.n_qubits, spec.n_tasks
    program = compile_program(spec)  # the tape, recorded once per spec; None: not compilable
    if program is not None:
        u = program_unitaries(program, args, c_dtype)  # (K, 2^n, 2^n)
    else:
        u = _unitaries(spec, args, k, c_dtype, device)
    obs, diagonal = _observables(spec)
    obs = torch.as_tensor(np.array(obs), device=device)
    if diagonal:  # V† diag(d) V, for every observable
        right = obs.to(c_dtype)[None, :, :, None] * u[:, None]  # (K, J, 2^n, 2^n)
    else:
        right = obs.to(c_dtype)[None] @ u[:, None]
    m = u.conj().transpose(-1, -2)[:, None] @ right  # (K, J, 2^n, 2^n): M[b, a]
    return _contract_embedding(m, spec.rotation, n).to(dtype)


def _contract_embedding(m: torch.Tensor, rotation: Rotation, n: int) -> torch.Tensor:
    """c[s] = Tr((⊗_q E_{s_q}) M) = Σ_{a,b} Π_q E_{s_q}[a_q, b_q] M[b, a], wire by wire."""
    lead = m.shape[:-2]
    e = torch.as_tensor(_embedding_terms(rotation), dtype=m.dtype, device=m.device)
    e = e.transpose(-1, -2).reshape(3, 4)  # e[s, (b, a)] = E_s[a, b]
    t = m.reshape(-1, 2, 2**(n - 1), 2, 2**(n - 1))  # (R, b_1, b_rest, a_1, a_rest)
    for q in range(n):  # contract wire q; its new axis (size 3) goes first
        rest = 2 ** (n - q - 1)
        t = t.reshape(-1, 2, rest, 2, rest).permute(1, 3, 0, 2, 4).reshape(4, -1)
        t = (e @ t).reshape(3, -1, rest, rest)  # (3, R·3^q, b_rest, a_rest)
        t = t.transpose(0, 1)  # (R·3^q, 3, b_rest, a_rest): s_q after s_1..s_{q-1}
    return t.real.reshape(*lead, 3**n)
