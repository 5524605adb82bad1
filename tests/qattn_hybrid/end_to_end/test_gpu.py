"""Devices other than the CPU: results and gradients stay on the input's device.

- ``TestFollowsInputDevice`` runs everywhere: the fast exact path on ``meta`` tensors. Torch
  refuses to mix a meta tensor with a CPU one, so any tensor the simulation creates on a fixed
  device (a hard-coded ``cpu`` or ``cuda:0``) fails these tests, GPU or not.
- The ``gpu`` classes need a CUDA device and skip cleanly when none can be *created* (a tensor
  on ``cuda``; a ``lightning.gpu`` device), not merely when a package imports. They check the
  CUDA results against the CPU ones (float64, 1e-10) on the last visible GPU, so a machine with
  several GPUs also covers a non-zero device index.
"""

import copy

import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select
from qattn_hybrid import QuantumAttention

DT = torch.float64
TOL = 1e-10


def spec_of(**kwargs) -> CircuitSpec:
    options = dict(n_qubits=3, n_layers=2, n_tasks=2)
    options.update(kwargs)
    return CircuitSpec(**options)


def circuit_inputs(spec: CircuitSpec, n_rows: int, device, per_row_tasks: bool):
    """Angles (N, Q) and circuit arguments on ``device``, leaves requiring grad."""
    g = torch.Generator().manual_seed(3)
    params = {k: v.to(device=device, dtype=DT).requires_grad_()
              for k, v in init_parameters(spec, generator=g).items()}
    angles = (torch.rand(n_rows, spec.n_qubits, generator=g, dtype=DT) * 3).to(device)
    angles.requires_grad_()
    if per_row_tasks:  # one row of parameters per token (no fusion), without data-dependent code
        tasks = (torch.arange(n_rows) % spec.n_tasks).to(device)
        args = {k: v[tasks] if k == "task_angles" or spec.conditioning.value == "per_task_weights"
                else v for k, v in params.items()}
    else:
        args = select(spec, params, 1)
    return angles, params, args


class TestFollowsInputDevice:
    @pytest.mark.parametrize("n_rows", [3, 16])  # below / above 2**Q: gate by gate / fused
    @pytest.mark.parametrize("per_row_tasks", [False, True])
    @pytest.mark.parametrize("spec", [
        spec_of(),
        spec_of(conditioning="task_rotations", readout="z_zz", reupload=True),
        spec_of(ansatz="strongly_entangling", rotation="X"),
    ], ids=["hea", "rotations-zz-reupload", "strongly-entangling"])
    def test_fast_path_on_meta_tensors(self, spec, per_row_tasks, n_rows):
        meta = torch.device("meta")
        qnode = build_qnode(spec, device="qattn.torch", diff_method="backprop")
        angles, params, args = circuit_inputs(spec, n_rows, meta, per_row_tasks)
        z = expectations(qnode, angles, args)
        assert z.device == meta and z.shape == (n_rows, spec.n_outputs) and z.dtype == DT
        z.sum().backward()
        assert angles.grad.device == meta
        assert all(p.grad.device == meta for p in params.values())


# ----------------------------------------------------------------------------- CUDA
def cuda_device() -> torch.device:
    """The last visible CUDA device (index > 0 when there are several); skip if none works."""
    try:
        index = torch.cuda.device_count() - 1
        device = torch.device("cuda", max(index, 0))
        torch.zeros(1, device=device)  # creating a tensor is the test, not importing
    except Exception as err:  # no driver, no device, CPU-only build, ...
        pytest.skip(f"no CUDA device can be created: {type(err).__name__}: {err}")
    return device


@pytest.fixture(scope="module")
def cuda():
    return cuda_device()


def make_layer(device_name: str, **kwargs) -> QuantumAttention:
    torch.manual_seed(0)
    options = dict(d_model=6, n_tasks=3, n_qubits=3, n_layers=2, n_heads=2,
                   qml_device=device_name)
    options.update(kwargs)
    return QuantumAttention(**options).to(DT)


def layer_batch(device):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 5, 6, dtype=DT, generator=g)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 0, 0, 0, 0]], dtype=torch.bool)
    return x.to(device).requires_grad_(), mask.to(device)


