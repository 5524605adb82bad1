"""Batched state-vector simulation in torch: the hot path of the ``qattn.torch`` device.

A state batch is a complex tensor ``(N, 2**n)``; wire ``0`` is the most significant bit,
as in PennyLane. ``N`` is the broadcast size (1 for an unbroadcast circuit). Every step is
an out-of-place torch operation, so autograd differentiates the whole simulation.

Three ideas make it fast on the circuits the library runs:

- **product phase**: until the first multi-qubit gate the state is a product state, kept as
  one 2-vector per wire (``(N, 2)``); an angle embedding costs ``O(N * n)``, not ``O(N * 2**n)``;
- **fusion**: consecutive operations without a broadcast dimension are multiplied into one
  ``(2**n, 2**n)`` unitary (built once per call, independent of ``N``) and applied with a
  single matrix product, when ``N >= 2**n`` makes that cheaper than gate by gate;
- **structured gates**: diagonal gates are an element-wise product, fixed permutation
  gates (CNOT, SWAP, Toffoli, ...) an index gather.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from pennylane.operation import StatePrepBase

from circuits.fast.gates import (DIAGONAL_GATES, FIXED_GATES, first_columns, fixed_matrix,
                                 op_matrix, prepared_matrices, real_dtype)

# When unbroadcast gates are fused into one dense unitary (4**n per row) rather than applied
# gate by gate (one-qubit layers as two half-width Kronecker products, ~n * 2**n per row):
# up to FUSE_WIRES wires on any batch of at least 2**n rows; wider circuits only from
# WIDE_FUSE_ROWS * 2**n rows. Measured with benchmarks/bench_fusion.py (1 thread, float32
# and float64, 1,024 and 4,096 rows): gate by gate wins at 7-8 qubits on 1,024 rows (by
# 1.2-1.4x), fusion at 3-7 qubits on 4,096 rows (1.2-1.4x) and at 4-6 qubits on 1,024.
FUSE_WIRES = 6
WIDE_FUSE_ROWS = 16


def fuses(n: int, batch: int, max_fused_wires: int | None = None) -> bool:
    """Whether a batch of ``batch`` rows on ``n`` wires runs its unbroadcast gates as one
    fused unitary; ``max_fused_wires`` (an int) replaces the measured rule by a hard limit."""
    if batch < 2**n:  # building the unitary costs what applying the gates to 2**n rows does
        return False
    if max_fused_wires is not None:
        return n <= max_fused_wires
    return n <= FUSE_WIRES or batch >= WIDE_FUSE_ROWS * 2**n


# ----------------------------------------------------------------------------- index tables
@functools.lru_cache(maxsize=1024)
def _local_index(n: int, wires: tuple) -> np.ndarray:
    """For every basis state of ``n`` qubits, the index of its bits on ``wires``."""
    basis = np.arange(2**n)
    loc = np.zeros(2**n, dtype=np.int64)
    for w in wires:
        loc = (loc << 1) | ((basis >> (n - 1 - w)) & 1)
    return loc


@functools.lru_cache(maxsize=1024)
def monomial_table(name: str, n: int, wires: tuple):
    """``(source, phase)`` with ``new[b] = phase[b] * old[source[b]]`` for a fixed gate whose
    matrix has one non-zero per row; ``None`` otherwise. ``phase`` is ``None`` when all ones."""
    mat = np.asarray(fixed_matrix(name, len(wires), torch.complex128, torch.device("cpu")))
    if np.count_nonzero(mat) != mat.shape[0] or not np.all(np.count_nonzero(mat, axis=1) == 1):
        return None
    col = np.argmax(np.abs(mat), axis=1)  # (K,) the one non-zero column of each row
    basis = np.arange(2**n)
    loc = _local_index(n, wires)
    src = basis.copy()
    for i, w in enumerate(wires):
        bit_new = (col[loc] >> (len(wires) - 1 - i)) & 1
        shift = n - 1 - w
        src = (src & ~(1 << shift)) | (bit_new << shift)
    phase = mat[loc, col[loc]]
    return torch.as_tensor(src), (None if np.allclose(phase, 1) else torch.as_tensor(phase))


# ----------------------------------------------------------------------------- gate application
def apply_matrix(state: torch.Tensor, mat: torch.Tensor, wires: tuple, n: int) -> torch.Tensor:
    """Apply a ``(K, K)`` or ``(N, K, K)`` matrix on ``wires`` to a state batch ``(N, 2**n)``."""
    n_batch, k = state.shape[0], len(wires)
    if k == 0:  # e.g. GlobalPhase without wires: a scalar factor
        return state * (mat[..., 0, 0] if mat.dim() == 2 else mat[:, :1, 0])
    if k == 1:
        return _apply_one(state, mat, wires[0], n)
    if k == n and mat.dim() == 2 and list(wires) == list(range(n)):  # one plain product
        return state @ mat.transpose(0, 1)
    if list(wires) == list(range(wires[0], wires[0] + k)):  # contiguous: a view, no copy
        left, right = 2 ** wires[0], 2 ** (n - wires[0] - k)
        if mat.dim() == 2:
            out = torch.matmul(mat, state.reshape(n_batch * left, 2**k, right))
        else:
            out = torch.matmul(mat[:, None], state.reshape(n_batch, left, 2**k, right))
        return out.reshape(n_batch, 2**n)
    others = [w for w in range(n) if w not in wires]
    perm = [0] + [1 + w for w in others] + [1 + w for w in wires]
    moved = state.reshape((n_batch,) + (2,) * n).permute(perm).reshape(n_batch, -1, 2**k)
    out = torch.matmul(moved, mat.transpose(-1, -2))  # (N, R, K)
    inverse = np.argsort(perm).tolist()
    return out.reshape((n_batch,) + (2,) * n).permute(inverse).reshape(n_batch, 2**n)


def _apply_one(state: torch.Tensor, mat: torch.Tensor, wire: int, n: int) -> torch.Tensor:
    """A one-qubit matrix ``(2, 2)`` or ``(N, 2, 2)`` as element-wise products on the two
    halves of the state (a batch of 2x2 matrix products is several times slower)."""
    n_batch = state.shape[0]
    halves = state.reshape(n_batch, 2**wire, 2, 2 ** (n - wire - 1)).unbind(2)
    m = mat.reshape(2, 2) if mat.dim() == 2 else mat.reshape(n_batch, 1, 1, 2, 2)
    m = m.to(torch.promote_types(mat.dtype, state.dtype))
    rows = [m[..., i, 0] * halves[0] + m[..., i, 1] * halves[1] for i in (0, 1)]
    return torch.stack(rows, 2).reshape(n_batch, 2**n)


def apply_diagonal(state: torch.Tensor, diag: torch.Tensor, wires: tuple, n: int) -> torch.Tensor:
    """Multiply by a diagonal gate ``(K,)`` or ``(N, K)`` on ``wires``."""
    if len(wires) == 0:
        return state * diag[..., :1]
    index = torch.as_tensor(_local_index(n, tuple(wires)), device=state.device)
    return state * diag[..., index]


class _PermuteColumns(torch.autograd.Function):
    """``state[:, src]`` for a permutation ``src``, as a gather (advanced indexing is ~4x
    slower on CPU); the backward is the inverse permutation, not a scatter-add. Written in
    the functorch style (setup_context, generated vmap rule) so torch.func transforms work
    through it: torchjd's Jacobian weightings (upgrad, ...) vmap the backward."""

    generate_vmap_rule = True

    @staticmethod
    def forward(state, src, inverse):
        return torch.gather(state, 1, src.expand(state.shape[0], -1))

    @staticmethod
    def setup_context(ctx, inputs, output):
        _, src, inverse = inputs
        ctx.save_for_backward(src, inverse)

    @staticmethod
    def backward(ctx, grad):
        src, inverse = ctx.saved_tensors
        return permute_columns(grad, inverse, src), None, None


