"""Device names, plugins to install, and one circuit on two simulators."""

import pytest
import torch

from circuits import CircuitSpec, build_qnode, expectations, init_parameters, select

DT = torch.float64


class TestDevices:
    def test_unknown_device_lists_available(self):
        with pytest.raises(ValueError, match=r"Unknown device 'lightning.gpx'. "
                                             r"Available: .*default\.qubit"):
            build_qnode(CircuitSpec(), device="lightning.gpx")

    def test_uninstalled_plugin_names_package(self, monkeypatch):
        import circuits.devices as devices
        monkeypatch.setattr(devices, "available_devices", lambda: ["default.qubit"])
        with pytest.raises(ValueError, match=r"pip install amazon-braket-pennylane-plugin"):
            build_qnode(CircuitSpec(), device="braket.local.qubit")

    def test_lightning_matches_default_qubit(self):
        pytest.importorskip("pennylane_lightning")
        spec = CircuitSpec(n_qubits=3, n_layers=2, n_tasks=2, readout="z_zz")
        params = init_parameters(spec, dtype=DT)
        angles = torch.rand(5, 3, dtype=DT)
        args = select(spec, params, torch.tensor([0, 1, 1, 0, 1]))
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)  # lightning returns torch's default dtype
        try:
            lightning = expectations(build_qnode(spec, device="lightning.qubit"), angles, args)
        finally:
            torch.set_default_dtype(previous)
        reference = expectations(build_qnode(spec), angles, args)
        assert torch.allclose(lightning, reference, atol=1e-8, rtol=0)
