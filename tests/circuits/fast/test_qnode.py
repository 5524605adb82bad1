"""``FastQNode`` (recorded calls, rows grouped by task) against ``default.qubit``.

Inputs are fresh random draws on every run; mixed-task batches put several tasks in one call,
in runs (a task per sample) and interleaved.
"""

import functools
import itertools

import pennylane as qml
import pytest
import torch

from circuits import (Ansatz, CircuitSpec, Conditioning, Readout, Rotation, build_qnode,
                      expectations, init_parameters, select)
from circuits.fast import qnode as qnode_module
from circuits.fast.program import Program
from circuits.fast.qnode import FastQNode, task_groups
from circuits.templates import make_circuit

TOL = {torch.float64: 1e-10, torch.float32: 1e-5}
CASES = list(itertools.product(Ansatz, Conditioning, Readout))


def outputs_and_grads(qnode, spec, angles, params, tasks):
    out = expectations(qnode, angles, select(spec, params, tasks))
    weights = torch.sin(torch.arange(1, out.numel() + 1, dtype=out.dtype)).reshape(out.shape)
    grads = torch.autograd.grad((out * weights).sum(), [angles, *params.values()])
    return out.detach(), grads


def assert_parity(spec, angles, params, tasks, dtype):
    fast = build_qnode(spec, device="qattn.torch")
    ref = build_qnode(spec, device="default.qubit", diff_method="backprop")
    (out_f, grads_f), (out_r, grads_r) = (outputs_and_grads(q, spec, angles, params, tasks)
                                          for q in (fast, ref))
    assert out_f.dtype == out_r.dtype == dtype
    torch.testing.assert_close(out_f, out_r, atol=TOL[dtype], rtol=0)
    for g_f, g_r in zip(grads_f, grads_r):
        torch.testing.assert_close(g_f, g_r, atol=TOL[dtype], rtol=0)
    return fast


def random_case(spec, dtype, n_rows):
    params = {k: v.requires_grad_() for k, v in init_parameters(spec, dtype=dtype).items()}
    angles = (torch.rand(n_rows, spec.n_qubits, dtype=dtype) * 6 - 3).requires_grad_()
    return angles, params


@pytest.fixture(autouse=True)
def small_groups(monkeypatch):
    """Group from 8 rows per task on average, so that small test batches are grouped."""
    monkeypatch.setattr(qnode_module, "MIN_ROWS_PER_GROUP", 8)


class TestParity:
    """Every ansatz x conditioning x readout (embedding axes and re-upload spread over the
    cases), one task and mixed tasks, outputs and gradients."""

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    @pytest.mark.parametrize("ansatz,conditioning,readout", CASES)
    def test_library_circuits(self, ansatz, conditioning, readout, dtype):
        index = CASES.index((ansatz, conditioning, readout))
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=3, ansatz=ansatz,
                           conditioning=conditioning, readout=readout,
                           rotation=list(Rotation)[index % 3], reupload=index % 2 == 1)
        angles, params = random_case(spec, dtype, n_rows=40)
        runs = torch.randint(0, 3, (5,)).repeat_interleave(8)  # a task per sample of 8
        runs[:12] = torch.tensor([0, 1, 2]).repeat(4)  # and some interleaved rows
        for tasks in (2, runs):
            fast = assert_parity(spec, angles, params, tasks, dtype)
            assert fast.programs and all(p is not None for p in fast.programs.values())

    @pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
    def test_wide_circuits_gate_by_gate(self, dtype):  # above FUSE_WIRES
        spec = CircuitSpec(n_qubits=8, n_layers=2, n_tasks=2, readout="z_zz")
        angles, params = random_case(spec, dtype, n_rows=40)
        for tasks in (1, torch.randint(0, 2, (40,))):
            assert_parity(spec, angles, params, tasks, dtype)

    def test_mixed_tasks_one_unitary_per_task(self, mocker):
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=3)
        angles, params = random_case(spec, torch.float64, n_rows=60)
        run_grouped = mocker.spy(Program, "run_grouped")
        assert_parity(spec, angles, params, torch.arange(60) % 3, torch.float64)
        assert run_grouped.call_count == 1
        assert [len(g) for g in run_grouped.call_args.args[2]] == [20, 20, 20]

    @pytest.mark.parametrize("spec", [
        CircuitSpec(n_qubits=7, n_layers=2, n_tasks=3),  # too wide to fuse
        CircuitSpec(n_qubits=3, n_layers=2, n_tasks=3, reupload=True),  # angles after CNOTs
    ])
    def test_mixed_tasks_one_pass_per_task(self, spec):
        angles, params = random_case(spec, torch.float64, n_rows=60)
        fast = assert_parity(spec, angles, params, torch.arange(60) % 3, torch.float64)
        assert (("angles", True), ("weights", False), ("task_angles", None)) in fast.programs

    def test_many_tasks_run_broadcast(self):
        """More distinct tasks than the rows justify: one broadcast run, no grouping."""
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=20, conditioning="task_rotations")
        angles, params = random_case(spec, torch.float64, n_rows=40)
        fast = assert_parity(spec, angles, params, torch.arange(40) % 20, torch.float64)
        assert list(fast.programs) == [(("angles", True), ("weights", False),
                                         ("task_angles", True))]

    def test_unbroadcast_call(self):
        spec = CircuitSpec(n_qubits=2, n_layers=1, n_tasks=1)
        angles, params = random_case(spec, torch.float64, n_rows=1)
        fast = build_qnode(spec, device="qattn.torch")
        ref = build_qnode(spec, device="default.qubit")
        args = select(spec, params, 0)
        out_f, out_r = (torch.stack(q(angles[0], **args)) for q in (fast, ref))
        torch.testing.assert_close(out_f, out_r, atol=1e-12, rtol=0)