def permute_columns(state: torch.Tensor, src: torch.Tensor,
                    inverse: torch.Tensor | None = None) -> torch.Tensor:
    """``state[:, src]`` for a permutation ``src`` of the columns (``inverse``: its inverse,
    computed when not given); differentiable, twice."""
    if inverse is None:
        inverse = torch.argsort(src)
    return _PermuteColumns.apply(state, src, inverse)


class _Step:
    """One application: a gate (with its matrix if prepared), or a run of fixed gates merged
    into one gather ``new[b] = phase[b] * old[src[b]]``."""

    __slots__ = ("op", "wires", "mat", "table", "batch")

    def __init__(self, op, wires, mat=None, table=None):
        self.op, self.wires, self.mat, self.table = op, wires, mat, table
        self.batch = None

    def apply(self, state: torch.Tensor, n: int) -> torch.Tensor:
        dtype, device = state.dtype, state.device
        if self.table is not None:
            src, phase, inverse = self.table
            out = permute_columns(state, src.to(device), inverse.to(device))
            return out if phase is None else out * phase.to(device=device, dtype=dtype)
        mat = self.matrix(dtype, device)
        if self.op is not None and self.op.name in DIAGONAL_GATES:
            return apply_diagonal(state, torch.diagonal(mat, dim1=-2, dim2=-1), self.wires, n)
        return apply_matrix(state, mat, self.wires, n)

    def matrix(self, dtype, device) -> torch.Tensor:
        return self.mat if self.mat is not None else op_matrix(self.op, dtype, device)


