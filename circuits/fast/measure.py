"""Analytic measurements of a torch state batch ``(N, 2**n)`` for the ``qattn.torch`` device.

Expectation values and variances of Pauli words (and of sums of them) are computed from the
state directly, without building a dense observable: a Z-word is a signed sum of
probabilities, a word with X or Y an index gather with phases. Anything else goes through
PennyLane's own state measurement (``pennylane.devices.qubit.measure``), which accepts torch.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from pennylane.devices.qubit import measure as pl_measure
from pennylane.measurements import ExpectationMP, ProbabilityMP, StateMP, VarianceMP


class _Probabilities(torch.autograd.Function):
    """``|psi|**2`` with a one-pass backward (``2 * grad * psi``); autograd's own chain
    (view, square, sum) walks the state four times. Differentiable twice; functorch style
    (setup_context, generated vmap rule) so torch.func transforms (torchjd) work through it."""

    generate_vmap_rule = True

    @staticmethod
    def forward(state):
        parts = torch.view_as_real(state)  # a sum over the last axis (2) is ~10x slower
        return parts[..., 0].square() + parts[..., 1].square()

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.save_for_backward(inputs[0])

    @staticmethod
    def backward(ctx, grad):
        (state,) = ctx.saved_tensors
        return state * (2 * grad)


def probabilities(state: torch.Tensor) -> torch.Tensor:
    """``(N, 2**n)`` real probabilities of a state batch."""
    return _Probabilities.apply(state)


@functools.lru_cache(maxsize=1024)
def _word_tables(n: int, word: tuple):
    """For a Pauli word ``((wire, 'X'|'Y'|'Z'), ...)`` on ``n`` qubits: ``(flip, sign, i_power)``
    with ``P|b> = i**i_power * sign[b] |b ^ flip>``."""
    flip = phase_mask = n_y = 0
    for wire, pauli in word:
        bit = 1 << (n - 1 - wire)
        if pauli in "XY":
            flip |= bit
        if pauli in "YZ":
            phase_mask |= bit
        n_y += pauli == "Y"
    basis = np.arange(2**n)
    parity = np.array([bin(b & phase_mask).count("1") & 1 for b in basis])
    return flip, torch.as_tensor(1.0 - 2.0 * parity), n_y % 4


def _word(pauli_word, wire_index) -> tuple:
    return tuple(sorted((wire_index[w], p) for w, p in pauli_word.items() if p != "I"))


def pauli_expval(state: torch.Tensor, probs: torch.Tensor, word: tuple, n: int) -> torch.Tensor:
    """``<psi|P|psi>`` for every row: ``(N,)``, real."""
    if not word:
        return probs.sum(-1)
    flip, sign, i_power = _word_tables(n, word)
    sign = sign.to(device=probs.device, dtype=probs.dtype)
    if flip == 0:
        return probs @ sign
    index = torch.as_tensor(np.arange(2**n) ^ flip, device=state.device)
    # <psi|P|psi> = sum_b conj(psi[b ^ flip]) * i**i_power * sign[b] * psi[b]
    terms = (state[:, index].conj() * state * sign).sum(-1)
    return (terms * (1j**i_power)).real


def _pauli_terms(obs, wire_index):
    """``[(coeff, word), ...]`` for an observable with a Pauli representation, else ``None``."""
    rep = getattr(obs, "pauli_rep", None)
    if rep is None:
        return None
    terms = []
    for pw, coeff in rep.items():
        if not isinstance(coeff, (int, float, complex, np.number)) and getattr(
            coeff, "ndim", 0
        ):
            return None  # broadcast coefficients: leave to PennyLane
        terms.append((coeff, _word(pw, wire_index)))
    return terms


def _real(coeff, like: torch.Tensor):
    if isinstance(coeff, torch.Tensor):
        return coeff.real.to(like.dtype) if coeff.is_complex() else coeff.to(like.dtype)
    return float(np.real(coeff))


def measure_all(mps, state, probs, wire_index, n, batched) -> list:
    """All analytic measurements of a tape. Expectation values of Z-words (and of their sums
    with constant coefficients) share one ``probs @ signs`` product."""
    results = [None] * len(mps)
    diagonal = {}  # index -> [(coeff, word), ...]
    for i, mp in enumerate(mps):
        if type(mp) is ExpectationMP and mp.obs is not None and mp.mv is None:
            terms = _pauli_terms(mp.obs, wire_index)
            if terms and all(_is_z_word(w) and _is_number(c) for c, w in terms):
                diagonal[i] = tuple((complex(c).real, w) for c, w in terms)
    if len(diagonal) > 1:
        signs = _signs_matrix(tuple(diagonal.values()), n).to(probs.device, probs.dtype)
        values = (probs @ signs).unbind(-1)  # (N,) each
        for i, value in zip(diagonal, values):
            results[i] = value if batched else value[0]
    for i, mp in enumerate(mps):
        if results[i] is None:
            results[i] = measure_state(mp, state, probs, wire_index, n, batched)
    return results


def _is_z_word(word) -> bool:
    return all(p == "Z" for _, p in word)


def _is_number(coeff) -> bool:
    return isinstance(coeff, (int, float, complex, np.number)) and complex(coeff).imag == 0


@functools.lru_cache(maxsize=256)
def _signs_matrix(observables: tuple, n: int) -> torch.Tensor:
    """``(2**n, M)``: column ``j`` is the diagonal of observable ``j`` (a sum of Z-words)."""
    cols = []
    for terms in observables:
        col = torch.zeros(2**n, dtype=torch.float64)
        for coeff, word in terms:
            col += coeff * _word_tables(n, word)[1]
        cols.append(col)
    return torch.stack(cols, -1)


def measure_state(mp, state, probs, wire_index, n, batched):
    """One analytic measurement of the state batch; result without the batch dimension when
    ``batched`` is false."""
    out = _fast(mp, state, probs, wire_index, n)
    if out is None:
        shaped = state.reshape((-1,) + (2,) * n) if batched else state.reshape((2,) * n)
        return pl_measure(mp, shaped, is_state_batched=batched)
    return out if batched else out[0]


def _fast(mp, state, probs, wire_index, n):
    if isinstance(mp, StateMP) and type(mp) is StateMP:
        if [wire_index[w] for w in mp.wires] in ([], list(range(n))):
            return state
        return None
    if isinstance(mp, ProbabilityMP) and mp.obs is None:
        return marginal_probs(probs, [wire_index[w] for w in mp.wires], n)
    if isinstance(mp, (ExpectationMP, VarianceMP)) and mp.obs is not None and mp.mv is None:
        terms = _pauli_terms(mp.obs, wire_index)
        if terms is None:
            return None
        if isinstance(mp, VarianceMP):
            if len(terms) != 1:
                return None  # <H^2> needs products of words: PennyLane's route
            coeff, word = terms[0]
            return _real(coeff, probs) ** 2 * (1 - pauli_expval(state, probs, word, n) ** 2)
        total = 0
        for coeff, word in terms:
            total = total + _real(coeff, probs) * pauli_expval(state, probs, word, n)
        if not isinstance(total, torch.Tensor):
            total = torch.full(probs.shape[:1], float(total), dtype=probs.dtype,
                               device=probs.device)
        return total
    return None


def marginal_probs(probs: torch.Tensor, wires: list, n: int) -> torch.Tensor:
    """Probabilities ``(N, 2**len(wires))`` of ``wires`` in the order given."""
    if not wires or wires == list(range(n)):
        return probs
    shaped = probs.reshape((probs.shape[0],) + (2,) * n)
    others = [1 + w for w in range(n) if w not in wires]
    if others:
        shaped = shaped.sum(dim=others)
    kept = sorted(wires)
    order = [0] + [1 + kept.index(w) for w in wires]
    return shaped.permute(order).reshape(probs.shape[0], -1)