class TestRecording:
    def test_circuit_function_runs_once_per_layout(self):
        spec = CircuitSpec(n_qubits=3, n_layers=1)
        angles, params = random_case(spec, torch.float64, n_rows=5)
        calls = []
        circuit = make_circuit(spec)

        @functools.wraps(circuit)
        def counted(*args, **kwargs):
            calls.append(1)
            return circuit(*args, **kwargs)

        fast = FastQNode(counted, qml.device("qattn.torch", wires=3), spec=spec)
        for n_rows in (5, 4, 3):
            expectations(fast, angles[:n_rows], select(spec, params, 0))
        assert len(calls) == 1  # the recording; no tape on the calls themselves

    def test_is_an_ordinary_qnode_for_pennylane(self):
        spec = CircuitSpec(n_qubits=2, n_layers=1)
        fast = build_qnode(spec, device="qattn.torch")
        assert isinstance(fast, qml.QNode)
        args = select(spec, init_parameters(spec, dtype=torch.float64), 0)
        assert "RY" in qml.draw(fast)(torch.zeros(2, dtype=torch.float64), **args)

    def test_tracker_sees_every_execution(self):
        """With a tracker active the ordinary call runs, so executions are counted."""
        spec = CircuitSpec(n_qubits=2, n_layers=1)
        fast = build_qnode(spec, device="qattn.torch")
        args = select(spec, init_parameters(spec, dtype=torch.float64), 0)
        with qml.Tracker(fast.device) as tracker:
            expectations(fast, torch.rand(3, 2, dtype=torch.float64), args)
        assert tracker.totals["batches"] == 1 and tracker.totals["executions"] == 3  # 3 rows

    def test_unrecordable_circuit_takes_the_ordinary_call(self):
        """A gate parameter computed from an argument cannot be recorded: same numbers."""
        spec = CircuitSpec(n_qubits=2, n_layers=1)

        def circuit(angles, weights, task_angles=None):
            qml.RY(2 * angles[..., 0], 0)
            qml.CRX(weights[..., 0, 0, 0], wires=[0, 1])
            return [qml.expval(qml.Z(1))]

        x = torch.rand(4, 2, dtype=torch.float64)
        w = torch.rand(1, 2, 2, dtype=torch.float64)
        fast = FastQNode(circuit, qml.device("qattn.torch", wires=2), spec=spec)
        ref = qml.QNode(circuit, qml.device("default.qubit", wires=2))
        torch.testing.assert_close(fast(x, w)[0], ref(x, w)[0], atol=1e-12, rtol=0)
        assert list(fast.programs.values()) == [None]


class TestTaskGroups:
    def test_groups_rows_by_equal_parameters(self):
        weights = torch.rand(3, 2, 2)
        tasks = torch.tensor([0, 0, 1, 1, 0, 2, 2, 1])
        groups = task_groups([weights[tasks]], max_groups=8)
        expected = [[0, 1, 4], [2, 3, 7], [5, 6]]
        assert sorted(g.tolist() for g in groups) == expected

    def test_every_parameter_counts(self):
        tasks = torch.tensor([0, 1, 0, 1])
        a = torch.rand(2, 3)[torch.zeros(4, dtype=torch.long)]  # the same on every row
        b = torch.rand(2, 3)[tasks]
        groups = task_groups([a, b], max_groups=4)
        assert sorted(g.tolist() for g in groups) == [[0, 2], [1, 3]]

    def test_too_many_groups(self):
        assert task_groups([torch.rand(6, 2)], max_groups=5) is None