def _steps(ops, mats, batches, wire_index, n) -> list[_Step]:
    """Steps for ``ops``; consecutive fixed monomial gates (CNOT ring, SWAPs, ...) merge."""
    steps, run = [], []
    for op, mat, batch in zip(ops, mats, batches):
        wires = tuple(wire_index[w] for w in op.wires)
        if op.name in FIXED_GATES and monomial_table(op.name, n, wires) is not None:
            run.append((op.name, wires))
            continue
        if run:
            steps.append(_run_step(run, n))
            run = []
        steps.append(_Step(op, wires, mat))
        steps[-1].batch = batch
    if run:
        steps.append(_run_step(run, n))
    return steps


def _run_step(run, n) -> _Step:
    wires = tuple(sorted({w for _, ws in run for w in ws}))
    return _Step(None, wires, table=run_table(tuple(run), n))


@functools.lru_cache(maxsize=1024)
def run_table(run: tuple, n: int):
    """Compose the gathers of a run of fixed gates: ``src = src1[src2]``,
    ``phase = phase2 * phase1[src2]``."""
    src = np.arange(2**n)
    phase = np.ones(2**n, dtype=complex)
    for name, wires in run:
        src_g, phase_g = monomial_table(name, n, wires)
        src_g = src_g.numpy()
        phase_g = np.ones(2**n) if phase_g is None else phase_g.numpy()
        src, phase = src[src_g], phase_g * phase[src_g]
    inverse = np.argsort(src)
    return (torch.as_tensor(src), None if np.allclose(phase, 1) else torch.as_tensor(phase),
            torch.as_tensor(inverse))


