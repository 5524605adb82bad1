"""Shared helpers of the circuit tests (fixtures returning small functions)."""

from __future__ import annotations

import pytest
import torch

from circuits import build_qnode, expectations, init_parameters, select

DT = torch.float64


def _run(spec, angles, device=None, **circuit_args):
    """`expectations` of one QNode built for `spec` on `device` (N, n_out)."""
    return expectations(build_qnode(spec, device=device), angles, circuit_args)


def _inputs(spec, n_rows, seed=0, requires_grad=True):
    """(angles (N, Q) in [-2, 2), parameters as float64), both requiring grad if asked."""
    gen = torch.Generator().manual_seed(seed)
    params = {k: v.requires_grad_(requires_grad)
              for k, v in init_parameters(spec, generator=gen, dtype=DT).items()}
    angles = torch.rand(n_rows, spec.n_qubits, generator=gen, dtype=DT) * 4 - 2
    return angles.requires_grad_(requires_grad), params


def _step(qnode, spec, angles, params, tasks=0):
    """One training step's circuit work: forward and backward of sum(z); returns
    (z, grad of the angles, grads of the circuit parameters by name)."""
    z = expectations(qnode, angles, select(spec, params, tasks))
    z.sum().backward()
    return z.detach(), angles.grad.clone(), {k: v.grad.clone() for k, v in params.items()}


@pytest.fixture(scope="session")
def run():
    return _run


@pytest.fixture(scope="session")
def inputs():
    return _inputs


@pytest.fixture(scope="session")
def step():
    return _step
