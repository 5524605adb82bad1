"""qattn_hybrid's quantum side: circuit specification, templates, devices and QNodes.

PennyLane only; torch is used as an array library. Never imports `qattn_hybrid`.
Layers: the core (spec, embeddings, ansatze, conditioning, readout, templates, credentials,
plugins, devices, build, resources) imports nothing from `circuits.hardware` (QPU budget,
cost, deduplication), which builds on it; see tests/test_layering.py.
"""

from circuits.ansatze import ansatz_shape
from circuits.build import build_qnode, expectations, resolved_diff_method
from circuits.conditioning import init_parameters, n_parameters, parameter_shapes, select
from circuits.devices import available_devices, default_device, make_device
from circuits.plugins import check_device_options
from circuits.resources import draw, resources
from circuits.spec import Ansatz, CircuitSpec, Conditioning, ExecutionSpec, Readout, Rotation
from circuits.templates import make_circuit

__all__ = [
    "Ansatz",
    "CircuitSpec",
    "Conditioning",
    "ExecutionSpec",
    "Readout",
    "Rotation",
    "ansatz_shape",
    "available_devices",
    "default_device",
    "build_qnode",
    "check_device_options",
    "draw",
    "expectations",
    "init_parameters",
    "make_circuit",
    "make_device",
    "n_parameters",
    "parameter_shapes",
    "resolved_diff_method",
    "resources",
    "select",
]