# ----------------------------------------------------------------------------- whole circuits
def _product_phase(ops, mats, wire_index, n, batch, dtype, device, defer=False, columns=None):
    """Run the leading single-qubit operations on a product state; return the state batch
    ``(N, 2**n)``, the number of operations consumed, and (``defer``) steps left to apply.

    Per wire: ``vec`` the wire's 2-vector (``None`` while still ``|0>``), and ``pending`` the
    product of the unbroadcast matrices not yet applied (a 2x2 product costs nothing, an
    application to ``(N, 2)`` costs a little, so they are multiplied together first). With
    ``defer``, a wire's trailing unbroadcast product on a broadcast vector is returned as a
    step instead, to be fused into the next unitary rather than applied to ``N`` rows.
    """
    vecs, pending = [None] * n, [None] * n
    columns = columns or {}
    used = 0
    for i, (op, mat) in enumerate(zip(ops, mats)):
        if len(op.wires) != 1 or isinstance(op, StatePrepBase):
            break
        w = wire_index[op.wires[0]]
        used += 1
        if i in columns:  # first gate on |0>: its first column (real for RY)
            vecs[w] = columns[i]
            continue
        mat = mat if mat is not None else op_matrix(op, dtype, device)
        if mat.dim() == 2:
            pending[w] = mat if pending[w] is None else mat @ pending[w]
        else:
            vecs[w] = _apply_to_vec(mat, _apply_to_vec(pending[w], vecs[w]))
            pending[w] = None
    factors, deferred = [], []
    for w, (vec, mat) in enumerate(zip(vecs, pending)):
        if defer and mat is not None and vec is not None and vec.dim() > 1:
            deferred.append(_Step(None, (w,), mat))
            mat = None
        vec = _apply_to_vec(mat, vec)
        if vec is None:
            vec = torch.zeros(2, dtype=real_dtype(dtype), device=device)
            vec[0] = 1
        factors.append(vec)
    state = _kron_vectors(factors)
    return state.expand(batch, 2**n) if state.dim() == 1 else state, used, deferred


def _kron_vectors(factors: list) -> torch.Tensor:
    """The product state of per-wire vectors ``(2,)`` or ``(N, 2)``, as a balanced tree of
    outer products: the largest is ``2**(n/2)`` by ``2**(n/2)``, whose backward reduces over
    long rows (a chain ending in ``2**(n-1)`` by 2 reduces over pairs, ~10x slower)."""
    if len(factors) == 1:
        return factors[0]
    mid = len(factors) // 2
    left, right = _kron_vectors(factors[:mid]), _kron_vectors(factors[mid:])
    return (left.unsqueeze(-1) * right.unsqueeze(-2)).flatten(-2)


def _apply_to_vec(mat, vec):
    """``mat @ vec`` on the last axis; ``None`` stands for the identity or for ``|0>``."""
    if mat is None:
        return vec
    if vec is None:
        return mat[..., :, 0]
    if mat.dim() == 2:  # one small matrix product, also in the backward pass
        return vec.to(mat.dtype) @ mat.transpose(0, 1)
    return (mat * vec.unsqueeze(-2)).sum(-1)


def _initial_state(op, wire_order, batch, dtype, device):
    vec = op.state_vector(wire_order=wire_order)
    vec = torch.as_tensor(vec) if not isinstance(vec, torch.Tensor) else vec
    vec = vec.to(device=device, dtype=dtype).reshape(-1, 2 ** len(wire_order))
    return vec.expand(batch, -1) if vec.shape[0] == 1 else vec


def final_state(ops, batches, wire_order, batch, dtype, device, max_fused_wires=None,
                prepared=None, initial=None):
    """The state batch ``(N, 2**n)`` after ``ops`` (``N = batch``; 1 when not broadcast);
    ``batches`` holds each operation's broadcast size (``op_batch_size``). ``prepared``:
    ``(columns, mats)`` as ``first_columns`` and ``prepared_matrices`` would build them;
    ``initial``: the starting state batch ``(N, 2**n)`` instead of ``|0...0>``."""
    n = len(wire_order)
    wire_index = {w: i for i, w in enumerate(wire_order)}
    if prepared is None:
        columns = first_columns(ops, batches, wire_index, dtype, device)
        mats = prepared_matrices(ops, batches, dtype, device, skip=columns)
    else:
        columns, mats = prepared
    fuse = fuses(n, batch, max_fused_wires)
    block = []  # unbroadcast steps waiting to be fused
    if initial is not None:
        state, start = initial, 0
    elif ops and isinstance(ops[0], StatePrepBase):
        state, start = _initial_state(ops[0], wire_order, batch, dtype, device), 1
    else:
        state, start, block = _product_phase(ops, mats, wire_index, n, batch, dtype, device,
                                             defer=fuse, columns=columns)
    pending = {}  # wire -> product of broadcast one-qubit matrices (N, 2, 2) not yet applied
    for step in _steps(ops[start:], mats[start:], batches[start:], wire_index, n):
        if fuse and step.batch is None:
            state = _apply_pending(state, pending, n)
            block.append(step)
            continue
        state = _flush(state, block, n, dtype)
        block = []
        if step.table is None and len(step.wires) == 1:
            # One-qubit gates on different wires commute: merge per wire, apply once.
            w, mat = step.wires[0], step.matrix(dtype, state.device)
            pending[w] = mat if w not in pending else mat @ pending[w]
            continue
        state = step.apply(_apply_pending(state, pending, n), n)
    return _apply_pending(_flush(state, block, n, dtype), pending, n)