def run_layer(layer, x, mask, tasks):
    out = layer(x, tasks, mask)
    (out.pooled.square().sum() + out.weights[..., 0].sum()).backward()
    grads = {n: p.grad for n, p in layer.named_parameters()}
    return out, x.grad, grads


def assert_same_on(device, cpu_tensor, other):
    assert other.device == device, f"expected {device}; got {other.device}"
    assert torch.allclose(other.cpu(), cpu_tensor, atol=TOL, rtol=0)


@pytest.mark.gpu
class TestCUDA:
    @pytest.mark.parametrize("per_row_tasks", [False, True])
    @pytest.mark.parametrize("n_rows", [5, 4096])
    def test_fast_path_matches_cpu(self, cuda, per_row_tasks, n_rows):
        spec = spec_of(n_qubits=4, readout="z_zz")
        qnode = build_qnode(spec, device="qattn.torch", diff_method="backprop")
        results = {}
        for device in ("cpu", cuda):
            angles, params, args = circuit_inputs(spec, n_rows, device, per_row_tasks)
            z = expectations(qnode, angles, args)
            (z * torch.linspace(-1, 1, z.shape[1], dtype=DT, device=z.device)).sum().backward()
            results[str(device)] = (z, angles.grad, params["weights"].grad)
        for cpu_t, gpu_t in zip(results["cpu"], results[str(cuda)]):
            assert_same_on(cuda, cpu_t, gpu_t)

    @pytest.mark.parametrize("device_name", ["qattn.torch", "default.qubit"])
    def test_layer_matches_cpu(self, cuda, device_name):
        cpu_layer = make_layer(device_name)
        gpu_layer = copy.deepcopy(cpu_layer).to(cuda)
        tasks = torch.tensor([2, 0, 1])  # a CPU task tensor is accepted with CUDA inputs
        cpu_out, cpu_dx, cpu_grads = run_layer(cpu_layer, *layer_batch("cpu"), tasks)
        gpu_out, gpu_dx, gpu_grads = run_layer(gpu_layer, *layer_batch(cuda), tasks)
        assert_same_on(cuda, cpu_out.pooled, gpu_out.pooled)
        assert_same_on(cuda, cpu_out.weights, gpu_out.weights)
        assert_same_on(cuda, cpu_dx, gpu_dx)
        for name, grad in cpu_grads.items():
            assert_same_on(cuda, grad, gpu_grads[name])

    def test_current_device_is_not_assumed(self, cuda):
        """Inputs on the last GPU while another is current: nothing moves to the current one."""
        layer = make_layer("qattn.torch").to(cuda)
        with torch.cuda.device(0):
            out, dx, grads = run_layer(layer, *layer_batch(cuda), 1)
        assert out.pooled.device == cuda and dx.device == cuda
        assert all(g.device == cuda for g in grads.values())


def lightning_gpu():
    """Skip unless a lightning.gpu device can be created (package installed *and* a GPU)."""
    try:
        import pennylane as qml

        qml.device("lightning.gpu", wires=2)
    except Exception as err:
        pytest.skip(f"lightning.gpu cannot be created: {type(err).__name__}: {err}")


@pytest.mark.gpu
class TestLightningGPU:
    def test_layer_matches_default_qubit(self):
        lightning_gpu()
        previous = torch.get_default_dtype()
        torch.set_default_dtype(DT)  # lightning returns the default dtype through torch
        try:
            reference = make_layer("default.qubit")
            layer = make_layer("lightning.gpu", diff_method="adjoint")
            layer.load_state_dict(reference.state_dict())
            ref_out, ref_dx, ref_grads = run_layer(reference, *layer_batch("cpu"), 2)
            out, dx, grads = run_layer(layer, *layer_batch("cpu"), 2)
        finally:
            torch.set_default_dtype(previous)
        assert torch.allclose(out.pooled, ref_out.pooled, atol=TOL, rtol=0)
        assert torch.allclose(dx, ref_dx, atol=TOL, rtol=0)
        for name, grad in ref_grads.items():
            assert torch.allclose(grads[name], grad, atol=TOL, rtol=0), name