def _apply_pending(state, pending, n):
    """Apply merged one-qubit matrices ``{wire: (2, 2) or (N, 2, 2)}``: the broadcast ones
    wire by wire, the others together as a Kronecker product on each half of the wires."""
    if not pending:
        return state
    shared = {w: m for w, m in pending.items() if m.dim() == 2}
    for w, mat in pending.items():
        if mat.dim() == 3:
            state = apply_matrix(state, mat, (w,), n)
    pending.clear()
    return apply_layer(state, shared, n) if shared else state


def apply_layer(state: torch.Tensor, mats: dict, n: int) -> torch.Tensor:
    """Apply one-qubit matrices ``{wire: (2, 2)}`` (any subset of the wires) to a state batch
    ``(N, 2**n)``. Viewed as ``(N, 2**h, 2**(n-h))``, the layer is ``A @ X @ B^T`` with ``A``
    (``B``) the Kronecker product on the first (last) ``h`` (``n - h``) wires: two products
    with ``2**(n/2)``-sized matrices instead of one with a ``2**n`` one."""
    mat = next(iter(mats.values()))
    state = state if state.is_complex() else state.to(mat.dtype)
    h = n // 2
    eye = torch.eye(2, dtype=mat.dtype, device=mat.device)
    halves = [[mats.get(w, eye) for w in range(h)], [mats.get(w, eye) for w in range(h, n)]]
    out = state.reshape(state.shape[0], 2**h, 2 ** (n - h))
    if any(w < h for w in mats):
        out = torch.matmul(functools.reduce(torch.kron, halves[0]), out)
    if any(w >= h for w in mats):
        out = torch.matmul(out, functools.reduce(torch.kron, halves[1]).transpose(0, 1))
    return out.reshape(state.shape[0], 2**n)


def _flush(state, block, n, dtype):
    """Apply a block of unbroadcast steps: directly if one, else as one fused unitary.

    ``rows`` are the evolved basis states, so ``state @ rows`` applies the block; its cost
    does not depend on the batch size. One-qubit gates are multiplied per wire first and
    applied together as one Kronecker product. A real ``state`` (a product state of real
    vectors) meets the complex unitary as two real matrix products."""
    if len(block) <= 1:
        state = state if state.is_complex() else state.to(dtype)
        return block[0].apply(state, n) if block else state
    rows = torch.eye(2**n, dtype=dtype, device=state.device)
    pending = {}  # wire -> product of one-qubit matrices not yet applied to rows
    for step in block:
        if step.table is None and len(step.wires) == 1:
            w, mat = step.wires[0], step.matrix(rows.dtype, rows.device)
            pending[w] = mat if w not in pending else mat @ pending[w]
            continue
        touched = {w: pending.pop(w) for w in step.wires if w in pending}
        rows = step.apply(_apply_kron(rows, touched, n), n)
    rows = _apply_kron(rows, pending, n)
    if state.is_complex():
        return state @ rows
    return torch.complex(state @ rows.real, state @ rows.imag)


def _apply_kron(rows, mats: dict, n):
    """Apply one-qubit matrices ``{wire: (2, 2)}`` as a single Kronecker product."""
    if not mats:
        return rows
    wires = sorted(mats)
    kron = functools.reduce(torch.kron, [mats[w] for w in wires])
    return apply_matrix(rows, kron, tuple(wires), n)
